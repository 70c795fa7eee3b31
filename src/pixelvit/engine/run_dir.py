"""One run, one directory, one writer: the run directory's lock, and what may change on a resume.

:class:`RunDirLock` holds an exclusive OS lock (``fcntl.flock``) on ``RUN_DIR/.lock`` for the whole
run; the kernel releases it on any exit, SIGKILL included, so a lock is never left stale. A second
process on the same directory stops at once with the holder's PID. (``flock`` is advisory and
local: on network filesystems that do not support it the lock may not hold across machines.) The lock
file is opened with ``O_NOFOLLOW``: a ``.lock`` that is a symbolic link is refused by name, never
followed (a link would otherwise let the lock truncate the file it points to).

:func:`config_changes` and :func:`model_changes` compare a run's config and model description with
those a checkpoint or ``config.yaml`` recorded, so a resume with another recipe or another
architecture is refused by name rather than silently continued.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
from pathlib import Path
from typing import Any

from ..config import ConfigError, parse_config
from ..io import open_no_follow

LOCK_NAME = ".lock"

# Keys that may differ between the first start of a run and a resume of it (run_dir: a moved or
# differently spelled directory resumes).
RESUMABLE_CHANGES = (
    "run_dir", "train.max_steps", "train.progress", "train.log_every_steps", "train.keep_checkpoints",
    "train.checkpoint_every_steps", "data.num_workers", "train.dist_timeout_s",
    "train.sdpa_backend", "train.context_parallel", "train.threads",  # how the step runs, not what it computes
    "paper.mismatch",  # what the overrides of this session change of the row's recipe (train.max_steps, say)
    # the paper row a config cites describes the run, it changes nothing the run computes
    "paper.table", "paper.metrics", "paper.recipe_source", "paper.source", "paper.deviations",
)  # fmt: skip


class RunDirBusyError(ConfigError):
    """Another process holds the run directory."""


class RunDirLock:
    """Context manager: an exclusive lock on ``run_dir`` for as long as it is held (``enabled=False``:
    a no-op, for the ranks > 0 of a torchrun job, which share rank 0's directory)."""

    def __init__(self, run_dir: str | os.PathLike, enabled: bool = True):
        self.path = Path(run_dir) / LOCK_NAME
        self.enabled = enabled
        self._file = None
        self._created = False

    def __enter__(self) -> RunDirLock:
        if not self.enabled:
            return self
        self._created = not self.path.parent.exists()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = os.fdopen(open_no_follow(self.path, os.O_RDWR | os.O_CREAT), "r+")  # never a link's target
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise RunDirBusyError(
                f"{self.path.parent} is in use by {holder}: wait for that run to end (or stop it), or pass "
                "run_dir=<another folder>"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"process {os.getpid()} on {socket.gethostname()}\n")
        handle.flush()
        self._file = handle
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.seek(0)
                self._file.truncate()
            self._file.close()  # releases the lock
            self._file = None
            if self._created:  # a start that failed before writing anything leaves no folder holding only .lock
                with contextlib.suppress(OSError):
                    if [p.name for p in self.path.parent.iterdir()] == [LOCK_NAME]:
                        self.path.unlink()
                        self.path.parent.rmdir()


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}} -> {"a.b": 1} (``paper.metrics`` stays one value)."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict) and k != "metrics":
            out.update(flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def config_changes(recorded: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """``key: old -> new`` for every key that differs between a recorded config (a checkpoint's or
    ``config.yaml``'s, of any pixelvit version) and the current one, resumable keys aside."""
    old = flatten(parse_config(recorded, strict=False).to_dict())
    new = flatten(current)
    keys = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k) and k not in RESUMABLE_CHANGES)
    return [f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in keys]


def model_changes(recorded: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """``model key: old -> new`` between a checkpoint's model description and the current model's
    (architecture, and every constructor argument both record)."""
    from ..models.hub import upgrade_config

    if recorded.get("architecture") != current.get("architecture"):
        return [f"architecture: {recorded.get('architecture')!r} -> {current.get('architecture')!r}"]
    config = recorded.get("config")
    if not isinstance(config, dict):
        return [f"model config: {config!r:.60} -> {current.get('config')!r:.60}"]
    old = upgrade_config(recorded["architecture"], dict(config))
    new = current.get("config", {})
    return [f"model {k}: {old[k]!r} -> {new[k]!r}" for k in sorted(set(old) & set(new)) if old[k] != new[k]]


def refuse_changes(changes: list[str], run_dir: str | os.PathLike, what: str) -> None:
    """A ConfigError naming the first changes, or nothing when there are none."""
    if changes:
        shown = ", ".join(changes[:5]) + (f" (and {len(changes) - 5} more)" if len(changes) > 5 else "")
        raise ConfigError(
            f"{run_dir} holds a run started with a different {what} ({shown}); resume with the same config, "
            "or pass run_dir=<new folder> to start a new run"
        )
