"""Staged patch-size training (``train.stages``): e.g. /2 for 40 epochs, then /1 for 10, as one resumable run.

Stage k is a normal run of the engine in ``RUN_DIR/stage{k}_p{P}/`` (its own checkpoints, exact resume and
refusal of a changed config), with ``model.patch_size=P``, ``train.epochs`` of the stage and, when the stage
sets them, its ``lr`` and ``warmup_epochs``. Stage k > 0 starts from stage k-1's ``final/`` model: the encoder
through ``model.init_from``, which resizes the patch projection and position embedding to patch size P
(:mod:`pixelvit.models.resize`), and the classifier (``head``, ``fc_norm``), which an ``init_from`` run
would start fresh, copied too. Every stage has its own optimizer and learning-rate schedule.

A finished stage (``summary.json`` with status ``finished`` and a ``final/`` model) is skipped on a re-run,
so running the same command again resumes a killed run in whichever stage it was. ``train.max_steps``
counts optimizer steps over all stages together. The outer run writes ``RUN_DIR/config.yaml``,
``RUN_DIR/summary.json`` (every stage's numbers) and, once the last stage has finished,
``RUN_DIR/final/``: a copy of the last stage's final model.
"""

from __future__ import annotations

import copy
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from safetensors.torch import load_file

from ..config import Config, StageConfig, validate
from ..engine.init_from import FRESH_PREFIXES
from ..engine.run_dir import RunDirLock
from ..engine.task import Task
from ..io import copy_regular_file, write_json_atomic, write_text_atomic
from ..models.hub import WEIGHTS_NAME
from ..provenance import provenance
from .run import check_run_config, format_summary, run_config_text, train_config

log = logging.getLogger(__name__)

FINISHED = "finished"
STAGE_KEYS = ("status", "step", "epoch", "wall_time_s", "train_images_per_s", "precision", "final", "weights", "reported", "best",
              "selection")  # fmt: skip


def stage_dir(run_dir: Path, index: int, stage: StageConfig) -> Path:
    """``RUN_DIR/stage{k}_p{P}``."""
    return run_dir / f"stage{index}_p{stage.patch_size}"


def stage_config(cfg: Config, index: int, init_from: str | None, max_steps: int | None) -> Config:
    """The config of stage ``index``: patch size and epochs of the stage, its own run dir, no stages."""
    stage = cfg.train.stages[index]
    out = copy.deepcopy(cfg)
    out.run_dir = str(stage_dir(Path(cfg.run_dir or "runs/default"), index, stage))
    out.model.patch_size = stage.patch_size
    out.model.init_from = init_from
    out.train.epochs = stage.epochs
    out.train.max_steps = max_steps
    out.train.stages = []
    if stage.lr is not None:
        out.optim.lr = stage.lr
    if stage.warmup_epochs is not None:
        out.optim.warmup_epochs = stage.warmup_epochs
    validate(out)
    return out


def carry_classifier(model_dir: Path) -> Callable[[Task], None]:
    """A ``prepare`` hook for :func:`train_config`: copy the classifier (``head.*``, ``fc_norm.*``) of the model
    in ``model_dir`` into the task's model, which ``model.init_from`` leaves fresh."""

    def prepare(task: Task) -> None:
        state = load_file(str(model_dir / WEIGHTS_NAME))
        own = task.model.state_dict()
        head = {k: v for k, v in state.items() if k.startswith(FRESH_PREFIXES) and k in own and v.shape == own[k].shape}
        task.model.load_state_dict(head, strict=False)
        copied = ", ".join(sorted({k.split(".")[0] for k in head})) or "nothing (no matching shapes)"
        log.info(f"then copied {copied} from {model_dir} (the previous stage's classifier), over the fresh one")

    return prepare


