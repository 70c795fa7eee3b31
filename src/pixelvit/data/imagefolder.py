"""Any image classification set laid out as ``ROOT/<split>/<class>/<image>``.

Extensions .jpg .jpeg .png .bmp .webp (any case). Classes are the sorted class folder names of all
splits together, so an index means the same class in every split. Images are fitted to ``img_size``
(required) once and cached as ``ROOT/cache_{split}_{H}x{W}.npy`` (+ ``.labels.npy``, ``.json``).
"""

from __future__ import annotations

import os
from pathlib import Path

from .base import ImageArrays
from .cache import cached_decode
from .errors import need_root
from .folders import class_folders, scan_split

HOW_TO_GET = (
    "imagefolder reads your own images laid out as ROOT/<split>/<class>/<image>, e.g. ROOT/train/cat/001.jpg and\n"
    "ROOT/val/cat/101.png (extensions .jpg .jpeg .png .bmp .webp); pass img_size=(H, W) to choose the size."
)


def split_folders(root: Path) -> list[str]:
    """Sorted names of the folders in ``root`` (the splits)."""
    return sorted(e.name for e in os.scandir(root) if e.is_dir() and not e.name.startswith(".")) if root.is_dir() else []


def load_imagefolder(
    root: Path | None, split: str = "train", img_size: tuple[int, int] | None = None, *, workers: int | None = None
) -> ImageArrays:
    """Split ``root/<split>`` as uint8 (N, 3, H, W) fitted to ``img_size``, class names sorted."""
    root = need_root("imagefolder", root, HOW_TO_GET)
    if img_size is None:
        raise ValueError(f"imagefolder needs img_size=(H, W): its images have no common size.\n{HOW_TO_GET}")
    splits = split_folders(root)
    if split not in splits:
        found = f"the split folders there are: {', '.join(splits)}" if splits else "it has no split folders"
        raise FileNotFoundError(f"no split folder {root / split} ({found}).\n{HOW_TO_GET}")
    classes = sorted({name for s in splits for name in class_folders(root / s)})
    files, targets, classes = scan_split(root / split, classes)
    stem = root / f"cache_{split}_{img_size[0]}x{img_size[1]}"
    return cached_decode(stem, files, targets, classes, tuple(img_size), workers=workers, desc=f"imagefolder {split}")
