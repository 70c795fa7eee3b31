"""Depth metrics, accumulated as sums over valid pixels so that batches and ranks add up exactly.

Pixel-weighted: every valid pixel of the whole evaluation set counts once (RMSE = sqrt of the mean
squared error over all of them). Several papers instead compute each metric per image and average
the images (and some average RMSE per image); on NYU-v2, whose in-painted depth is valid
everywhere, the two differ only through the RMSE's square root and the caps, but they are not the
same number. Sums make the result independent of batch size and process count.

Valid pixels: ground truth finite and within [min_depth, max_depth] (0 = no measurement falls
outside). Predictions are clamped to [min_depth, max_depth] first.

Metrics (d = ground truth, d̂ = prediction, both metres; means over valid pixels):

* ``rmse``: sqrt(mean (d − d̂)²), metres; ``mae``: mean |d − d̂|
* ``abs_rel``: mean |d − d̂| / d (the usual "AbsRel")
* ``rae``: relative absolute error Σ|d − d̂| / Σ|d − d̄|, d̄ = the mean ground truth of the
  evaluation set (``reference_mean``); 1.0 = no better than predicting d̄ everywhere
* ``log10``: mean |log10 d − log10 d̂|; ``rmse_log``: sqrt(mean (ln d − ln d̂)²)
* ``delta1/2/3``: fraction of pixels with max(d/d̂, d̂/d) < 1.25, 1.25², 1.25³ (in [0, 1])
"""

from __future__ import annotations

import math

import torch

SUM_NAMES = ("pixels", "sq_err", "abs_err", "abs_rel", "abs_dev", "log10", "sq_log", "delta1", "delta2", "delta3")
DELTA_BASE = 1.25


def valid_mask(target: torch.Tensor, min_depth: float, max_depth: float) -> torch.Tensor:
    """Pixels with a measured ground truth inside [min_depth, max_depth] (bool, target's shape)."""
    return torch.isfinite(target) & (target >= min_depth) & (target <= max_depth) & (target > 0)


def depth_sums(
    pred: torch.Tensor, target: torch.Tensor, min_depth: float, max_depth: float, reference_mean: float | None = None
) -> torch.Tensor:
    """Sums over the valid pixels of one batch, float64 (len(SUM_NAMES),), in SUM_NAMES order.

    pred, target: depth in metres of the same shape ((B, H, W) or (B, 1, H, W)). ``abs_dev`` is
    Σ|d − reference_mean| (NaN without a reference mean).
    """
    if pred.shape != target.shape:
        raise ValueError(f"prediction {tuple(pred.shape)} and ground truth {tuple(target.shape)} differ in shape")
    mask = valid_mask(target, min_depth, max_depth)
    d = target.detach().double()[mask]
    p = pred.detach().double()[mask].clamp(min_depth, max_depth)
    err = p - d
    ratio = torch.maximum(d / p, p / d)
    log_diff = torch.log(d) - torch.log(p)
    abs_dev = (d - reference_mean).abs().sum() if reference_mean is not None else d.new_tensor(math.nan)
    sums = [
        d.new_tensor(float(d.numel())),
        (err * err).sum(),
        err.abs().sum(),
        (err.abs() / d).sum(),
        abs_dev,
        (log_diff.abs() / math.log(10.0)).sum(),
        (log_diff * log_diff).sum(),
        *[(ratio < DELTA_BASE**k).sum().double() for k in (1, 2, 3)],
    ]
    return torch.stack(sums).cpu()


def depth_metrics(totals: torch.Tensor) -> dict[str, float]:
    """Sums from :func:`depth_sums` (added over batches / ranks) -> the metrics above (``rae`` only with a reference mean)."""
    s = dict(zip(SUM_NAMES, (float(v) for v in totals), strict=True))
    n = s["pixels"]
    if n == 0:
        raise ValueError("no valid ground-truth pixels were evaluated (check data and depth.min_depth / depth.max_depth)")
    out = {
        "rmse": math.sqrt(s["sq_err"] / n),
        "abs_rel": s["abs_rel"] / n,
        "log10": s["log10"] / n,
        "delta1": s["delta1"] / n,
        "delta2": s["delta2"] / n,
        "delta3": s["delta3"] / n,
        "mae": s["abs_err"] / n,
        "rmse_log": math.sqrt(s["sq_log"] / n),
    }
    if math.isfinite(s["abs_dev"]):
        out["rae"] = s["abs_err"] / s["abs_dev"] if s["abs_dev"] > 0 else math.inf
    return out


def reference_mean(targets: torch.Tensor, min_depth: float, max_depth: float) -> float:
    """Mean of the valid ground truth (metres), the d̄ of ``rae``."""
    mask = valid_mask(targets, min_depth, max_depth)
    if not bool(mask.any()):
        raise ValueError("the ground truth has no valid pixel within [min_depth, max_depth]")
    return float(targets.double()[mask].mean())


class DepthMeter:
    """Accumulates :func:`depth_sums` over batches; ``compute()`` gives :func:`depth_metrics`."""

    def __init__(self, min_depth: float, max_depth: float, reference_mean: float | None = None):
        self.min_depth, self.max_depth, self.reference = min_depth, max_depth, reference_mean
        self.sums = torch.zeros(len(SUM_NAMES), dtype=torch.float64)
        if reference_mean is None:
            self.sums[SUM_NAMES.index("abs_dev")] = math.nan

    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        self.sums += depth_sums(pred, target, self.min_depth, self.max_depth, self.reference)

    def totals(self) -> torch.Tensor:
        """(len(SUM_NAMES),) float64 sums, ready for an all-reduce."""
        return self.sums.clone()

    def compute(self) -> dict[str, float]:
        return depth_metrics(self.sums)
