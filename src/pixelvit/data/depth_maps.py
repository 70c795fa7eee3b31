"""Helpers shared by the depth datasets: fit an (image, depth) pair to a size, cache the result.

Geometry: both maps are centre-cropped to the target's aspect ratio (:func:`crop_box`), then
resized: the image bicubic with antialiasing (as every other dataset here), the depth map with
:func:`median_pool_depth`. Cropping first (rather than :func:`pixelvit.data.imageio.fit_images`'
resize-then-crop) gives both maps exactly the same field of view.

A depth cache ``<stem>`` is three files: ``<stem>.npy`` (uint8 (N, 3, H, W) images),
``<stem>.depth.npy`` (float32 (N, H, W) metres, 0 = invalid) and ``<stem>.json``, written last,
which marks the cache complete and records the source's fingerprint: change it and the cache is rebuilt.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torchvision.transforms import InterpolationMode
from torchvision.transforms.v2 import functional as F

from ..io import write_json_atomic
from .base import ImageArrays
from .cache import save_npy_atomic

# Bump when the resize method changes: old caches are then rebuilt.
RESIZE_METHOD = "crop-aspect+bicubic-aa/lower-median-valid-v1"


def crop_box(h: int, w: int, size: tuple[int, int]) -> tuple[int, int, int, int]:
    """(top, left, height, width) of the largest centred window of ``size``'s aspect ratio in an h×w map."""
    height, width = size
    if w * height > h * width:  # too wide: crop columns
        cw = max(1, round(h * width / height))
        return 0, (w - cw) // 2, h, cw
    ch = max(1, round(w * height / width))
    return (h - ch) // 2, 0, ch, w


def resize_images(images: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """uint8 (N, C, h, w) -> uint8 (N, C, H, W): centre crop to the aspect ratio, bicubic antialiased resize."""
    top, left, ch, cw = crop_box(images.shape[-2], images.shape[-1], size)
    x = torch.from_numpy(np.ascontiguousarray(images[..., top : top + ch, left : left + cw]))
    if (ch, cw) != tuple(size):
        x = F.resize(x, list(size), interpolation=InterpolationMode.BICUBIC, antialias=True)
    return x.numpy()


def _bins(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray]:
    """Adaptive-pooling bins: input indices (n_out, longest bin) of output cell i, and which are real.

    Cell i covers [floor(i·n_in/n_out), ceil((i+1)·n_in/n_out)); for an integer factor f that is
    exactly the f inputs f·i .. f·i+f-1.
    """
    starts = np.arange(n_out) * n_in // n_out
    ends = -(-np.arange(1, n_out + 1) * n_in // n_out)
    length = int((ends - starts).max())
    idx = starts[:, None] + np.arange(length)[None, :]
    return np.minimum(idx, n_in - 1), idx < ends[:, None]


def median_pool_depth(depth: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """float (N, h, w) metres (0, negative or NaN = invalid) -> float32 (N, H, W), 0 where a cell has no valid pixel.

    Each output cell takes the **lower median of the valid pixels** in its block (the adaptive-pooling
    block: 10×10 pixels for 480×640 -> 48×64). Why not interpolation or a block mean: at an occlusion
    edge they average the near and the far surface into a depth that exists nowhere in the scene,
    and they spread invalid zeros into valid pixels. The lower median is always a depth that was
    actually measured in the block, the majority surface wins at an edge, and isolated outliers are
    ignored; unlike nearest-neighbour sampling (one pixel of the hundred) it uses every measurement.
    """
    n, h, w = depth.shape
    height, width = size
    rows, row_ok = _bins(h, height)
    cols, col_ok = _bins(w, width)
    blocks = np.asarray(depth, dtype=np.float32)[:, rows[:, :, None, None], cols[None, None, :, :]]  # (N, H, bh, W, bw)
    inside = row_ok[:, :, None, None] & col_ok[None, None, :, :]
    with np.errstate(invalid="ignore"):
        valid = inside & (blocks > 0) & np.isfinite(blocks)
    blocks = np.where(valid, blocks, np.inf).transpose(0, 1, 3, 2, 4).reshape(n, height, width, -1)
    blocks.sort(axis=-1)  # valid values first, ascending; np.inf after them
    count = np.isfinite(blocks).sum(axis=-1)
    lower_median = np.take_along_axis(blocks, np.maximum(count - 1, 0)[..., None] // 2, axis=-1)[..., 0]
    return np.where(count > 0, lower_median, 0.0).astype(np.float32)


def fit_depth_pair(images: np.ndarray, depths: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """uint8 (N, 3, h, w) images and float (N, h, w) depths of the same h×w -> (N, 3, H, W) uint8, (N, H, W) float32."""
    if images.shape[-2:] != depths.shape[-2:]:
        raise ValueError(f"images are {images.shape[-2]}x{images.shape[-1]} but depths {depths.shape[-2]}x{depths.shape[-1]}")
    top, left, ch, cw = crop_box(depths.shape[-2], depths.shape[-1], size)
    return resize_images(images, size), median_pool_depth(depths[:, top : top + ch, left : left + cw], size)


def _paths(stem: Path) -> tuple[Path, Path, Path]:
    return stem.with_name(stem.name + ".npy"), stem.with_name(stem.name + ".depth.npy"), stem.with_name(stem.name + ".json")


def _load(stem: Path, digest: str, size: tuple[int, int]) -> ImageArrays | None:
    images_path, depth_path, meta_path = _paths(stem)
    try:
        meta = json.loads(meta_path.read_text())
        if meta.get("fingerprint") != digest or tuple(meta.get("size", ())) != tuple(size):
            return None
        images, depths = np.load(images_path), np.load(depth_path)
        if images.shape != (meta["count"], 3, *size) or depths.shape != (meta["count"], *size):
            return None
        return ImageArrays(images, depths)
    except (OSError, ValueError, KeyError, TypeError):  # missing, partial or foreign files: rebuild
        return None


def cached_depth_arrays(
    stem: Path, digest: str, size: tuple[int, int], build: Callable[[], tuple[np.ndarray, np.ndarray]]
) -> ImageArrays:
    """The (images, depths) pair cached at ``stem`` for ``digest``, or ``build()`` and cache it.

    A folder that cannot be written to gets a warning and the arrays in memory (rebuilt on every load).
    """
    digest = f"{digest}/{RESIZE_METHOD}"
    cached = _load(stem, digest, size)
    if cached is not None:
        return cached
    images, depths = build()
    arrays = ImageArrays(np.ascontiguousarray(images), np.ascontiguousarray(depths, dtype=np.float32))
    images_path, depth_path, meta_path = _paths(stem)
    try:
        save_npy_atomic(images_path, arrays.images)
        save_npy_atomic(depth_path, arrays.targets)
        write_json_atomic(meta_path, {"count": len(images), "size": list(size), "fingerprint": digest})
    except OSError as e:
        warnings.warn(f"cannot write a cache at {stem}: {e}; keeping the arrays in memory (rebuilt on every load)", stacklevel=3)
    return arrays
