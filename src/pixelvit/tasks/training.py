"""Training and evaluating from a config, as functions: what ``pixelvit train`` and ``pixelvit eval`` run."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import yaml

from ..config import Config, ConfigError, load_config
from ..engine.loading import config_for_model, load_model_and_config
from ..engine.run_dir import RunDirLock, config_changes, refuse_changes
from ..errors import first_line
from ..io import write_text_atomic


def write_run_config(cfg: Config, run_dir: Path) -> None:
    """Save the resolved config as ``RUN_DIR/config.yaml``; refuse a run dir started with another config."""
    check_run_config(cfg, run_dir)
    write_text_atomic(run_dir / "config.yaml", yaml.safe_dump(cfg.to_dict(), sort_keys=False))


def check_run_config(cfg: Config, run_dir: Path) -> None:
    """Refuse (ConfigError naming the keys) a run dir whose ``config.yaml`` records another config."""
    path = run_dir / "config.yaml"
    if path.is_file():
        try:
            recorded = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as e:
            raise ConfigError(f"{path} is not valid YAML ({first_line(e)}); delete it to start this run afresh") from None
        refuse_changes(config_changes(recorded, cfg.to_dict()), run_dir, "config")


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global generators (all devices)."""
    import random

    import numpy as np

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def train_from_config(path: str | os.PathLike | None, overrides: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
    """Load, validate, build the task and train; returns the run summary (also in ``summary.json``).

    A config with ``train.stages`` trains its stages one after the other (:mod:`pixelvit.tasks.stages`).
    """
    cfg = load_config(path, overrides)
    if cfg.train.stages:
        from .stages import train_stages

        return train_stages(cfg)
    return train_config(cfg)


def train_config(cfg: Config, prepare: Callable[[Any], None] | None = None) -> dict[str, Any]:
    """Build the task of a loaded, validated config and train it in ``cfg.run_dir`` (resuming what is there).

    ``prepare(task)``, when given, runs on the built task before the trainer (and before a resume loads its
    checkpoint over the weights), e.g. to start more of the model from elsewhere.
    """
    from ..engine.trainer import Trainer
    from .evaluators import build_evaluators
    from .preflight import warn_before_training
    from .registry import build_task

    run_dir = Path(cfg.run_dir or "runs/default")
    with RunDirLock(run_dir, enabled=int(os.environ.get("RANK", "0")) == 0):
        seed_everything(cfg.train.seed)  # model init and everything after it depend on the seed only
        task = build_task(cfg)  # loads the data: fails early on a missing dataset
        if prepare is not None:
            prepare(task)
        warn_before_training(cfg, len(task.train_set))  # warm-up longer than the run, more threads than free cores
        evaluators = build_evaluators(cfg)
        trainer = Trainer(cfg, task, run_dir, evaluators)  # the trainer's own checks
        resumed = trainer.resume_state()  # refuses a checkpoint of another config or model
        write_run_config(cfg, run_dir)  # only once every check has passed
        summary = trainer.fit(resumed)
    if int(os.environ.get("RANK", "0")) == 0:
        print(format_summary(cfg, summary))
    return summary


def format_summary(cfg: Config, summary: dict[str, Any]) -> str:
    lines = [f"run: {cfg.run_dir}  status: {summary['status']}  steps: {summary['step']}  wall: {summary['wall_time_s']:.1f}s"]
    if summary.get("train_images_per_s"):
        lines.append(f"train throughput: {summary['train_images_per_s']:.1f} img/s")
    final, paper = summary.get("final") or {}, summary.get("paper") or {}
    if final:
        lines.append("final: " + ", ".join(f"{k} {v:.2f}" for k, v in final.items()))
    if paper:
        values = ", ".join(f"{k} {v:.2f}" for k, v in paper.items())
        ours = set(final) | set(summary.get("best") or {})
        if not ours or set(paper) & ours:
            lines.append(f"paper: {values}")
        else:  # e.g. an MAE pre-training config carries the accuracy of the fine-tuning it leads to
            row = cfg.paper.table or "another row of the paper"
            lines.append(f"paper values belong to another row ({row}): {values}; this run reports {', '.join(sorted(ours))}")
    return "\n".join(lines)


def evaluate_checkpoint(
    checkpoint: str | os.PathLike,
    data: str | None = None,
    root: str | None = None,
    split: str | None = None,
    batch_size: int = 256,
    device: str = "auto",
    about: dict[str, Any] | None = None,
) -> dict[str, float]:
    """The task's metrics (classification: Acc@1 / Acc@5 / loss) of a trained model on a dataset split.

    ``about``, when given, is filled with what was evaluated: model (family and preset), img_size, patch_size,
    tokens, data, split and num_images.
    """
    from ..data import get_dataset_spec
    from ..engine.device import resolve_device
    from ..engine.evaluation import evaluate
    from ..models.hub import describe
    from .registry import get_task, task_of_architecture

    if root is not None and not Path(root).exists():
        raise FileNotFoundError(f"--root {root} does not exist")
    model, cfg = load_model_and_config(checkpoint)
    task = cfg.task if cfg is not None else task_of_architecture(describe(model)["architecture"])
    cfg = config_for_model(model, cfg, checkpoint, data, root, task=task)
    native = get_dataset_spec(cfg.data.name).native_size
    if data is not None and native is not None and tuple(native) != tuple(model.img_size):
        raise ConfigError(
            f"the model takes {model.img_size[0]}x{model.img_size[1]} images but {cfg.data.name}'s are "
            f"{native[0]}x{native[1]}; evaluate it on a dataset of its input size"
        )
    dev = resolve_device(device)
    split = split or cfg.data.eval_split
    evaluation = get_task(cfg.task).evaluation(cfg, model, split)
    if about is not None:
        arch, mc = describe(model)["architecture"], model.config
        grid = getattr(model, "grid_size", None)
        shape = ", ".join(f"{k} {mc[k]}" for k in ("embed_dim", "depth", "num_heads") if k in mc)
        about.update(model=f"{arch}/{mc.get('patch_size', '?')} ({shape})", img_size=list(model.img_size),
                     patch_size=mc.get("patch_size"), tokens=grid[0] * grid[1] if grid else None, data=cfg.data.name,
                     split=split, num_images=len(evaluation.dataset))  # fmt: skip
    return evaluate(evaluation, model.to(dev), batch_size, dev)
