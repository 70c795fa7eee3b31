"""Scan a ``<split>/<class>/<image>`` folder tree (ImageNet layout, generic image folders)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .imageio import IMAGE_EXTENSIONS


def class_folders(split_dir: Path) -> list[str]:
    """Sorted names of the class folders in ``split_dir`` (hidden folders skipped)."""
    if not split_dir.is_dir():
        raise FileNotFoundError(f"no folder {split_dir}: expected {split_dir}/<class>/<image files>")
    return sorted(e.name for e in os.scandir(split_dir) if e.is_dir() and not e.name.startswith("."))


def image_files(folder: Path) -> list[Path]:
    """Image files under ``folder`` (recursively, extensions case-insensitive), in sorted order."""
    found = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        found += [Path(dirpath, f) for f in sorted(filenames) if Path(f).suffix.lower() in IMAGE_EXTENSIONS]
    return found


def scan_split(split_dir: Path, classes: Sequence[str] | None = None) -> tuple[list[Path], np.ndarray, list[str]]:
    """Files, int64 (N,) class indices and class names of ``split_dir/<class>/*``.

    ``classes``: the class list to index by (default: this folder's own, sorted); every class folder
    here must be in it. An empty split raises ``FileNotFoundError``.
    """
    own = class_folders(split_dir)
    classes = list(own if classes is None else classes)
    unknown = sorted(set(own) - set(classes))
    if unknown:
        raise ValueError(f"{split_dir} has class folders not in the class list: {', '.join(unknown[:10])}")
    index = {name: i for i, name in enumerate(classes)}
    files: list[Path] = []
    targets: list[int] = []
    for name in own:
        found = image_files(split_dir / name)
        files += found
        targets += [index[name]] * len(found)
    if not files:
        exts = ", ".join(sorted(IMAGE_EXTENSIONS))
        raise FileNotFoundError(f"no images in {split_dir}: expected {split_dir}/<class>/<image> with an extension in {exts}")
    return files, np.asarray(targets, dtype=np.int64), classes
