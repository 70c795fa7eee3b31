"""Per-sample training augmentation on uint8 (C, H, W) tensors (torchvision v2).

Pad-and-crop and horizontal flips run on whole batches instead (:mod:`.batch_transforms`), as do
mixup/cutmix and random erasing (with the task, on the device).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

import numpy as np
import torch
from PIL import Image
from timm.data.auto_augment import rand_augment_transform
from torchvision.transforms import v2

from ..config import AugmentConfig
from .batch_transforms import BatchDraws, random_hflip, random_pad_crop


def _posterize(img: Image.Image, bits_to_keep: int, **_) -> Image.Image:
    """timm's posterize, where keeping 0 bits gives a black image (what Pillow < 10 did; Pillow now refuses 0)."""
    if bits_to_keep >= 8:
        return img
    if bits_to_keep <= 0:
        return Image.new(img.mode, img.size, 0)
    from PIL import ImageOps

    return ImageOps.posterize(img, bits_to_keep)


class TimmRandAugment:
    """timm's ``rand_augment_transform(config)`` on a uint8 (C, H, W) tensor, through PIL, per image.

    Its hyper-parameters are those timm's ``create_transform`` passes (and MAE's fine-tuning uses): fill colour
    the dataset mean in 0..255, bicubic resampling, ``translate_const`` 0.45 × the short side. timm draws from
    Python's and NumPy's global generators: both are seeded here from torch's (which the dataset seeds per
    sample), and restored after, so a sample's draws depend on its seed only.
    """

    def __init__(self, config: str, img_size: tuple[int, int], mean: Sequence[float]):
        fill = tuple(min(255, round(255 * m)) for m in mean)
        hparams = {"translate_const": int(min(img_size) * 0.45), "img_mean": fill if len(fill) > 1 else fill[0],
                   "interpolation": Image.Resampling.BICUBIC}  # fmt: skip
        self.config = config
        self.transform = rand_augment_transform(config, hparams)
        for op in self.transform.ops:
            if op.name.startswith("Posterize"):
                op.aug_fn = _posterize

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        seed = int(torch.randint(0, 2**31 - 1, ()).item())
        py_state, np_state = random.getstate(), np.random.get_state()
        random.seed(seed)
        np.random.seed(seed)
        try:
            pil = Image.fromarray(image[0].numpy() if image.shape[0] == 1 else image.permute(1, 2, 0).numpy())
            out = np.asarray(self.transform(pil))
        finally:
            random.setstate(py_state)
            np.random.set_state(np_state)
        out = torch.from_numpy(out.copy())
        return out[None] if out.ndim == 2 else out.permute(2, 0, 1).contiguous()

    def __repr__(self) -> str:
        return f"TimmRandAugment({self.config!r})"


def build_train_transform(
    aug: AugmentConfig,
    img_size: tuple[int, int],
    channels: int,
    mean: Sequence[float] = (0.5, 0.5, 0.5),
    crop: bool = True,
) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """The per-sample pipeline for ``aug``; None when it does nothing.

    crop="rrc" is RandomResizedCrop with ``crop_scale`` (bicubic, antialiased); crop="pad" and
    ``hflip`` are batched (see :func:`batch_augment`). Colour jitter (brightness, contrast,
    saturation, hue: MoCo-v1 style) and grayscale apply to RGB only. The flip is applied after
    these ops, which commute with it (timm's RandAugment too, in distribution: its geometric ops draw
    their sign at random). ``augment.randaugment`` is timm's (:class:`TimmRandAugment`, fill colour
    ``mean``); ``augment.randaugment_ops`` torchvision's. ``crop=False``: the crop is done before (a
    crop from a higher-resolution source, :mod:`pixelvit.data.source_crop`).
    """
    ops: list[Callable] = []
    if aug.crop == "rrc" and crop:
        ops.append(v2.RandomResizedCrop(list(img_size), scale=tuple(aug.crop_scale), interpolation=v2.InterpolationMode.BICUBIC))
    if aug.color_jitter > 0:
        cj = aug.color_jitter
        ops.append(v2.ColorJitter(cj, cj, cj, min(cj, 0.5)) if channels == 3 else v2.ColorJitter(cj, cj))
    if aug.grayscale > 0 and channels == 3:
        ops.append(v2.RandomGrayscale(aug.grayscale))
    if aug.randaugment_ops > 0:
        ops.append(v2.RandAugment(aug.randaugment_ops, aug.randaugment_magnitude))
    if aug.randaugment:
        ops.append(TimmRandAugment(aug.randaugment, img_size, mean[:channels]))
    return v2.Compose(ops) if ops else None


def batch_augment(aug: AugmentConfig, images: torch.Tensor, draws: BatchDraws | None = None) -> torch.Tensor:
    """The batched part of training augmentation: uint8 (B, C, H, W) -> (B, C, H, W) (random values from
    ``draws``, see :class:`~pixelvit.data.batch_transforms.BatchDraws`)."""
    if aug.crop == "pad":
        images = random_pad_crop(images, aug.crop_padding, draws)
    return random_hflip(images, aug.hflip, draws)
