"""What every dataset module returns: uint8 image arrays in memory (or memory-mapped), plus labels.

All of the paper's inputs are small (28×28 to 64×64), so each dataset is decoded and resized
once into a (N, C, H, W) uint8 array; training then never decodes a file per step, and a batch
is a slice of one array. Normalisation happens on the device (see the model's tokenizer).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch.utils.data import Dataset


@dataclass
class ImageArrays:
    """One split of a dataset.

    images: (N, C, H, W) uint8, C-contiguous (may be a read-only ``np.memmap``).
    targets: (N,) int64 class indices, or (N, H, W) float32 dense targets (depth, metres).
    classes: class names in index order ([] for regression).
    """

    images: np.ndarray
    targets: np.ndarray
    classes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.images.ndim != 4 or self.images.dtype != np.uint8:
            raise ValueError(f"images must be a (N, C, H, W) uint8 array, got {self.images.dtype} {self.images.shape}")
        if len(self.images) != len(self.targets):
            raise ValueError(f"{len(self.images)} images but {len(self.targets)} targets")
        if len(self.images) == 0:
            raise ValueError("the dataset split is empty: no images were found")

    @property
    def image_size(self) -> tuple[int, int]:
        return (int(self.images.shape[2]), int(self.images.shape[3]))

    @property
    def channels(self) -> int:
        return int(self.images.shape[1])


class ArrayDataset(Dataset):
    """Map-style dataset over :class:`ImageArrays`: item i -> (uint8 (C, H, W) tensor, target).

    ``transform`` (optional) takes and returns a uint8 (C, H, W) tensor (torchvision v2 transforms
    do); it runs per sample, in DataLoader workers.
    """

    def __init__(self, arrays: ImageArrays, transform: Callable[[torch.Tensor], torch.Tensor] | None = None):
        self.arrays = arrays
        self.transform = transform

    def __len__(self) -> int:
        return len(self.arrays.images)

    def __getitem__(self, item: int | tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        """``item`` is an index, or (index, seed): the transform then draws from a generator seeded
        with ``seed`` (so augmentation is reproducible whatever the worker scheduling)."""
        i, seed = item if isinstance(item, tuple) else (item, None)
        image = torch.from_numpy(np.array(self.arrays.images[i], copy=True))
        if self.transform is not None:
            if seed is None:
                image = self.transform(image)
            else:
                with torch.random.fork_rng(devices=[]):
                    torch.manual_seed(seed)
                    image = self.transform(image)
        return image, torch.as_tensor(np.array(self.arrays.targets[i], copy=True))
