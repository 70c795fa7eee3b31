"""RandomResizedCrop cut from a higher-resolution source and downsampled to the training size.

The crop-and-resize recipes (DeiT, MAE, timm) draw ``RandomResizedCrop`` on the full decoded image and
resize the crop *down* to the training size. Drawing it on a training-size cache instead and resizing the
crop *up* feeds the model blurred images (at scale 0.08 a 28×28 crop is an ~8×8 region enlarged 3.5×)
while the test images are sharp.

A source image here is a whole image resized to R×R whatever its aspect ratio, with its width/height ratio
kept beside it (``ImageArrays.aspect``): the crop box is drawn exactly as torchvision/timm draw it, on a
virtual image of that ratio with short side R (so scale and ratio mean what they mean in the recipe), then
mapped into the squashed R×R array, cut, and resized (bicubic, antialiased) to the training size.
"""

from __future__ import annotations

import math

import torch
from torchvision.transforms import InterpolationMode, RandomResizedCrop
from torchvision.transforms.v2 import functional as F

RATIO = (3 / 4, 4 / 3)


def virtual_size(side: int, aspect: float) -> tuple[int, int]:
    """(H, W) of an image of width/height ``aspect`` whose short side is ``side``."""
    return (side, max(side, round(side * aspect))) if aspect >= 1 else (max(side, round(side / aspect)), side)


class SourceRandomResizedCrop:
    """uint8 (C, R, R) squashed source + its aspect ratio -> uint8 (C, H, W) crop at ``size`` (torch's RNG).

    ``scale`` / ``ratio``: as torchvision's ``RandomResizedCrop`` (the crop's area share of the image, its
    width/height range), drawn in the source image's own geometry.
    """

    def __init__(self, size: tuple[int, int], scale: tuple[float, float], ratio: tuple[float, float] = RATIO):
        self.size = list(size)
        self.scale, self.ratio = tuple(scale), tuple(ratio)

    def box(self, side: int, aspect: float) -> tuple[int, int, int, int]:
        """(top, left, height, width) of a random crop in the squashed ``side``×``side`` array."""
        h_v, w_v = virtual_size(side, aspect)
        top, left, height, width = RandomResizedCrop.get_params(torch.empty((0, h_v, w_v), device="meta"), self.scale, self.ratio)
        sy, sx = side / h_v, side / w_v
        y0, x0 = min(side - 1, round(top * sy)), min(side - 1, round(left * sx))
        h = max(1, min(side - y0, round(height * sy)))
        w = max(1, min(side - x0, round(width * sx)))
        return y0, x0, h, w

    def __call__(self, image: torch.Tensor, aspect: float = 1.0) -> torch.Tensor:
        side = image.shape[-1]
        if image.shape[-2] != side:
            raise ValueError(f"a crop source is square (R×R, its ratio kept apart); got {tuple(image.shape[-2:])}")
        top, left, h, w = self.box(side, aspect)
        return F.resized_crop(image, top, left, h, w, self.size, interpolation=InterpolationMode.BICUBIC, antialias=True)

    def __repr__(self) -> str:
        return f"SourceRandomResizedCrop(size={self.size}, scale={self.scale}, ratio=({self.ratio[0]:.4g}, {self.ratio[1]:.4g}))"


class CropThenPermute:
    """A crop (image, aspect) -> image followed by one fixed pixel permutation of the cropped (C, H, W) image
    (``perm``: (H·W,) source index of each output pixel, :func:`pixelvit.data.permutation.swap_permutation`)."""

    def __init__(self, crop: SourceRandomResizedCrop, perm: torch.Tensor):
        self.crop, self.perm = crop, torch.as_tensor(perm, dtype=torch.long)

    def __call__(self, image: torch.Tensor, aspect: float = 1.0) -> torch.Tensor:
        out = self.crop(image, aspect)
        return out.flatten(1)[:, self.perm].reshape(out.shape)

    def __repr__(self) -> str:
        return f"{self.crop!r}, then a fixed permutation of the pixels"


def upsampled_share(side: int, size: int, scale: tuple[float, float], draws: int = 20000, seed: int = 0) -> float:
    """The share of crops from a square ``side`` source whose short side is below ``size`` (so enlarged, not
    reduced, to the training size), estimated from ``draws`` crops."""
    crop = SourceRandomResizedCrop((size, size), scale)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        small = sum(min(crop.box(side, 1.0)[2:]) < size for _ in range(draws))
    return small / draws


def min_source_side(size: int, scale_lo: float, ratio: tuple[float, float] = RATIO) -> int:
    """The smallest square source side for which every crop (area ``scale_lo``, the extreme ``ratio``) is reduced to ``size``."""
    return math.ceil(size / math.sqrt(scale_lo / max(ratio[1], 1 / ratio[0])))
