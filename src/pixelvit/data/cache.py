"""Decode a list of image files once into a ``.npy`` cache (memory-mapped on later loads).

A cache ``<stem>`` is three files: ``<stem>.npy`` (uint8 (N, 3, H, W)), ``<stem>.labels.npy``
(int64 (N,)) and ``<stem>.json``, written last, which marks the cache complete and records a
fingerprint of the source files (names, byte sizes, labels, classes): change any and it is rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ..io import atomic_path, write_json_atomic
from .base import ImageArrays
from .imageio import auto_workers, decode_into, decode_pool


def fingerprint(files: Sequence[Path], targets: np.ndarray, classes: Sequence[str], base: Path, content: bool = True) -> str:
    """Hex digest of the file names (relative to ``base``), their contents (BLAKE2b, if ``content``),
    targets and classes: an image edited in place, even to the same size, invalidates a cache built
    from it. ``content=False`` (names only) is for ImageNet-sized trees, whose cache is built on request."""
    digest = hashlib.sha256(json.dumps(list(classes)).encode())
    digest.update(np.ascontiguousarray(targets, dtype=np.int64).tobytes())
    prefix = os.path.join(base, "")
    for f in files:
        name = str(f)
        name = name[len(prefix) :] if name.startswith(prefix) else os.path.relpath(name, base)
        try:
            body = hashlib.blake2b(f.read_bytes(), digest_size=16).hexdigest() if content else ""
        except FileNotFoundError:
            raise FileNotFoundError(f"image file {f} is missing") from None
        digest.update(f"{name}\t{body}\n".encode())
    return digest.hexdigest()


def save_npy_atomic(path: Path, array: np.ndarray) -> None:
    """``np.save`` to ``path`` through a temporary file (a reader never sees half an array)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.save(f, array)


def _paths(stem: Path) -> tuple[Path, Path, Path]:
    return stem.with_name(stem.name + ".npy"), stem.with_name(stem.name + ".labels.npy"), stem.with_name(stem.name + ".json")


def _writable(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            return True
    except OSError:
        return False


def _load(stem: Path, digest: str, size: tuple[int, int]) -> ImageArrays | None:
    images_path, labels_path, meta_path = _paths(stem)
    try:
        meta = json.loads(meta_path.read_text())
        if meta.get("fingerprint") != digest or tuple(meta.get("size", ())) != tuple(size):
            return None
        images = np.load(images_path, mmap_mode="r")
        labels = np.load(labels_path)
        if images.shape != (meta["count"], 3, *size) or labels.shape != (meta["count"],):
            return None
        return ImageArrays(images, labels, list(meta["classes"]))
    except (OSError, ValueError, KeyError, TypeError):  # missing, partial or foreign files: rebuild
        return None


def cached_decode(
    stem: Path,
    files: Sequence[Path],
    targets: np.ndarray,
    classes: Sequence[str],
    size: tuple[int, int],
    workers: int | None = None,
    desc: str = "decoding",
) -> ImageArrays:
    """Images of ``files`` fitted to ``size`` as uint8 (N, 3, H, W), from the cache at ``stem`` or built into it.

    A folder that cannot be written to gets a warning and an in-memory array instead.
    """
    digest = fingerprint(files, targets, classes, base=stem.parent)
    cached = _load(stem, digest, size)
    if cached is not None:
        return cached
    workers = auto_workers(len(files)) if workers is None else workers
    shape = (len(files), 3, *size)
    targets = np.asarray(targets, dtype=np.int64)
    with tqdm(total=len(files), desc=desc, unit="img", disable=None) as bar, decode_pool(workers) as pool:
        if not _writable(stem.parent):
            warnings.warn(f"cannot write a cache in {stem.parent}; decoding into memory (again on every load)", stacklevel=3)
            images = np.empty(shape, dtype=np.uint8)
            decode_into(images, files, pool, bar)
            return ImageArrays(images, targets, list(classes))
        images_path, labels_path, meta_path = _paths(stem)
        with atomic_path(images_path) as tmp:
            array = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=shape)
            decode_into(array, files, pool, bar)
            array.flush()
            del array
    save_npy_atomic(labels_path, targets)
    write_json_atomic(meta_path, {"count": len(files), "size": list(size), "classes": list(classes), "fingerprint": digest})
    return ImageArrays(np.load(images_path, mmap_mode="r"), np.load(labels_path), list(classes))
