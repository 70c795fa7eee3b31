"""Per-sample training augmentation on uint8 (C, H, W) tensors (torchvision v2).

Batch-level augmentation (mixup/cutmix, random erasing) lives with the task, on device.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torchvision.transforms import v2

from ..config import AugmentConfig


def build_train_transform(
    aug: AugmentConfig, img_size: tuple[int, int], channels: int
) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """The per-sample pipeline for ``aug``; None when it does nothing.

    crop: "pad" = random crop after zero-padding by ``crop_padding`` (the CIFAR recipe),
    "rrc" = RandomResizedCrop with ``crop_scale`` (bicubic, antialiased). Colour jitter
    (brightness, contrast, saturation, hue: MoCo-v1 style) and grayscale apply to RGB only.
    """
    ops: list[torch.nn.Module] = []
    if aug.crop == "pad":
        ops.append(v2.RandomCrop(list(img_size), padding=aug.crop_padding))
    elif aug.crop == "rrc":
        ops.append(v2.RandomResizedCrop(list(img_size), scale=tuple(aug.crop_scale), interpolation=v2.InterpolationMode.BICUBIC))
    if aug.hflip > 0:
        ops.append(v2.RandomHorizontalFlip(aug.hflip))
    if aug.color_jitter > 0:
        cj = aug.color_jitter
        ops.append(v2.ColorJitter(cj, cj, cj, min(cj, 0.5)) if channels == 3 else v2.ColorJitter(cj, cj))
    if aug.grayscale > 0 and channels == 3:
        ops.append(v2.RandomGrayscale(aug.grayscale))
    if aug.randaugment_ops > 0:
        ops.append(v2.RandAugment(aug.randaugment_ops, aug.randaugment_magnitude))
    return v2.Compose(ops) if ops else None
