"""CIFAR-100 in its "python version" format (what torchvision downloads): 32×32 RGB, 100 classes.

``ROOT/cifar-100-python/{train,test,meta}`` are pickles: ``data`` (N, 3072) uint8 (R, G, B planes
of 32×32), ``fine_labels`` (N ints), and in ``meta`` the ``fine_label_names``. They are read with a
restricted unpickler (:mod:`.safepickle`), so a tampered file cannot run code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .base import ImageArrays
from .download import download_with_torchvision
from .errors import check_split, need_root, not_found
from .imageio import resize_array
from .safepickle import load_restricted

FOLDER = "cifar-100-python"
SPLITS = ("train", "test")
HOW_TO_GET = (
    "CIFAR-100 is expected as ROOT/cifar-100-python/{train,test,meta} (the 'python version' pickles).\n"
    "Get it on a machine with network access with load_arrays('cifar100', ROOT, download=True), or\n"
    "torchvision.datasets.CIFAR100(ROOT, download=True), or download cifar-100-python.tar.gz from\n"
    "https://www.cs.toronto.edu/~kriz/cifar.html and run: tar xzf cifar-100-python.tar.gz -C ROOT"
)


def _folder(root: Path) -> Path:
    """``root/cifar-100-python``, or ``root`` itself when the pickles lie directly in it."""
    return root if (root / "meta").is_file() and not (root / FOLDER).is_dir() else root / FOLDER


def _str_keys(obj: Any, path: Path) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: expected a pickled dict, got {type(obj).__name__}")
    return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in obj.items()}


def _field(batch: dict[str, Any], key: str, path: Path) -> Any:
    if key not in batch:
        raise ValueError(f"{path}: no {key!r} entry (found {', '.join(map(str, batch))}); is this a CIFAR-100 file?")
    return batch[key]


def _pixels(data: Any, path: Path) -> np.ndarray:
    """``data`` (an array, nested lists or bytes) -> uint8 (N, 3, 32, 32)."""
    array = np.frombuffer(data, dtype=np.uint8) if isinstance(data, bytes | bytearray) else np.asarray(data)
    if array.dtype != np.uint8:
        if array.dtype.kind not in "iu" or (array.size and (array.min() < 0 or array.max() > 255)):
            raise ValueError(f"{path}: 'data' must hold integers 0..255, got {array.dtype}")
        array = array.astype(np.uint8)
    if array.size % 3072:
        raise ValueError(f"{path}: 'data' has {array.size} values, not a multiple of 3072 (3×32×32 per image)")
    return np.ascontiguousarray(array.reshape(-1, 3, 32, 32))


def read_split(folder: Path, split: str) -> ImageArrays:
    """Read ``folder/{split}`` and ``folder/meta`` as uint8 (N, 3, 32, 32) images, fine labels and names."""
    batch = _str_keys(load_restricted(folder / split), folder / split)
    meta = _str_keys(load_restricted(folder / "meta"), folder / "meta")
    images = _pixels(_field(batch, "data", folder / split), folder / split)
    targets = np.asarray(_field(batch, "fine_labels", folder / split), dtype=np.int64)
    classes = [c.decode() if isinstance(c, bytes) else str(c) for c in _field(meta, "fine_label_names", folder / "meta")]
    if targets.size and (targets.min() < 0 or targets.max() >= len(classes)):
        raise ValueError(f"{folder / split}: fine labels must lie in 0..{len(classes) - 1}")
    return ImageArrays(images, targets, classes)


def download_cifar100(root: Path) -> Path:
    """Download and extract CIFAR-100 into ``root`` with torchvision unless it is already there."""
    root = Path(root).expanduser()
    if all((_folder(root) / name).is_file() for name in (*SPLITS, "meta")):
        return root

    def fetch(path: str) -> object:
        from torchvision.datasets import CIFAR100

        return CIFAR100(path, train=True, download=True)

    return download_with_torchvision("cifar100", root, fetch, HOW_TO_GET)


def load_cifar100(
    root: Path | None, split: str = "train", img_size: tuple[int, int] | None = None, *, download: bool = False
) -> ImageArrays:
    """Split ``train`` (50,000) or ``test`` (10,000) as uint8 (N, 3, H, W), 32×32 unless ``img_size``."""
    check_split("cifar100", split, SPLITS)
    root = need_root("cifar100", root, HOW_TO_GET)
    if download:
        download_cifar100(root)
    folder = _folder(root)
    missing = [folder / name for name in (split, "meta") if not (folder / name).is_file()]
    if missing:
        raise not_found("cifar100", missing, HOW_TO_GET)
    arrays = read_split(folder, split)
    arrays.images = resize_array(arrays.images, img_size)
    return arrays
