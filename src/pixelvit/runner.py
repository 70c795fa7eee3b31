"""What the CLI's ``train`` and ``eval`` do, as functions (usable from Python and tests)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
import yaml

from .config import Config, ConfigError, from_dict, load_config
from .io import write_text_atomic

# Keys that may differ between the first start of a run and a resume of it.
RESUMABLE_CHANGES = (
    "train.max_steps", "train.progress", "train.log_every_steps", "train.keep_checkpoints",
    "train.checkpoint_every_steps", "data.num_workers",
)  # fmt: skip


TASK_OF_ARCHITECTURE = {"vit": "classify", "dense_vit": "depth", "mae": "mae", "dit": "diffusion"}


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
        old = _flatten(yaml.safe_load(path.read_text()) or {})
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
    from .engine.trainer import Trainer
    from .tasks import build_task

    cfg = load_config(path, overrides)
    run_dir = Path(cfg.run_dir or "runs/default")
    seed_everything(cfg.train.seed)  # model init and everything after it depend on the seed only
    task = build_task(cfg)  # loads the data: fails early on a missing dataset
    write_run_config(cfg, run_dir)
    summary = Trainer(cfg, task, run_dir).fit()
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


def load_model_and_config(path: str | os.PathLike) -> tuple[torch.nn.Module, Config | None]:
    """A model directory, a run directory (final/ or best/, else newest checkpoint) or a ``step_*.pt`` file
    -> (model, the run's config or None when a bare model directory carries none)."""
    from .engine.checkpoint import latest_valid_checkpoint, load_checkpoint
    from .models.hub import from_pretrained

    path = Path(path)
    if path.is_file():
        state = load_checkpoint(path)
        return _model_from_state(state), from_dict(Config, state["config"])
    if (path / "config.json").is_file():
        run_cfg = path.parent / "config.yaml"
        cfg = from_dict(Config, yaml.safe_load(run_cfg.read_text())) if run_cfg.is_file() else None
        return from_pretrained(path), cfg
    if (path / "config.yaml").is_file():
        for sub in ("final", "best"):
            if (path / sub / "config.json").is_file():
                return load_model_and_config(path / sub)
        state = latest_valid_checkpoint(path)
        if state is not None:
            return _model_from_state(state), from_dict(Config, state["config"])
    raise FileNotFoundError(
        f"{path} is neither a model directory (config.json + model.safetensors), a run directory, nor a checkpoint"
    )


def _model_from_state(state: dict[str, Any]) -> torch.nn.Module:
    from .models.hub import build_from_description

    model = build_from_description(state["model_description"], "checkpoint")
    model.load_state_dict(state["model"])
    return model


def evaluate_checkpoint(
    checkpoint: str | os.PathLike,
    data: str | None = None,
    root: str | None = None,
    split: str | None = None,
    batch_size: int = 256,
    device: str = "auto",
) -> dict[str, float]:
    """The task's metrics (classification: Acc@1 / Acc@5 / loss) of a trained model on a dataset split."""
    from .engine.precision import resolve_device
    from .tasks import task_module

    model, cfg = load_model_and_config(checkpoint)
    if cfg is None and data is None:
        raise ConfigError(f"{checkpoint} carries no training config: pass --data NAME (and --root) to say what to evaluate on")
    if cfg is None:  # a bare model directory: its architecture says which task evaluates it
        from .models.hub import describe

        cfg = Config(task=TASK_OF_ARCHITECTURE.get(describe(model)["architecture"], "classify"))
    if data is not None:
        cfg.data.name, cfg.data.root = data, root
    elif root is not None:
        cfg.data.root = root
    cfg.data.img_size = list(model.img_size)
    return task_module(cfg.task).evaluate_model(cfg, model, split or cfg.data.eval_split, batch_size, resolve_device(device))
