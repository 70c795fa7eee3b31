"""Training and evaluating from a config, as functions: what ``pixelvit train`` and ``pixelvit eval`` run.

Imports go one way: ``training`` -> ``stages`` -> ``run`` (and ``training`` -> ``run``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..config import Config, ConfigError, load_config
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


def _run_dir_of(weights_path: Path) -> Path:
    """The run directory holding a model folder (``RUN/final``) or a checkpoint (``RUN/checkpoints/step_*.pt``)."""
    return weights_path.parent.parent if weights_path.parent.name == "checkpoints" else weights_path.parent


def evaluate_checkpoint(
    checkpoint: str | os.PathLike,
    data: str | None = None,
    root: str | None = None,
    split: str | None = None,
    batch_size: int = 256,
    device: str = "auto",
    about: dict[str, Any] | None = None,
    precision: str | None = None,
    limit: int | None = None,
) -> dict[str, float]:
    """The task's metrics (classification: Acc@1 / Acc@5 / loss) of a trained model on a dataset split.

    By default with the run's own evaluation settings, so that ``eval RUN_DIR`` reproduces the run's number:
    its precision (``precision``: "fp32" / "bf16" to choose) and, on its own dataset, its ``data.limit_eval``
    (``limit``: N images, 0 for all). ``about``, when given, is filled with what was evaluated: model (family
    and preset), img_size, patch_size, tokens, data, split, num_images, limit, precision, the weights (path,
    kind raw/EMA, step, epoch) and ``run_number`` / ``differs`` (the run's own reported metrics, and why this
    evaluation's settings differ from the run's, when they do).
    """
    from ..data import get_dataset_spec
    from ..engine.device import resolve_device
    from ..engine.evaluation import evaluate
    from ..engine.precision import resolve_precision
    from ..models.hub import describe
    from .registry import get_task, task_of_architecture

    if root is not None and not Path(root).exists():
        raise FileNotFoundError(f"--root {root} does not exist")
    if limit is not None and limit < 0:
        raise ConfigError(f"--limit {limit} must be >= 0 (0: every image of the split)")
    source: dict[str, Any] = {}
    model, run_cfg = load_model_and_config(checkpoint, source)
    task = run_cfg.task if run_cfg is not None else task_of_architecture(describe(model)["architecture"])
    cfg = config_for_model(model, run_cfg, checkpoint, data, root, task=task)
    native = get_dataset_spec(cfg.data.name).native_size
    if data is not None and native is not None and tuple(native) != tuple(model.img_size):
        raise ConfigError(
            f"the model takes {model.img_size[0]}x{model.img_size[1]} images but {cfg.data.name}'s are "
            f"{native[0]}x{native[1]}; evaluate it on a dataset of its input size"
        )
    dev = resolve_device(device)
    split = split or cfg.data.eval_split
    run_summary = _read_summary(_run_dir_of(Path(source.get("path", checkpoint)))) if run_cfg is not None else {}
    run_precision = run_summary.get("precision") or (resolve_precision(run_cfg.train.precision, dev) if run_cfg else "fp32")
    precision = precision or run_precision
    if limit is not None:
        cfg.data.limit_eval = limit or None
    elif data is not None or split != cfg.data.eval_split:
        cfg.data.limit_eval = None  # the run's limit is of its own evaluation split
    evaluation = get_task(cfg.task).evaluation(cfg, model, split)
    if about is not None:
        arch, mc = describe(model)["architecture"], model.config
        grid = getattr(model, "grid_size", None)
        shape = ", ".join(f"{k} {mc[k]}" for k in ("embed_dim", "depth", "num_heads") if k in mc)
        about.update(model=f"{arch}/{mc.get('patch_size', '?')} ({shape})", img_size=list(model.img_size),
                     patch_size=mc.get("patch_size"), tokens=grid[0] * grid[1] if grid else None, data=cfg.data.name,
                     split=split, num_images=len(evaluation.dataset), limit=cfg.data.limit_eval, precision=precision,
                     weights=source)  # fmt: skip
        if run_cfg is not None:
            about["run_number"], about["differs"] = _compare_with_run(run_cfg, run_summary, source, cfg, split, precision)
    return evaluate(evaluation, model.to(dev), batch_size, dev, precision=precision)


def _read_summary(run_dir: Path) -> dict[str, Any]:
    import json

    try:
        return json.loads((run_dir / "summary.json").read_text())
    except (OSError, ValueError):
        return {}


def _compare_with_run(
    run_cfg: Config, summary: dict[str, Any], source: dict[str, Any], cfg: Config, split: str, precision: str
) -> tuple[dict[str, float], list[str]]:
    """(the run's own reported metrics, the reasons this evaluation may not reproduce them: none when it should)."""
    reported = summary.get("reported") or {}
    if not reported or summary.get("status") != "finished":
        return {}, []  # the run has not reported a number (yet): nothing to compare with
    differs = []
    if Path(source.get("path", "")).name != "final":
        differs.append(f"these are not the final/ weights ({source.get('path')})")
    if cfg.data.name != run_cfg.data.name or split != run_cfg.data.eval_split:
        differs.append(f"data {cfg.data.name}/{split} (the run's: {run_cfg.data.name}/{run_cfg.data.eval_split})")
    if cfg.data.limit_eval != run_cfg.data.limit_eval:
        differs.append(f"limit {cfg.data.limit_eval} (the run's data.limit_eval: {run_cfg.data.limit_eval})")
    if precision != summary.get("precision", precision):
        differs.append(f"precision {precision} (the run's: {summary.get('precision')})")
    return reported, differs
