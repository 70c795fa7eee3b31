"""What the per-checkpoint analyses read: a model, the dataset it is shown, the device."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..config import Config, ConfigError


def pick_device(device: str = "auto") -> torch.device:
    """``auto``: CUDA when available, else CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def load_vit(checkpoint: str | os.PathLike) -> tuple[nn.Module, Config | None]:
    """A ViT and its run config from a run dir, model dir or ``step_*.pt``; an error for other models."""
    from ..runner import load_model_and_config

    model, cfg = load_model_and_config(Path(checkpoint))
    for name in ("blocks", "embed", "prepend_prefix", "grid_size", "patch_size", "num_prefix_tokens"):
        if not hasattr(model, name):
            raise ValueError(
                f"{checkpoint} holds a {type(model).__name__}, not a VisionTransformer; the analyses read ViT encoders"
            )
    return model.eval(), cfg


def data_config(model: nn.Module, cfg: Config | None, data: str | None, root: str | None) -> Config:
    """The data section to show ``model``: its run's (with ``root`` overriding), or ``data`` at the
    model's input size (resized when the dataset's images have another size)."""
    if data is None:
        if cfg is None:
            raise ConfigError("the model carries no training config: pass --data NAME (and --root) to say which images to use")
        cfg = Config(data=cfg.data)
        if root is not None:
            cfg.data.root = root
    else:
        from ..data import get_dataset_spec

        cfg = Config()
        cfg.data.name, cfg.data.root, cfg.data.resize = data, root, True
        splits = get_dataset_spec(data).splits
        if splits and cfg.data.eval_split not in splits:
            cfg.data.eval_split = splits[-1]  # e.g. ImageNet's "val"
    cfg.data.img_size = list(model.img_size)
    return cfg


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
    from ..tasks.classify import load_split

    split = split or cfg.data.eval_split
    _, arrays = load_split(cfg, split, None)
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
