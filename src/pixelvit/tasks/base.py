"""What a task hands the training engine. The engine knows nothing else about the task."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset


class Task(ABC):
    """A model, its datasets, its training loss and its evaluation.

    ``train_set`` / ``eval_set`` are map-style datasets whose items are requested as
    ``(index, seed)`` tuples (see :class:`pixelvit.engine.sampler.EpochBatchSampler`): any random
    per-sample augmentation must draw from a generator seeded with ``seed`` so that resumed runs
    replay it. ``main_metric`` names the value of :meth:`summarize` that picks the best checkpoint.
    ``lr_scale`` (optional) maps a parameter name to a learning-rate multiplier (layer decay).
    """

    model: nn.Module
    train_set: Dataset
    eval_set: Dataset
    main_metric: str = "loss"
    higher_is_better: bool = False
    lr_scale: Callable[[str], float] | None = None

    @abstractmethod
    def loss(self, model: nn.Module, batch: Any, device: torch.device) -> torch.Tensor:
        """Scalar training loss of one batch from the training loader (model may be wrapped, e.g. DDP)."""

    @abstractmethod
    def evaluate(self, model: nn.Module, batches: Iterable[Any], device: torch.device) -> torch.Tensor:
        """Sums over the given evaluation batches as a 1-D float64 tensor (so ranks can all-reduce them)."""

    @abstractmethod
    def summarize(self, totals: torch.Tensor) -> dict[str, float]:
        """Turn the (reduced) sums of :meth:`evaluate` into metrics."""
