"""Stopping cleanly: SIGINT (Ctrl-C) and SIGTERM (preemption) ask the loop to checkpoint and return."""

from __future__ import annotations

import contextlib
import signal
from typing import Any


class StopSignal:
    """Context manager: SIGINT/SIGTERM set ``requested`` (the signal's name) instead of killing the
    process; the loop saves a checkpoint at the next step and returns. A second SIGINT interrupts
    at once. Previous handlers are restored on exit."""

    def __init__(self) -> None:
        self.requested: str | None = None
        self._old: dict[int, Any] = {}

    def __enter__(self) -> StopSignal:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(ValueError):  # not the main thread: no handlers, no graceful stop
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = signal.Signals(signum).name

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self._old.items():
            signal.signal(sig, handler)
