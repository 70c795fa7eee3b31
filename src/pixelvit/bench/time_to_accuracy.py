"""Time to accuracy from a run's ``metrics.jsonl``: the training seconds at each evaluation, and when a run first
reached a target (``scripts/time_to_accuracy.py``, the GPU check's time-to-accuracy row)."""

from __future__ import annotations

from pathlib import Path

from ..engine.logging import read_metrics


def training_curve(run_dir: str | Path, batch_size: int) -> list[tuple[float, float]]:
    """(training seconds, Acc@1) at each evaluation of a run. Training seconds are the sum of the log intervals
    before it (steps × ``batch_size`` / logged img/s): evaluation, model building and data loading before the first
    step are not counted."""
    seconds, last_step, points = 0.0, 0, []
    for record in read_metrics(run_dir):
        if record.get("tag") == "train" and record.get("images_per_s"):
            seconds += (record["step"] - last_step) * batch_size / record["images_per_s"]
            last_step = record["step"]
        elif record.get("tag") == "eval" and "acc1" in record:
            points.append((seconds, record["acc1"]))
    return points


def batch_size_of(overrides: list[str]) -> int:
    """The training batch size a list of overrides sets (the last ``train.batch_size=``; 64, the default, where
    none does)."""
    sizes = [int(o.split("=", 1)[1]) for o in overrides if o.startswith("train.batch_size=")]
    return sizes[-1] if sizes else 64


def time_to(points: list[tuple[float, float]], target: float) -> float | None:
    """Training seconds at the first evaluation at or above ``target`` (None: never)."""
    return next((s for s, acc in points if acc >= target), None)


def accuracy_within(points: list[tuple[float, float]], seconds: float) -> float | None:
    """Acc@1 of the last evaluation within ``seconds`` of training (2 % slack for the log intervals' rounding;
    None: none that early)."""
    inside = [acc for s, acc in points if s <= seconds * 1.02]
    return inside[-1] if inside else None
