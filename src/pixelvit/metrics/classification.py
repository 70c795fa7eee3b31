"""Top-k accuracy, accumulated as counts so that batches and ranks add up exactly."""

from __future__ import annotations

import torch


def topk_correct(logits: torch.Tensor, targets: torch.Tensor, ks: tuple[int, ...] = (1, 5)) -> dict[int, int]:
    """Number of samples whose target is among the top-k logits, for each k.

    logits: (N, classes); targets: (N,) class indices. k larger than the number of classes
    counts every sample. Ties are broken by ``torch.topk`` (lowest index first).
    """
    if logits.ndim != 2 or targets.shape != logits.shape[:1]:
        raise ValueError(f"expected logits (N, C) and targets (N,), got {tuple(logits.shape)} and {tuple(targets.shape)}")
    kmax = min(max(ks), logits.shape[1])
    top = logits.topk(kmax, dim=1).indices  # (N, kmax)
    hits = top.eq(targets[:, None])
    return {k: int(hits[:, : min(k, kmax)].any(dim=1).sum()) for k in ks}


class AccuracyMeter:
    """Accumulates top-k hits and the sample count; ``compute()`` gives percentages."""

    def __init__(self, ks: tuple[int, ...] = (1, 5)):
        self.ks = ks
        self.hits = torch.zeros(len(ks), dtype=torch.float64)
        self.count = 0

    def update(self, logits: torch.Tensor, targets: torch.Tensor) -> None:
        correct = topk_correct(logits, targets, self.ks)
        self.hits += torch.tensor([correct[k] for k in self.ks], dtype=torch.float64)
        self.count += int(targets.shape[0])

    def totals(self) -> torch.Tensor:
        """(len(ks) + 1,) tensor of hits and count, ready for an all-reduce."""
        return torch.cat([self.hits, torch.tensor([float(self.count)], dtype=torch.float64)])

    @staticmethod
    def percentages(totals: torch.Tensor, ks: tuple[int, ...]) -> dict[str, float]:
        count = float(totals[-1])
        if count == 0:
            raise ValueError("no samples were evaluated")
        return {f"acc{k}": 100.0 * float(totals[i]) / count for i, k in enumerate(ks)}

    def compute(self) -> dict[str, float]:
        return self.percentages(self.totals(), self.ks)