def finished_summary(run_dir: Path) -> dict[str, Any] | None:
    """The summary of a finished run in ``run_dir`` (with its ``final/`` model), else None."""
    path = run_dir / "summary.json"
    if not (run_dir / "final" / WEIGHTS_NAME).is_file() or not path.is_file():
        return None
    try:
        summary = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return summary if summary.get("status") == FINISHED else None


def copy_model_dir(src: Path, dst: Path) -> None:
    """Copy every file of model folder ``src`` into ``dst``, each atomically."""
    for item in sorted(src.iterdir()):
        if item.is_file() and not item.name.startswith("."):
            copy_regular_file(item, dst / item.name)  # a symlink is refused, never followed


def train_stages(cfg: Config) -> dict[str, Any]:
    """Train ``cfg.train.stages`` one after the other in ``RUN_DIR/stage{k}_p{P}/``; returns the outer summary
    (also ``RUN_DIR/summary.json``): status, total steps and wall time, the last stage's metrics, and ``stages``."""

    run_dir = Path(cfg.run_dir or "runs/default")
    main = int(os.environ.get("RANK", "0")) == 0
    stages: list[dict[str, Any]] = []
    status, init_from, steps = FINISHED, cfg.model.init_from, 0
    with RunDirLock(run_dir, enabled=main):
        check_run_config(cfg, run_dir)  # a run dir of another schedule or recipe is refused before any training
        for k in range(len(cfg.train.stages)):  # and so is a stage whose own config is invalid
            stage_config(cfg, k, init_from, cfg.train.max_steps)
        for k, stage in enumerate(cfg.train.stages):
            directory = stage_dir(run_dir, k, stage)
            summary = finished_summary(directory)
            if summary is not None:
                log.info(f"stage {k} (/{stage.patch_size}): finished earlier in {directory}, skipped")
            else:
                budget = None if cfg.train.max_steps is None else cfg.train.max_steps - steps
                if budget is not None and budget < 1:
                    status = f"reached train.max_steps={cfg.train.max_steps} before stage {k}"
                    break
                start = f", from {init_from} (its encoder resized; then its classifier head copied too)" if k else ""
                log.info(f"stage {k} (/{stage.patch_size}, {stage.epochs} epochs) in {directory}{start}")
                prepare = carry_classifier(Path(init_from)) if k else None
                summary = train_config(stage_config(cfg, k, init_from, budget), prepare)
                if main:
                    write_text_atomic(run_dir / "config.yaml", run_config_text(cfg))
            steps += summary["step"]
            stages.append({"patch_size": stage.patch_size, "epochs": stage.epochs, "run_dir": str(directory),
                           **{key: summary.get(key) for key in STAGE_KEYS}})  # fmt: skip
            if summary["status"] != FINISHED:  # stopped: "reached ..." keeps the exit code of a max_steps stop
                reached = summary["status"].startswith("reached")
                status = f"{f'reached train.max_steps={cfg.train.max_steps}' if reached else summary['status']} in stage {k}"
                break
            init_from = str(directory / "final")
        last = stages[-1] if stages else {}
        outer = {
            "status": status,
            "step": steps,
            "wall_time_s": round(sum(s["wall_time_s"] or 0.0 for s in stages), 2),
            "final": last.get("final") if status == FINISHED else None,
            "precision": last.get("precision"),
            "weights": last.get("weights"),
            "reported": last.get("reported") if status == FINISHED else None,
            "eval_split": cfg.data.eval_split,
            "best": last.get("best") if status == FINISHED else None,
            "selection": last.get("selection") if status == FINISHED else None,
            "paper": {} if cfg.paper.mismatch else cfg.paper.metrics,
            "paper_mismatch": cfg.paper.mismatch,
            "provenance": provenance(),
            "stages": stages,
        }
        if main:
            if status == FINISHED:
                copy_model_dir(Path(last["run_dir"]) / "final", run_dir / "final")
            write_json_atomic(run_dir / "summary.json", outer)
    if main:
        log.info(format_summary(cfg, outer))
        if status != FINISHED:
            log.info("Run the same command again to resume.")
    return outer
