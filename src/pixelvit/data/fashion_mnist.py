"""Fashion-MNIST: 70,000 grey 28×28 images of clothing, 10 classes, splits train (60,000) / test (10,000).

Read from IDX files (:mod:`.idx`), gzipped or not, in either layout:

* torchvision's: ``ROOT/FashionMNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte``;
* Debian's ``dataset-fashion-mnist`` package: the ``.gz`` files directly in one folder,
  ``/usr/share/datasets/fashion-mnist`` (the default when no root is given).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .base import ImageArrays
from .download import download_with_torchvision
from .errors import check_split, not_found
from .idx import read_idx
from .imageio import resize_array

DEBIAN_ROOT = Path("/usr/share/datasets/fashion-mnist")
SPLITS = ("train", "test")
FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
# Train-split statistics in [0, 1] units (computed from the Debian package's files).
MEAN = (0.2860,)
STD = (0.3530,)
HOW_TO_GET = (
    "Fashion-MNIST is expected as IDX files ({train,t10k}-{images-idx3,labels-idx1}-ubyte, plain or .gz) in either\n"
    "  ROOT/FashionMNIST/raw/  (torchvision's layout: torchvision.datasets.FashionMNIST(ROOT, download=True),\n"
    "                          or load_arrays('fashion_mnist', ROOT, download=True))\n"
    f"  ROOT/                   (e.g. Debian's package: apt install dataset-fashion-mnist puts them in {DEBIAN_ROOT},\n"
    "                          the default root)"
)


def _folders(root: Path) -> tuple[Path, Path]:
    return root / "FashionMNIST" / "raw", root


def _find(root: Path, name: str) -> Path | None:
    return next(
        (folder / f"{name}{ext}" for folder in _folders(root) for ext in ("", ".gz") if (folder / f"{name}{ext}").is_file()), None
    )


def _default_root(root: Path | None) -> Path:
    if root is not None:
        return Path(root).expanduser()
    if DEBIAN_ROOT.is_dir():
        return DEBIAN_ROOT
    raise ValueError(f"fashion_mnist needs root= ({DEBIAN_ROOT} does not exist).\n{HOW_TO_GET}")


def download_fashion_mnist(root: Path) -> Path:
    """Download Fashion-MNIST into ``root`` (torchvision's layout) unless it is already there."""
    root = Path(root).expanduser()
    if all(_find(root, name) for names in FILES.values() for name in names):
        return root

    def fetch(path: str) -> object:
        from torchvision.datasets import FashionMNIST

        return FashionMNIST(path, train=True, download=True), FashionMNIST(path, train=False, download=True)

    return download_with_torchvision("fashion_mnist", root, fetch, HOW_TO_GET)


def load_fashion_mnist(
    root: Path | None = None, split: str = "train", img_size: tuple[int, int] | None = None, *, download: bool = False
) -> ImageArrays:
    """Split ``train`` or ``test`` as uint8 (N, 1, H, W), 28×28 unless ``img_size``."""
    check_split("fashion_mnist", split, SPLITS)
    root = _default_root(root)
    if download:
        download_fashion_mnist(root)
    images_path, labels_path = (_find(root, name) for name in FILES[split])
    if images_path is None or labels_path is None:
        raise not_found(
            "fashion_mnist", [f"{folder}/{name}[.gz]" for name in FILES[split] for folder in _folders(root)], HOW_TO_GET
        )
    images, targets = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3 or images.dtype != np.uint8 or targets.ndim != 1:
        raise ValueError(
            f"{images_path} / {labels_path}: expected uint8 (N, H, W) images and (N,) labels, "
            f"got {images.dtype} {images.shape} / {targets.shape}"
        )
    return ImageArrays(resize_array(images[:, None], img_size), targets.astype(np.int64), list(CLASSES))
