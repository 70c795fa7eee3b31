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
from ..engine.run_info import WEIGHTS_TEXT
from ..errors import first_line
from ..io import write_text_atomic
from ..provenance import provenance, provenance_lines

log = logging.getLogger(__name__)


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
        log.info(format_summary(cfg, summary))
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
