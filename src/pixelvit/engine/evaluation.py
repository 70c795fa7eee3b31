"""The one evaluation path, and the contract of the extra evaluators a run can carry.

:func:`evaluate` scores a model on an :class:`Evaluation` (a dataset and how to sum and summarise
its batches): the trainer's evaluation after each epoch and ``pixelvit eval`` both run it, so a
number means the same thing wherever it is printed. Under torchrun every rank takes every
world-th sample and the sums are all-reduced, so each sample counts once.

:class:`Evaluator` is what an ``evals:`` entry of a config builds (big_vision's ``config.evals``):
a small object with its own options, run every ``every`` epochs (and after the last one), whose
metrics the trainer logs as ``prefix/<metric>`` beside the task's own.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from .distributed import DistInfo, all_reduce_sum
from .precision import autocast
from .sampler import EpochBatchSampler


@dataclass
class Evaluation:
    """A dataset and how to score a model on it.

    sums(model, batches, device): float64 1-D tensor of totals over the batches (all-reducible).
    summarize(totals): the metrics, e.g. {"acc1": ..., "loss": ...}.
    """

    dataset: Dataset
    sums: Callable[[nn.Module, Iterable[Any], torch.device], torch.Tensor]
    summarize: Callable[[torch.Tensor], dict[str, float]]


def evaluate(
    evaluation: Evaluation,
    model: nn.Module,
    batch_size: int,
    device: torch.device,
    dist: DistInfo | None = None,
    precision: str = "fp32",
    num_workers: int = 0,
) -> dict[str, float]:
    """Metrics of ``model`` (in eval mode, no gradients) on the whole evaluation set."""
    rank, world = (dist.rank, dist.world_size) if dist is not None else (0, 1)
    sampler = EpochBatchSampler(len(evaluation.dataset), batch_size, shuffle=False, drop_last=False, rank=rank, world_size=world)
    loader = DataLoader(  # its own generator: creating the iterator must not draw from the global one
        evaluation.dataset,
        batch_sampler=sampler,
        num_workers=num_workers,
        pin_memory=device.type == "cuda",
        generator=torch.Generator().manual_seed(0),
    )
    was_training = model.training
    model.eval()
    with torch.no_grad(), autocast(precision, device):
        totals = evaluation.sums(model, loader, device)
    model.train(was_training)
    if dist is not None:
        totals = all_reduce_sum(totals.to(device), dist)
    return evaluation.summarize(totals.cpu())


class Evaluator(ABC):
    """An extra evaluation of a run (an ``evals:`` entry): FID of samples, attention distance, ...

    ``every``: run after every ``every``-th epoch (0: only after the last); always after the last.
    ``prefix``: the metrics are logged as ``prefix/<name>``.
    """

    def __init__(self, every: int, prefix: str):
        self.every, self.prefix = every, prefix

    def due(self, epoch: int, last_epoch: int) -> bool:
        """Whether to run after ``epoch`` (1-based) of a run of ``last_epoch`` epochs."""
        return epoch == last_epoch or (self.every > 0 and epoch % self.every == 0)

    @abstractmethod
    def __call__(self, model: nn.Module, device: torch.device, dist: DistInfo) -> dict[str, float]:
        """Metrics of ``model`` (unwrapped, in eval mode); called on every rank, the same numbers on each."""
