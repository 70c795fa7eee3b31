"""One split of a dataset as the config's data section describes it: size checked or resized,
truncated, pixel-permuted."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..config import ConfigError, DataConfig
from .base import ImageArrays
from .imageio import resize_array
from .imagenet import load_imagenet
from .permutation import permute_pixels, swap_permutation
from .registry import DatasetSpec, get_dataset_spec, load_arrays


def load_split(d: DataConfig, split: str, limit: int | None, train: bool = False) -> tuple[DatasetSpec, ImageArrays]:
    """Arrays of one split at ``data.img_size``, refusing a size the dataset does not have (unless
    ``data.resize``); pixel-permuted when ``data.permute_pairs`` > 0 (see :mod:`.permutation`).

    ``train`` with ``data.source_size``: the arrays are the crop source instead, at that side (ImageNet: the
    squashed whole images with their aspect ratios; a fixed-size dataset: its images at their native size,
    which must be ``source_size``), to be cropped to ``img_size`` by :mod:`.source_crop` (and pixel-permuted
    after the crop, not here).
    """
    spec = get_dataset_spec(d.name)
    size = tuple(d.img_size)
    source = d.source_size if train else None
    if spec.name == "imagenet" and (d.source_size or d.crop_pct != 1.0):
        if split == "train" and not train:
            raise ConfigError(f"the train split of a crop-from-source cache holds {d.source_size}px sources; evaluate on val")
        arrays = load_imagenet(d.root and Path(d.root).expanduser(), split, size, d.source_size, d.crop_pct)
        size = (source, source) if source and split == "train" else size
    elif d.crop_pct != 1.0:
        raise ConfigError(f"data.crop_pct={d.crop_pct} is implemented for imagenet (its val cache); set 1.0 for {d.name}")
    elif source is not None:
        if spec.native_size != (source, source):
            raise ConfigError(f"data.source_size={source}: {d.name}'s images are {spec.native_size}; crop from them at their "
                              f"native size (data.source_size={spec.native_size and spec.native_size[0]})")  # fmt: skip
        arrays = load_arrays(d.name, d.root, split, spec.native_size, download=d.download)
        size = (source, source)
    else:
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
        arrays.aspect = None if arrays.aspect is None else arrays.aspect[:limit]
    if d.permute_pairs > 0 and source is None:  # crop sources are permuted after the crop (tasks/classify.train_dataset)
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


def train_and_validation(d: DataConfig, train: bool = False) -> tuple[DatasetSpec, ImageArrays, ImageArrays | None]:
    """(spec, training arrays, validation arrays or None) as the data section describes them: the training split
    (``data.limit_train``), less ``data.val_fraction`` held out by ``data.val_seed``, or ``data.val_split`` (at most
    ``data.limit_eval`` images). The validation set chooses ``best/``; the evaluation split is never used for that.
    ``train``: as :func:`load_split` (the training arrays are the crop source when ``data.source_size`` is set)."""
    if train and d.source_size is not None and d.val_fraction > 0:
        raise ConfigError(
            f"data.val_fraction holds images out of the training split, which is a {d.source_size}px crop source here "
            "(data.source_size): name a validation split of evaluation-size images with data.val_split instead"
        )
    spec, train_arrays = load_split(d, d.train_split, d.limit_train, train=train)
    if d.val_split is not None:
        return spec, train_arrays, load_split(d, d.val_split, d.limit_eval)[1]
    if d.val_fraction > 0:
        train_arrays, val = hold_out(train_arrays, d.val_fraction, d.val_seed)
        return spec, train_arrays, val
    return spec, train_arrays, None
