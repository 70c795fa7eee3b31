"""Optimizer and learning-rate schedule."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from ..config import OptimConfig


def lr_at(optim: OptimConfig, step: int, total_steps: int, warmup_steps: int, base_lr: float) -> float:
    """The learning rate at optimizer step ``step`` under ``optim``'s schedule."""
    if optim.schedule == "constant":
        return constant_after_warmup(step, warmup_steps, base_lr, optim.warmup_from_zero)
    return warmup_cosine(step, total_steps, warmup_steps, base_lr, optim.min_lr, optim.warmup_from_zero)


def param_groups(model: nn.Module, weight_decay: float, lr_scale: Callable[[str], float] | None = None) -> list[dict]:
    """Split parameters into decayed and not decayed (biases, norms: ndim <= 1, and the names in
    ``model.no_weight_decay()``: class token, position and dictionary embeddings).

    ``lr_scale(name)`` (optional) gives a per-parameter learning-rate multiplier, e.g. layer-wise
    decay for fine-tuning; parameters with equal (decay, scale) share a group.
    """
    skip = set(model.no_weight_decay()) if hasattr(model, "no_weight_decay") else set()
    groups: dict[tuple[float, float], dict] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        wd = 0.0 if p.ndim <= 1 or name in skip else weight_decay
        scale = lr_scale(name) if lr_scale else 1.0
        group = groups.setdefault((wd, scale), {"params": [], "weight_decay": wd, "lr_scale": scale, "names": []})
        group["params"].append(p)
        group["names"].append(name)
    return list(groups.values())


def build_optimizer(groups: list[dict], lr: float, betas: tuple[float, float], device: torch.device) -> torch.optim.AdamW:
    """AdamW with the fused kernel on CUDA and CPU (one kernel per step; it can skip a step on a device flag,
    see :func:`supports_found_inf`) and the foreach one elsewhere."""
    clean = [{k: v for k, v in g.items() if k != "names"} for g in groups]
    fused = device.type in FUSED_DEVICES
    return torch.optim.AdamW(clean, lr=lr, betas=betas, fused=fused or None, foreach=None if fused else True)


FUSED_DEVICES = ("cuda", "cpu")


def supports_found_inf(optimizer: torch.optim.Optimizer) -> bool:
    """Whether ``optimizer.step()`` honours ``optimizer.found_inf`` (a device flag: 1 skips the update of the
    parameters and of the optimizer state, with no host synchronisation). True for fused Adam/AdamW."""
    return bool(getattr(optimizer, "_step_supports_amp_scaling", False)) and all(g.get("fused") for g in optimizer.param_groups)


def warmup_cosine(
    step: int, total_steps: int, warmup_steps: int, base_lr: float, min_lr: float, from_zero: bool = False
) -> float:
    """Learning rate at ``step`` (0-based): linear from ~0 to ``base_lr`` over ``warmup_steps``,
    then cosine from ``base_lr`` to ``min_lr`` at ``total_steps``.

    Warmup is ``base_lr·(step+1)/W``, or with ``from_zero`` MAE's ``base_lr·step/W`` (0 at step 0).
    """
    if step < warmup_steps:
        return base_lr * (step + (0 if from_zero else 1)) / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return min_lr + (base_lr - min_lr) * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def constant_after_warmup(step: int, warmup_steps: int, base_lr: float, from_zero: bool = False) -> float:
    """Linear warmup over ``warmup_steps`` (as :func:`warmup_cosine`), then ``base_lr`` (DiT's schedule)."""
    return base_lr * (step + (0 if from_zero else 1)) / warmup_steps if step < warmup_steps else base_lr


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Set every group's lr to ``lr`` × its ``lr_scale``."""
    for group in optimizer.param_groups:
        group["lr"] = lr * group.get("lr_scale", 1.0)
