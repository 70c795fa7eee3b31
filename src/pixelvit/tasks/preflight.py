"""Warnings before a run starts, one line each on stderr: a warm-up longer than the run, and more torch
threads than the machine has free cores (two jobs side by side on 2 cores each ran 10-25x slower)."""

from __future__ import annotations

import logging
import os

import torch

from ..config import Config
from ..engine.threads import choose_threads, free_cores, load_average, usable_cores

log = logging.getLogger(__name__)


def warmup_warning(cfg: Config, steps_per_epoch: int) -> str | None:
    """A warning when the learning-rate warm-up does not end before the run does."""
    o, t = cfg.optim, cfg.train
    if o.warmup_epochs <= 0:
        return None
    if o.warmup_epochs >= t.epochs:
        return (
            f"optim.warmup_epochs={o.warmup_epochs:g} is not shorter than train.epochs={t.epochs}: the learning rate never "
            "reaches its peak; lower optim.warmup_epochs for a short run"
        )
    warmup_steps = round(o.warmup_epochs * steps_per_epoch)
    if t.max_steps is not None and warmup_steps > t.max_steps:
        return (
            f"the warm-up ({o.warmup_epochs:g} epochs = {warmup_steps} steps) is longer than train.max_steps={t.max_steps}: "
            "the learning rate never reaches its peak; lower optim.warmup_epochs"
        )
    return None


def threads_warning(threads: int, free: int, cores: int, load: float) -> str | None:
    """A warning when torch will run more threads than there are free cores."""
    if threads <= free:
        return None
    return (
        f"torch will use {threads} threads but only about {free} of this machine's {cores} cores are free (load {load:.1f}); "
        f"jobs side by side then slow each other down many-fold: set train.threads={free}, or train.threads=auto with "
        "OMP_NUM_THREADS unset (auto takes the cores free at start)"
    )


def warn_before_training(cfg: Config, train_images: int) -> list[str]:
    """Print (rank 0 only) and return the warnings for a run about to train on ``train_images`` images."""
    if int(os.environ.get("RANK", "0")) != 0:
        return []
    steps_per_epoch = max(1, train_images // cfg.train.batch_size // cfg.train.accum_steps)
    on_gpu = cfg.train.device != "cpu" and torch.cuda.is_available()  # CPU threads then matter little
    too_many = None
    if not on_gpu and (cfg.train.threads != "auto" or os.environ.get("OMP_NUM_THREADS")):
        # auto takes the free cores: only a count the user set (the config, or OMP_NUM_THREADS) can be too many
        threads, cores, load = choose_threads(cfg.train.threads).threads, usable_cores(), load_average()
        too_many = threads_warning(threads, free_cores(cores, load), cores, load)
    found = [warmup_warning(cfg, steps_per_epoch), too_many]
    found = [w for w in found if w]
    for w in found:
        log.warning(f"warning: {w}")
    return found
