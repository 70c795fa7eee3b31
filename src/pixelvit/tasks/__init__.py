"""Tasks: each builds a model, its data, its loss and its evaluation from a config, for the one engine.

Importing this package registers every task (:mod:`.registry`) and evaluator (:mod:`.evaluators`);
``import pixelvit`` does it. A new task is a module here that calls :func:`register_task` and
is imported below.
"""

from . import classify, depth, diffusion, evaluators, mae
from .registry import TASKS, TaskEntry, build_task, get_task, register_task, task_of_architecture

__all__ = ["TASKS", "TaskEntry", "build_task", "classify", "depth", "diffusion", "evaluators", "get_task", "mae",
           "register_task", "task_of_architecture"]  # fmt: skip
