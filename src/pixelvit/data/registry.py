"""Datasets by name: what each is (classes, channels, size, normalisation) and how to load it.

``load_arrays("cifar100", root, "train", (32, 32))`` -> :class:`ImageArrays`. Each spec's
``how_to_get`` says which files are expected where and how to obtain them.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from . import cifar100, depth_folder, digits, fashion_mnist, flowers102, imagefolder, imagenet, nyu_depth
from .base import ImageArrays
from .errors import check_split
from .imageio import as_size

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

Loader = Callable[[Path | None, str, tuple[int, int] | None], ImageArrays]


@dataclass(frozen=True)
class DatasetSpec:
    """One dataset.

    native_size: (H, W) of its images as stored, or None when they vary (they are then fitted to
    the requested size). mean / std: per channel, in [0, 1] units. splits: the valid split names
    (None: any folder under root). download: fetches the files into a root (None: not offered).
    """

    name: str
    num_classes: int | None
    channels: int
    native_size: tuple[int, int] | None
    mean: tuple[float, ...]
    std: tuple[float, ...]
    splits: tuple[str, ...] | None
    load: Loader
    how_to_get: str
    download: Callable[[Path], Path] | None = None


DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        DatasetSpec(
            "digits", 10, 1, (8, 8), digits.MEAN, digits.STD, digits.SPLITS, digits.load_digits_arrays, digits.HOW_TO_GET
        ),
        DatasetSpec(
            "cifar100",
            100,
            3,
            (32, 32),
            (0.5071, 0.4865, 0.4409),
            (0.2673, 0.2564, 0.2762),
            cifar100.SPLITS,
            cifar100.load_cifar100,
            cifar100.HOW_TO_GET,
            cifar100.download_cifar100,
        ),
        # No agreed published statistics: ImageNet's, the usual choice for natural photos.
        DatasetSpec(
            "flowers102",
            102,
            3,
            None,
            IMAGENET_MEAN,
            IMAGENET_STD,
            flowers102.SPLITS,
            flowers102.load_flowers102,
            flowers102.HOW_TO_GET,
            flowers102.download_flowers102,
        ),
        DatasetSpec(
            "imagenet", 1000, 3, None, IMAGENET_MEAN, IMAGENET_STD, imagenet.SPLITS, imagenet.load_imagenet, imagenet.HOW_TO_GET
        ),
        DatasetSpec(
            "fashion_mnist",
            10,
            1,
            (28, 28),
            fashion_mnist.MEAN,
            fashion_mnist.STD,
            fashion_mnist.SPLITS,
            fashion_mnist.load_fashion_mnist,
            fashion_mnist.HOW_TO_GET,
            fashion_mnist.download_fashion_mnist,
        ),
        DatasetSpec(
            "imagefolder", None, 3, None, IMAGENET_MEAN, IMAGENET_STD, None, imagefolder.load_imagefolder, imagefolder.HOW_TO_GET
        ),
        # Depth (targets: float32 (N, H, W) metres, 0 = invalid); ImageNet statistics for the photos.
        DatasetSpec(
            "nyu_depth_v2",
            None,
            3,
            None,
            IMAGENET_MEAN,
            IMAGENET_STD,
            nyu_depth.SPLITS,
            nyu_depth.load_nyu_depth_v2,
            nyu_depth.HOW_TO_GET,
        ),
        DatasetSpec(
            "depth_folder",
            None,
            3,
            None,
            IMAGENET_MEAN,
            IMAGENET_STD,
            None,
            depth_folder.load_depth_folder,
            depth_folder.HOW_TO_GET,
        ),
    )
}


def get_dataset_spec(name: str) -> DatasetSpec:
    """The spec for ``name`` (case and ``-``/``_`` ignored); ``ValueError`` listing the known names otherwise."""
    key = name.strip().lower().replace("-", "_")
    if key in DATASETS:
        return DATASETS[key]
    close = difflib.get_close_matches(key, DATASETS, n=3, cutoff=0.5)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    raise ValueError(f"unknown dataset {name!r}; known datasets: {', '.join(DATASETS)}.{hint}")


def load_arrays(
    name: str,
    root: str | Path | None = None,
    split: str = "train",
    img_size: int | Sequence[int] | None = None,
    *,
    download: bool = False,
) -> ImageArrays:
    """Load one split of dataset ``name`` as uint8 (N, C, H, W) images and int64 (N,) targets.

    img_size: an int or (H, W); None keeps the native size (flowers102: 32×32; imagefolder needs one).
    download: first fetch the files into ``root`` when they are missing (where the spec offers it).
    """
    spec = get_dataset_spec(name)
    if spec.splits is not None:
        check_split(spec.name, split, spec.splits)
    size = None if img_size is None else as_size(img_size)
    root = None if root is None else Path(root).expanduser()
    if download:
        if spec.download is None:
            raise ValueError(f"{spec.name} cannot be downloaded automatically.\n{spec.how_to_get}")
        if root is None:
            raise ValueError(f"download=True needs root= (where to put {spec.name}).\n{spec.how_to_get}")
        spec.download(root)
    return spec.load(root, split, size)
