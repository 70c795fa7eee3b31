"""Training and evaluating from a config, as functions: what ``pixelvit train`` and ``pixelvit eval`` run."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
import yaml

from ..config import Config, ConfigError, load_config, parse_config
from ..engine.loading import config_for_model, load_model_and_config
from ..io import write_text_atomic

# Keys that may differ between the first start of a run and a resume of it.
RESUMABLE_CHANGES = (
    "train.max_steps", "train.progress", "train.log_every_steps", "train.keep_checkpoints",
    "train.checkpoint_every_steps", "data.num_workers",
)  # fmt: skip


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict) and k != "metrics":
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def write_run_config(cfg: Config, run_dir: Path) -> None:
    """Save the resolved config as ``RUN_DIR/config.yaml``; refuse a run dir started with another config."""
    path = run_dir / "config.yaml"
    if path.is_file():
        # Parsed leniently, so a run directory written by an earlier version (every task's section) compares too.
        old = _flatten(parse_config(yaml.safe_load(path.read_text()) or {}, strict=False).to_dict())
        new = _flatten(cfg.to_dict())
        changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k) and k not in RESUMABLE_CHANGES)
        if changed:
            shown = ", ".join(f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in changed[:5])
            raise ConfigError(
                f"{run_dir} holds a run started with a different config ({shown}); resume with the same config, "
                "or pass run_dir=<new folder> to start a new run"
            )
    write_text_atomic(path, yaml.safe_dump(cfg.to_dict(), sort_keys=False))


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global generators (all devices)."""
    import random

    import numpy as np

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def train_from_config(path: str | os.PathLike | None, overrides: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
    """Load, validate, build the task and train; returns the run summary (also in ``summary.json``)."""
    from ..engine.trainer import Trainer
    from .evaluators import build_evaluators
    from .registry import build_task

    cfg = load_config(path, overrides)
    run_dir = Path(cfg.run_dir or "runs/default")
    seed_everything(cfg.train.seed)  # model init and everything after it depend on the seed only
    task = build_task(cfg)  # loads the data: fails early on a missing dataset
    evaluators = build_evaluators(cfg)
    write_run_config(cfg, run_dir)
    summary = Trainer(cfg, task, run_dir, evaluators).fit()
    print(format_summary(cfg, summary))
    return summary


def format_summary(cfg: Config, summary: dict[str, Any]) -> str:
    lines = [f"run: {cfg.run_dir}  status: {summary['status']}  steps: {summary['step']}  wall: {summary['wall_time_s']:.1f}s"]
    if summary.get("train_images_per_s"):
        lines.append(f"train throughput: {summary['train_images_per_s']:.1f} img/s")
    for name, metrics in (("final", summary.get("final") or {}), ("paper", summary.get("paper") or {})):
        if metrics:
            lines.append(f"{name}: " + ", ".join(f"{k} {v:.2f}" for k, v in metrics.items()))
    return "\n".join(lines)


def evaluate_checkpoint(
    checkpoint: str | os.PathLike,
    data: str | None = None,
    root: str | None = None,
    split: str | None = None,
    batch_size: int = 256,
    device: str = "auto",
) -> dict[str, float]:
    """The task's metrics (classification: Acc@1 / Acc@5 / loss) of a trained model on a dataset split."""
    from ..engine.device import resolve_device
    from ..engine.evaluation import evaluate
    from ..models.hub import describe
    from .registry import get_task, task_of_architecture

    model, cfg = load_model_and_config(checkpoint)
    task = cfg.task if cfg is not None else task_of_architecture(describe(model)["architecture"])
    cfg = config_for_model(model, cfg, checkpoint, data, root, task=task)
    dev = resolve_device(device)
    evaluation = get_task(cfg.task).evaluation(cfg, model, split or cfg.data.eval_split)
    return evaluate(evaluation, model.to(dev), batch_size, dev)
