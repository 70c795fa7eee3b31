"""What a task hands the training engine. The engine knows nothing else about the task."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset

from ..data.batch_transforms import BatchDraws
from .evaluation import Evaluation


class Task(ABC):
    """A model, its training set, its training loss and its evaluation.

    ``train_set`` is a map-style dataset whose items are requested as ``(index, seed)`` tuples (see
    :class:`pixelvit.engine.sampler.EpochBatchSampler`): any random per-sample augmentation must
    draw from a generator seeded with ``seed`` so that resumed runs replay it. ``evaluation`` is
    the task's own metrics on its evaluation split (see :func:`pixelvit.engine.evaluation.evaluate`), for curves
    and the reported number, never to choose weights; ``selection`` (None: no ``best/``) is the same metrics on a
    validation set held out of the training data, and ``main_metric`` on it picks ``best/``. ``lr_scale`` (optional) maps a
    parameter name to a learning-rate multiplier (layer decay).
    """

    model: nn.Module
    train_set: Dataset
    evaluation: Evaluation
    selection: Evaluation | None = None
    main_metric: str = "loss"
    higher_is_better: bool = False
    lr_scale: Callable[[str], float] | None = None

    @abstractmethod
    def loss(self, model: nn.Module, batch: Any, device: torch.device, draws: BatchDraws | None = None) -> torch.Tensor:
        """Scalar training loss of one batch from the training loader (model may be wrapped, e.g. DDP).
        ``draws``: where the batch sits in the global batch, for batched augmentation's random values."""
