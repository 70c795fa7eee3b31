"""Tasks: each builds a model, data, loss and evaluation from a config for the shared engine.

A task module ``pixelvit.tasks.<name>`` provides ``build(cfg) -> Task`` and
``evaluate_model(cfg, model, split, batch_size, device) -> dict[str, float]`` (used by
``pixelvit eval``).
"""

from __future__ import annotations

import importlib
from types import ModuleType

from ..config import Config
from .base import Task

TASK_MODULES = {"classify": "classify", "depth": "depth", "mae": "mae", "diffusion": "diffusion"}


def task_module(name: str) -> ModuleType:
    """The module implementing task ``name``."""
    if name not in TASK_MODULES:
        raise ValueError(f"unknown task {name!r}; known tasks: {', '.join(TASK_MODULES)}")
    return importlib.import_module(f"{__name__}.{TASK_MODULES[name]}")


def build_task(cfg: Config) -> Task:
    """The task named by ``cfg.task``, built from ``cfg``."""
    return task_module(cfg.task).build(cfg)
