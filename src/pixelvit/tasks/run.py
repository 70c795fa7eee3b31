"""One training run from a loaded, validated config: build the task, check the run directory, train, summarise.

:func:`train_config` is the single-run path; :mod:`.stages` runs it once per stage, and :mod:`.training`
(``train_from_config``) chooses between the two. Progress goes to the ``pixelvit`` logger; ``commands/``
shows it on the console.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import yaml

from ..config import Config, ConfigError
from ..engine.run_dir import RunDirLock, config_changes, refuse_changes
from ..errors import first_line
from ..io import write_text_atomic

log = logging.getLogger(__name__)


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
        log.info(format_summary(cfg, summary))
    return summary


def format_summary(cfg: Config, summary: dict[str, Any]) -> str:
    """The lines that end a run: status, steps and wall time, throughput, final metrics beside the paper's."""
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
