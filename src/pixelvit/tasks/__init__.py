"""Tasks: each builds a model, data, loss and evaluation from a config for the shared engine."""

from __future__ import annotations

from ..config import Config
from .base import Task


def build_task(cfg: Config) -> Task:
    """The task named by ``cfg.task``."""
    if cfg.task == "classify":
        from .classify import ClassifyTask

        return ClassifyTask(cfg)
    raise ValueError(f"unknown task {cfg.task!r}")
