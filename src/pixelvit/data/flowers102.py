"""Oxford 102 Flowers in torchvision's layout: 8,189 RGB photos, 102 classes, splits train/val/test.

``ROOT/flowers-102/jpg/image_00001.jpg ...``, ``imagelabels.mat`` (``labels``: 1-based class of each
image) and ``setid.mat`` (``trnid`` / ``valid`` / ``tstid``: 1-based image ids of each split). Images
are fitted to ``img_size`` (default 32×32: shorter side resized, bicubic antialiased, then center
crop) once, and cached as ``ROOT/flowers-102/cache_{split}_{H}x{W}.npy`` (+ ``.labels.npy``, ``.json``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .base import ImageArrays
from .cache import cached_decode
from .download import download_with_torchvision
from .errors import check_split, need_root, not_found

FOLDER = "flowers-102"
SPLITS = ("train", "val", "test")
SET_KEYS = {"train": "trnid", "val": "valid", "test": "tstid"}
DEFAULT_SIZE = (32, 32)
NUM_CLASSES = 102
HOW_TO_GET = (
    "Oxford 102 Flowers is expected as ROOT/flowers-102/{jpg/image_00001.jpg ..., imagelabels.mat, setid.mat}.\n"
    "Get it on a machine with network access with load_arrays('flowers102', ROOT, download=True), or\n"
    "torchvision.datasets.Flowers102(ROOT, download=True), or download 102flowers.tgz, imagelabels.mat and\n"
    "setid.mat from https://www.robots.ox.ac.uk/~vgg/data/flowers/102/ into ROOT/flowers-102 and there run:\n"
    "tar xzf 102flowers.tgz  (it unpacks the jpg/ folder)"
)


def _folder(root: Path) -> Path:
    """``root/flowers-102``, or ``root`` itself when the .mat files lie directly in it."""
    return root if (root / "setid.mat").is_file() and not (root / FOLDER).is_dir() else root / FOLDER


def class_names() -> list[str]:
    """The 102 class names (torchvision's list when it has one, else ``class_001`` ...)."""
    from torchvision.datasets import Flowers102

    names = getattr(Flowers102, "classes", None)
    return list(names) if names is not None and len(names) == NUM_CLASSES else [f"class_{i:03d}" for i in range(1, 103)]


def split_files(folder: Path, split: str) -> tuple[list[Path], np.ndarray]:
    """Image paths of ``split`` and their int64 (N,) 0-based labels, read from the two .mat files."""
    from scipy.io import loadmat

    labels = np.atleast_1d(loadmat(folder / "imagelabels.mat", squeeze_me=True)["labels"]).astype(np.int64)
    ids = np.atleast_1d(loadmat(folder / "setid.mat", squeeze_me=True)[SET_KEYS[split]]).astype(np.int64)
    if ids.size == 0:
        raise ValueError(f"{folder / 'setid.mat'}: split {split} ({SET_KEYS[split]}) lists no images")
    if ids.min() < 1 or ids.max() > len(labels):
        raise ValueError(f"{folder / 'setid.mat'}: image ids must lie in 1..{len(labels)} (imagelabels.mat's length)")
    targets = labels[ids - 1] - 1
    if targets.min() < 0 or targets.max() >= NUM_CLASSES:
        raise ValueError(f"{folder / 'imagelabels.mat'}: labels must lie in 1..{NUM_CLASSES}")
    return [folder / "jpg" / f"image_{i:05d}.jpg" for i in ids], targets


def download_flowers102(root: Path) -> Path:
    """Download Oxford 102 Flowers into ``root`` with torchvision unless it is already there."""
    root = Path(root).expanduser()
    if all((_folder(root) / name).exists() for name in ("jpg", "imagelabels.mat", "setid.mat")):
        return root

    def fetch(path: str) -> object:
        from torchvision.datasets import Flowers102

        return Flowers102(path, download=True)

    return download_with_torchvision("flowers102", root, fetch, HOW_TO_GET)


def load_flowers102(
    root: Path | None,
    split: str = "train",
    img_size: tuple[int, int] | None = None,
    *,
    download: bool = False,
    workers: int | None = None,
) -> ImageArrays:
    """Split ``train`` / ``val`` (1,020 each) or ``test`` (6,149) as uint8 (N, 3, H, W), 32×32 unless ``img_size``.

    The first load of a split and size decodes its JPEGs (``workers`` processes; default: by count)
    and caches them; later loads memory-map the cache.
    """
    check_split("flowers102", split, SPLITS)
    root = need_root("flowers102", root, HOW_TO_GET)
    if download:
        download_flowers102(root)
    folder = _folder(root)
    missing = [folder / name for name in ("jpg", "imagelabels.mat", "setid.mat") if not (folder / name).exists()]
    if missing:
        raise not_found("flowers102", missing, HOW_TO_GET)
    size = tuple(img_size or DEFAULT_SIZE)
    files, targets = split_files(folder, split)
    stem = folder / f"cache_{split}_{size[0]}x{size[1]}"
    return cached_decode(stem, files, targets, class_names(), size, workers=workers, desc=f"flowers102 {split}")
