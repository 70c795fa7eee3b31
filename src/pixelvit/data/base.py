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
    aspect: (N,) float width / height of each source image when ``images`` hold whole images squashed to a
        square (a crop-from-source training split, :mod:`.source_crop`); None otherwise.
    """

    images: np.ndarray
    targets: np.ndarray
    classes: list[str] = field(default_factory=list)
    aspect: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.images.ndim != 4 or self.images.dtype != np.uint8:
            raise ValueError(f"images must be a (N, C, H, W) uint8 array, got {self.images.dtype} {self.images.shape}")
        if len(self.images) != len(self.targets):
            raise ValueError(f"{len(self.images)} images but {len(self.targets)} targets")
        if len(self.images) == 0:
            raise ValueError("the dataset split is empty: no images were found")
        if self.aspect is not None and self.aspect.shape != (len(self.images),):
            raise ValueError(f"{len(self.images)} images but aspect ratios of shape {self.aspect.shape}")

    @property
    def image_size(self) -> tuple[int, int]:
        return (int(self.images.shape[2]), int(self.images.shape[3]))

    @property
    def channels(self) -> int:
        return int(self.images.shape[1])


class ArrayDataset(Dataset):
    """Map-style dataset over :class:`ImageArrays`: item i -> (uint8 (C, H, W) tensor, target).

    ``transform`` (optional) takes and returns a uint8 (C, H, W) tensor (torchvision v2 transforms
    do); it runs per sample, in DataLoader workers. ``crop`` (optional) runs before it and takes the image
    and its source aspect ratio (``arrays.aspect``, 1.0 when None): a crop cut from a larger source image.
    """

    def __init__(
        self,
        arrays: ImageArrays,
        transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
        crop: Callable[[torch.Tensor, float], torch.Tensor] | None = None,
    ):
        self.arrays = arrays
        self.transform = transform
        self.crop = crop

    def _augment(self, image: torch.Tensor, i: int) -> torch.Tensor:
        if self.crop is not None:
            image = self.crop(image, 1.0 if self.arrays.aspect is None else float(self.arrays.aspect[i]))
        return image if self.transform is None else self.transform(image)

    def __len__(self) -> int:
        return len(self.arrays.images)

    def __getitem__(self, item: int | tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        """``item`` is an index, or (index, seed): the transform then draws from a generator seeded
        with ``seed`` (so augmentation is reproducible whatever the worker scheduling)."""
        i, seed = item if isinstance(item, tuple) else (item, None)
        image = torch.from_numpy(np.array(self.arrays.images[i], copy=True))
        if self.transform is not None or self.crop is not None:
            if seed is None:
                image = self._augment(image, i)
            else:
                with torch.random.fork_rng(devices=[]):
                    torch.manual_seed(seed)
                    image = self._augment(image, i)
        return image, torch.as_tensor(np.array(self.arrays.targets[i], copy=True))
