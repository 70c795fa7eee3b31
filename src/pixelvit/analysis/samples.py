"""What the per-checkpoint analyses read: a ViT and the images it is shown."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..config import Config, ConfigError


def load_vit(checkpoint: str | os.PathLike) -> tuple[nn.Module, Config | None]:
    """A ViT and its run config from a run dir, model dir or ``step_*.pt``; an error for other models."""
    from ..engine.loading import load_model_and_config
    from ..models.vit import VisionTransformer

    model, cfg = load_model_and_config(Path(checkpoint))
    if not isinstance(model, VisionTransformer):
        raise ValueError(f"{checkpoint} holds a {type(model).__name__}, not a VisionTransformer; the analyses read ViT encoders")
    return model.eval(), cfg


def load_images(
    model: nn.Module,
    cfg: Config,
    split: str | None = None,
    num_images: int | None = None,
    indices: list[int] | None = None,
    seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 (N, C, H, W) images and (N,) targets of ``split`` (default: the eval split).

    ``indices`` picks images by position; else ``num_images`` picks a seeded random sample (all when None).
    """
    from ..data.splits import load_split

    split = split or cfg.data.eval_split
    _, arrays = load_split(cfg.data, split, None)
    if arrays.channels != model.in_chans:
        raise ConfigError(f"the model takes {model.in_chans}-channel images; {cfg.data.name} has {arrays.channels}")
    n = len(arrays.images)
    if indices is None:
        indices = list(range(n))
        if num_images is not None and num_images < n:
            indices = sorted(np.random.default_rng(seed).choice(n, num_images, replace=False).tolist())
    for i in indices:
        if not 0 <= i < n:
            raise ConfigError(f"image index {i} is out of range: {cfg.data.name}/{split} has {n} images (0..{n - 1})")
    images = torch.from_numpy(np.stack([np.asarray(arrays.images[i]) for i in indices]))
    targets = torch.from_numpy(np.asarray(arrays.targets)[indices])
    return images, targets
