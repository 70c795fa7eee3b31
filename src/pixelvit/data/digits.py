"""scikit-learn's bundled handwritten digits: 1,797 grey 8×8 images, 10 classes, no download.

Pixel values 0..16 are scaled to 0..255 (``round(v * 255 / 16)``). The split is a fixed stratified
80/20 one (``train_test_split(random_state=0)``): 1,437 train and 360 test images.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from .base import ImageArrays
from .errors import check_split
from .imageio import resize_array

CLASSES = [str(d) for d in range(10)]
SPLITS = ("train", "test")
HOW_TO_GET = "Nothing to get: the digits ship with scikit-learn (sklearn.datasets.load_digits); no root is needed."
# Per-channel statistics of the train split in [0, 1] units (tests/data recomputes them).
MEAN = (0.3054,)
STD = (0.3760,)


@functools.lru_cache(maxsize=1)
def _all() -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = np.rint(digits.images * (255 / 16)).astype(np.uint8)[:, None]  # (1797, 1, 8, 8)
    targets = digits.target.astype(np.int64)
    train, test = train_test_split(np.arange(len(targets)), test_size=0.2, random_state=0, stratify=targets)
    return images, targets, {"train": np.sort(train), "test": np.sort(test)}


def load_digits_arrays(root: Path | None = None, split: str = "train", img_size: tuple[int, int] | None = None) -> ImageArrays:
    """Split ``train`` or ``test`` as uint8 (N, 1, H, W) (8×8 unless ``img_size``); ``root`` is ignored."""
    check_split("digits", split, SPLITS)
    images, targets, index = _all()
    rows = index[split]
    return ImageArrays(resize_array(images[rows], img_size), targets[rows].copy(), list(CLASSES))
