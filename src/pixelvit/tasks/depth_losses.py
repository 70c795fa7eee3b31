"""Depth training losses over valid pixels (ground truth > 0); invalid pixels get no gradient.

pred, target: (B, H, W) depth in metres, computed in fp32.

* ``l1``: mean |d̂ − d| over the batch's valid pixels.
* ``l2``: mean (d̂ − d)² over the batch's valid pixels.
* ``silog``: the scale-invariant log loss of Eigen, Puhrsch & Fergus (2014), per image
  D = (1/n) Σ g² − (λ/n²) (Σ g)², g = ln d̂ − ln d over the image's n valid pixels, averaged over
  the images that have a valid pixel. λ = 0 is the plain mean squared log error, λ = 1 ignores a
  global scale entirely; Eigen et al. train with λ = 0.5.
"""

from __future__ import annotations

import torch

LOSSES = ("l1", "l2", "silog")
EPS = 1e-6  # metres: floor of a prediction inside the log


def _masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``values`` where ``mask``; 0 (with a graph) when nothing is valid."""
    count = mask.sum()
    return torch.where(mask, values, 0.0).sum() / count.clamp_min(1)


def silog_loss(pred: torch.Tensor, target: torch.Tensor, lam: float = 0.5) -> torch.Tensor:
    """Eigen et al.'s scale-invariant log loss, mean over images with a valid pixel (see the module doc)."""
    mask = target > 0
    g = torch.where(mask, torch.log(pred.clamp_min(EPS)) - torch.log(target.clamp_min(EPS)), 0.0)
    n = mask.flatten(1).sum(1).to(g.dtype)  # (B,)
    has = n > 0
    n = n.clamp_min(1)
    per_image = (g * g).flatten(1).sum(1) / n - lam * (g.flatten(1).sum(1) / n) ** 2
    return torch.where(has, per_image, 0.0).sum() / has.sum().clamp_min(1)


def depth_loss(pred: torch.Tensor, target: torch.Tensor, kind: str = "l1", silog_lambda: float = 0.5) -> torch.Tensor:
    """Scalar loss of ``kind`` (l1, l2, silog) between predicted and ground-truth depth (B, H, W), metres."""
    if pred.shape != target.shape:
        raise ValueError(f"prediction {tuple(pred.shape)} and ground truth {tuple(target.shape)} differ in shape")
    pred, target = pred.float(), target.float()
    if kind == "silog":
        return silog_loss(pred, target, silog_lambda)
    mask = target > 0
    diff = pred - target
    if kind == "l1":
        return _masked_mean(diff.abs(), mask)
    if kind == "l2":
        return _masked_mean(diff * diff, mask)
    raise ValueError(f"unknown depth loss {kind!r}; choose one of {LOSSES}")
