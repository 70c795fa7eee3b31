"""Run logs: metrics as JSON lines and TensorBoard scalars, plus a console progress bar."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm


class MetricWriter:
    """Appends ``{"step": s, "tag": ..., **metrics}`` lines to ``metrics.jsonl`` and mirrors scalars to
    TensorBoard (``RUN_DIR/tb``). Lines are flushed at once so a killed run keeps its history."""

    def __init__(self, run_dir: str | os.PathLike, tensorboard: bool = True):
        self.path = Path(run_dir) / "metrics.jsonl"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "a", buffering=1)  # noqa: SIM115 (closed in close())
        self._tb = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(str(Path(run_dir) / "tb"))

    def log(self, step: int, tag: str, metrics: dict[str, Any]) -> None:
        record = {"step": step, "tag": tag, **metrics}
        self._file.write(json.dumps(record) + "\n")
        if self._tb is not None:
            for k, v in metrics.items():
                if isinstance(v, int | float) and math.isfinite(v):
                    self._tb.add_scalar(f"{tag}/{k}", v, step)

    def close(self) -> None:
        self._file.close()
        if self._tb is not None:
            self._tb.close()


def read_metrics(run_dir: str | os.PathLike, tag: str | None = None) -> list[dict[str, Any]]:
    """All records of a run's ``metrics.jsonl`` (optionally one tag), skipping a torn last line."""
    path = Path(run_dir) / "metrics.jsonl"
    if not path.is_file():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if tag is None or record.get("tag") == tag:
            records.append(record)
    return records


def progress_bar(total: int, initial: int, enabled: bool) -> tqdm:
    return tqdm(total=total, initial=initial, disable=not enabled, unit="step", dynamic_ncols=True, leave=True)
