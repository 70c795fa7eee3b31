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
from ..engine.run_info import WEIGHTS_TEXT
from ..errors import first_line
from ..io import write_text_atomic
from ..provenance import provenance, provenance_lines


def run_config_text(cfg: Config, device: str | None = None) -> str:
    """``config.yaml``: the resolved config, under a comment header with its provenance (which loading ignores)."""
    header = "".join(f"# {line}\n" for line in provenance_lines(provenance(device)))
    return header + yaml.safe_dump(cfg.to_dict(), sort_keys=False)


def write_run_config(cfg: Config, run_dir: Path, device: str | None = None) -> None:
    """Save the resolved config as ``RUN_DIR/config.yaml``; refuse a run dir started with another config."""
    check_run_config(cfg, run_dir)
    write_text_atomic(run_dir / "config.yaml", run_config_text(cfg, device))


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
    from ..engine.device import device_text
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
        write_run_config(cfg, run_dir, device_text(trainer.device))  # only once every check has passed
        summary = trainer.fit(resumed)
    if int(os.environ.get("RANK", "0")) == 0:
        print(format_summary(cfg, summary))
    return summary


def _metrics_text(metrics: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.2f}" for k, v in metrics.items())


def format_summary(cfg: Config, summary: dict[str, Any]) -> str:
    """A run's closing lines; the last one is the headline: the metrics of the weights saved in ``final/``
    (raw or EMA, named) on the evaluation split, as ``pixelvit eval RUN_DIR`` measures them."""
    lines = [f"run: {cfg.run_dir}  status: {summary['status']}  steps: {summary['step']}  wall: {summary['wall_time_s']:.1f}s"]
    if summary.get("train_images_per_s"):
        lines.append(f"train throughput: {summary['train_images_per_s']:.1f} img/s")
    final = summary.get("final") or {}
    weights = summary.get("weights", "raw")
    reported = summary.get("reported") or {}
    if weights == "ema" and final:
        raw = {k: v for k, v in final.items() if not k.startswith(("ema_", "val_")) and "/" not in k}
        lines.append(f"raw weights (not saved; the EMA weights are): {_metrics_text(raw)}")
    selection = summary.get("selection")
    if selection and selection.get("best") is not None:
        source = selection.get("split") or f"{selection.get('val_fraction')} of {selection.get('held_out_of')}"
        lines.append(f"best/: {selection['metric']} {selection['best']:.2f} at epoch {selection['best_epoch']} "
                     f"(chosen on the validation set: {source}, {selection['images']} images)")  # fmt: skip
    paper, mismatch = summary.get("paper") or {}, summary.get("paper_mismatch") or []
    if mismatch and cfg.paper.metrics:
        keys = ", ".join(m.split(":")[0] for m in mismatch)
        lines.append(f"paper numbers not shown: this run changes the recipe of its row ({keys})")
    elif paper:
        ours = set(reported or final) | set(summary.get("best") or {})
        if not ours or set(paper) & ours:
            lines.append(f"paper: {_metrics_text(paper)}")
        else:  # e.g. an MAE pre-training config carries the accuracy of the fine-tuning it leads to
            row = cfg.paper.table or "another row of the paper"
            lines.append(
                f"paper values belong to another row ({row}): {_metrics_text(paper)}; this run reports {', '.join(sorted(ours))}"
            )
    if reported:
        where = "saved in final/" if summary["status"] == "finished" else "last evaluation; final/ not written yet"
        split = summary.get("eval_split") or cfg.data.eval_split
        lines.append(f"final ({WEIGHTS_TEXT.get(weights, weights)}, {where}; {split} split): {_metrics_text(reported)}")
    elif final:
        lines.append(f"final: {_metrics_text(final)}")
    return "\n".join(lines)


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
