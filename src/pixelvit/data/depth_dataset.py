"""Map-style dataset of (image, depth) pairs with the training augmentation that keeps them aligned."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from .base import ArrayDataset, ImageArrays


class DepthDataset(ArrayDataset):
    """Item i -> (uint8 (C, H, W) image, float32 (H, W) depth in metres, 0 = invalid).

    Augmentation, per sample: ``photometric`` (a uint8 (C, H, W) -> (C, H, W) transform that moves
    no pixel, e.g. colour jitter; image only) and a horizontal flip with probability ``hflip`` (image
    and depth together). Requested as (index, seed), every draw comes from torch's generator
    seeded with ``seed`` (forked, so the global state is untouched), so a resumed run replays it.
    """

    def __init__(
        self, arrays: ImageArrays, photometric: Callable[[torch.Tensor], torch.Tensor] | None = None, hflip: float = 0.0
    ):
        if arrays.targets.ndim != 3 or arrays.targets.shape[1:] != arrays.images.shape[2:]:
            raise ValueError(
                f"depth targets must be (N, H, W) maps matching the (N, C, H, W) images, got {arrays.targets.shape} "
                f"for images {arrays.images.shape}"
            )
        super().__init__(arrays, photometric)
        self.hflip = hflip

    def _augment(self, image: torch.Tensor, depth: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.transform is not None:
            image = self.transform(image)
        if self.hflip > 0 and float(torch.rand(())) < self.hflip:
            image, depth = image.flip(-1), depth.flip(-1)
        return image, depth

    def __getitem__(self, item: int | tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        i, seed = item if isinstance(item, tuple) else (item, None)
        image = torch.from_numpy(np.array(self.arrays.images[i], copy=True))
        depth = torch.from_numpy(np.array(self.arrays.targets[i], dtype=np.float32, copy=True))
        if self.transform is None and self.hflip == 0:
            return image, depth
        if seed is None:
            return self._augment(image, depth)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return self._augment(image, depth)
