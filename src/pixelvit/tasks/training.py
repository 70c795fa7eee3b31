"""Training and evaluating from a config, as functions: what ``pixelvit train`` and ``pixelvit eval`` run.

Imports go one way: ``training`` -> ``stages`` -> ``run`` (and ``training`` -> ``run``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..config import ConfigError, load_config
from ..engine.loading import config_for_model, load_model_and_config
from .run import train_config
from .stages import train_stages


def train_from_config(path: str | os.PathLike | None, overrides: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
    """Load, validate, build the task and train; returns the run summary (also in ``summary.json``).

    The one place that chooses how a config trains: a config with ``train.stages`` trains its stages one after
    the other (:func:`.stages.train_stages`), any other is one run (:func:`.run.train_config`).
    """
    cfg = load_config(path, overrides)
    return train_stages(cfg) if cfg.train.stages else train_config(cfg)


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
