"""The task registry: each task module registers, once when imported, how to build its training
task, how to evaluate a trained model, which model family it saves, and its config schema
(its own section, the model fields it reads, its checks). ``pixelvit.tasks`` imports them all."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from ..config import Config, ConfigError, TaskSchema, register_task_schema
from ..engine.evaluation import Evaluation
from ..engine.task import Task


@dataclass(frozen=True)
class TaskEntry:
    """A task: ``build(cfg)`` -> the :class:`Task` the trainer runs; ``evaluation(cfg, model, split)``
    -> the task's metrics of a trained model on a split; ``architecture``: the model family its runs save."""

    name: str
    build: Callable[[Config], Task]
    evaluation: Callable[[Config, nn.Module, str], Evaluation]
    architecture: str


TASKS: dict[str, TaskEntry] = {}


def register_task(entry: TaskEntry, schema: TaskSchema) -> TaskEntry:
    """Make a task known to the trainer's entry points and to the config loader."""
    if entry.name != schema.name:
        raise ValueError(f"task {entry.name!r} registered with the schema of {schema.name!r}")
    TASKS[entry.name] = entry
    register_task_schema(schema)
    return entry


def get_task(name: str) -> TaskEntry:
    if name not in TASKS:
        close = difflib.get_close_matches(name, list(TASKS), n=1)
        hint = f" Did you mean {close[0]}?" if close else ""
        raise ConfigError(f"unknown task {name!r}.{hint} Known tasks: {', '.join(TASKS)}")
    return TASKS[name]


def build_task(cfg: Config) -> Task:
    """The task named by ``cfg.task``, built from ``cfg``."""
    return get_task(cfg.task).build(cfg)


def task_of_architecture(architecture: str) -> str:
    """The task whose runs save models of ``architecture`` ("vit" -> "classify")."""
    for entry in TASKS.values():
        if entry.architecture == architecture:
            return entry.name
    raise ConfigError(f"no task trains {architecture!r} models; known: {', '.join(e.architecture for e in TASKS.values())}")
