"""A resumable, deterministic sampler: the order of epoch e depends only on (seed, e)."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import Sampler


def sample_seed(seed: int, epoch: int, position: int) -> int:
    """A 63-bit seed for one sample's augmentation, unique per (run seed, epoch, position)."""
    return (seed * 1_000_003 + epoch * 998_244_353 + position * 2_654_435_761) % (2**63 - 1)


class EpochBatchSampler(Sampler[list[tuple[int, int]]]):
    """Yields batches of (dataset index, augmentation seed) for one epoch.

    The permutation comes from ``torch.Generator().manual_seed(seed + epoch)``, so resuming at
    ``start_batch`` replays exactly the batches an uninterrupted run would have seen, and every
    sample's augmentation seed is tied to its position, not to worker scheduling. With
    ``world_size`` > 1 each rank takes every world_size-th sample of the shuffled order.
    ``drop_last`` drops a final incomplete batch (training); without shuffle it is the eval order.
    """

    def __init__(
        self,
        size: int,
        batch_size: int,
        *,
        seed: int = 0,
        epoch: int = 0,
        shuffle: bool = True,
        drop_last: bool = True,
        start_batch: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ):
        self.size, self.batch_size = size, batch_size
        self.seed, self.epoch, self.shuffle, self.drop_last = seed, epoch, shuffle, drop_last
        self.start_batch, self.rank, self.world_size = start_batch, rank, world_size

    def _indices(self) -> list[int]:
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed + self.epoch)
            order = torch.randperm(self.size, generator=g).tolist()
        else:
            order = list(range(self.size))
        if self.drop_last:  # every rank gets the same number of samples
            order = order[: self.size // self.world_size * self.world_size]
        return order[self.rank :: self.world_size]

    def __len__(self) -> int:
        n = self.size // self.world_size if self.drop_last else len(range(self.rank, self.size, self.world_size))
        full = n // self.batch_size if self.drop_last else -(-n // self.batch_size)
        return max(0, full - self.start_batch)

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        indices = self._indices()
        for b in range(self.start_batch, self.start_batch + len(self)):
            chunk = indices[b * self.batch_size : (b + 1) * self.batch_size]
            first = b * self.batch_size * self.world_size + self.rank
            yield [(i, sample_seed(self.seed, self.epoch, first + j * self.world_size)) for j, i in enumerate(chunk)]
