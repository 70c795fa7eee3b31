"""Per-sample training augmentation on uint8 (C, H, W) tensors (torchvision v2).

Pad-and-crop and horizontal flips run on whole batches instead (:mod:`.batch_transforms`), as do
mixup/cutmix and random erasing (with the task, on the device).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torchvision.transforms import v2

from ..config import AugmentConfig
from .batch_transforms import BatchDraws, random_hflip, random_pad_crop


def build_train_transform(
    aug: AugmentConfig, img_size: tuple[int, int], channels: int
) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """The per-sample pipeline for ``aug``; None when it does nothing.

    crop="rrc" is RandomResizedCrop with ``crop_scale`` (bicubic, antialiased); crop="pad" and
    ``hflip`` are batched (see :func:`batch_augment`). Colour jitter (brightness, contrast,
    saturation, hue: MoCo-v1 style) and grayscale apply to RGB only. The flip is applied after
    these ops, which commute with it.
    """
    ops: list[torch.nn.Module] = []
    if aug.crop == "rrc":
        ops.append(v2.RandomResizedCrop(list(img_size), scale=tuple(aug.crop_scale), interpolation=v2.InterpolationMode.BICUBIC))
    if aug.color_jitter > 0:
        cj = aug.color_jitter
        ops.append(v2.ColorJitter(cj, cj, cj, min(cj, 0.5)) if channels == 3 else v2.ColorJitter(cj, cj))
    if aug.grayscale > 0 and channels == 3:
        ops.append(v2.RandomGrayscale(aug.grayscale))
    if aug.randaugment_ops > 0:
        ops.append(v2.RandAugment(aug.randaugment_ops, aug.randaugment_magnitude))
    return v2.Compose(ops) if ops else None


def batch_augment(aug: AugmentConfig, images: torch.Tensor, draws: BatchDraws | None = None) -> torch.Tensor:
    """The batched part of training augmentation: uint8 (B, C, H, W) -> (B, C, H, W) (random values from
    ``draws``, see :class:`~pixelvit.data.batch_transforms.BatchDraws`)."""
    if aug.crop == "pad":
        images = random_pad_crop(images, aug.crop_padding, draws)
    return random_hflip(images, aug.hflip, draws)
