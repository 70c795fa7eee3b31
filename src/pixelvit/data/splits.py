"""One split of a dataset as the config's data section describes it: size checked or resized,
truncated, pixel-permuted."""

from __future__ import annotations

import numpy as np

from ..config import ConfigError, DataConfig
from .base import ImageArrays
from .imageio import resize_array
from .permutation import permute_pixels, swap_permutation
from .registry import DatasetSpec, get_dataset_spec, load_arrays


def load_split(d: DataConfig, split: str, limit: int | None) -> tuple[DatasetSpec, ImageArrays]:
    """Arrays of one split at ``data.img_size``, refusing a size the dataset does not have (unless
    ``data.resize``); pixel-permuted when ``data.permute_pairs`` > 0 (see :mod:`.permutation`)."""
    spec = get_dataset_spec(d.name)
    size = tuple(d.img_size)
    resize = spec.native_size is not None and tuple(spec.native_size) != size
    if resize and not d.resize:
        raise ConfigError(
            f"data.img_size={list(size)} does not match {d.name}'s images, which are "
            f"{spec.native_size[0]}x{spec.native_size[1]}; set data.img_size={list(spec.native_size)} "
            "(or data.resize=true to resize them)"
        )
    arrays = load_arrays(d.name, d.root, split, tuple(spec.native_size) if resize else size, download=d.download)
    if resize:
        arrays.images = resize_array(arrays.images, size)
    if arrays.image_size != size:
        raise ConfigError(f"{d.name}/{split} gave {arrays.image_size} images but data.img_size is {list(size)}")
    if limit is not None:
        arrays.images, arrays.targets = arrays.images[:limit], arrays.targets[:limit]
    if d.permute_pairs > 0:
        perm = swap_permutation(size, d.permute_pairs, d.permute_delta, d.permute_seed)
        arrays.images = permute_pixels(arrays.images, perm)
    return spec, arrays


def hold_out(arrays: ImageArrays, fraction: float, seed: int) -> tuple[ImageArrays, ImageArrays]:
    """(the rest, a held-out validation set): ``round(fraction × N)`` images (at least one, and one left to
    train on) drawn by a generator seeded with ``seed``; both keep the images' order."""
    n = len(arrays.images)
    if n < 2:
        raise ConfigError(f"data.val_fraction={fraction}: the training split has {n} image, none left to hold out")
    count = min(max(1, round(fraction * n)), n - 1)
    chosen = np.zeros(n, dtype=bool)
    chosen[np.random.default_rng(seed).permutation(n)[:count]] = True
    keep, held = np.flatnonzero(~chosen), np.flatnonzero(chosen)

    def subset(index: np.ndarray) -> ImageArrays:
        return ImageArrays(arrays.images[index], arrays.targets[index], list(arrays.classes))

    return subset(keep), subset(held)


def train_and_validation(d: DataConfig) -> tuple[DatasetSpec, ImageArrays, ImageArrays | None]:
    """(spec, training arrays, validation arrays or None) as the data section describes them: the training split
    (``data.limit_train``), less ``data.val_fraction`` held out by ``data.val_seed``, or ``data.val_split`` (at most
    ``data.limit_eval`` images). The validation set chooses ``best/``; the evaluation split is never used for that."""
    spec, train = load_split(d, d.train_split, d.limit_train)
    if d.val_split is not None:
        return spec, train, load_split(d, d.val_split, d.limit_eval)[1]
    if d.val_fraction > 0:
        train, val = hold_out(train, d.val_fraction, d.val_seed)
        return spec, train, val
    return spec, train, None
