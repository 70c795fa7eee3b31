"""One split of a dataset as the config's data section describes it: size checked or resized,
truncated, pixel-permuted."""

from __future__ import annotations

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
