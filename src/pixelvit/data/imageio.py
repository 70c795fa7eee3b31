"""Image helpers shared by the dataset modules: decode one file, resize arrays, decode many files.

Every resize goes through :func:`fit_images`: scale (bicubic, antialiased) so the image covers the
target, then center crop. For an image of the target's aspect ratio that is a plain resize.
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing
import os
from collections.abc import Iterator, Sequence
from multiprocessing.pool import Pool
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torchvision.transforms import InterpolationMode
from torchvision.transforms.v2 import functional as F

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp"})


class ImageDecodeError(RuntimeError):
    """An image file could not be decoded; the message names the file."""


def as_size(img_size: int | Sequence[int]) -> tuple[int, int]:
    """``28`` or ``(28, 28)`` -> ``(28, 28)`` (height, width), checked positive."""
    size = (img_size, img_size) if isinstance(img_size, int) else tuple(int(s) for s in img_size)
    if len(size) != 2 or min(size) < 1:
        raise ValueError(f"img_size must be a positive int or a (height, width) pair, got {img_size!r}")
    return size


def fit_images(images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """uint8 (..., C, h, w) -> (..., C, H, W): bicubic antialiased resize to cover ``size``, then center crop."""
    h, w = images.shape[-2:]
    height, width = size
    scale = max(height / h, width / w)
    cover = [max(height, round(h * scale)), max(width, round(w * scale))]
    if cover != [h, w]:
        images = F.resize(images, cover, interpolation=InterpolationMode.BICUBIC, antialias=True)
    if cover != [height, width]:
        images = F.center_crop(images, [height, width])
    return images


def resize_array(images: np.ndarray, size: tuple[int, int] | None, chunk: int = 1024) -> np.ndarray:
    """uint8 (N, C, h, w) -> uint8 (N, C, H, W) via :func:`fit_images`; returned as is when already that size."""
    if size is None or tuple(images.shape[-2:]) == tuple(size):
        return images
    out = np.empty((len(images), images.shape[1], *size), dtype=np.uint8)
    for lo in range(0, len(images), chunk):
        out[lo : lo + chunk] = fit_images(torch.from_numpy(np.ascontiguousarray(images[lo : lo + chunk])), size).numpy()
    return out


def decode_image(path: str | os.PathLike, size: tuple[int, int], mode: str = "RGB") -> np.ndarray:
    """Decode one file to uint8 (C, H, W) (C = 3 for ``"RGB"``, 1 for ``"L"``), fitted to ``size``.

    Raises :class:`ImageDecodeError` naming ``path`` when the file is missing, truncated or not an image.
    """
    try:
        with Image.open(path) as image:
            h, w = image.height, image.width
            scale = max(size[0] / h, size[1] / w)
            # JPEG only: decode at a reduced scale, still at least twice the size the resize needs.
            image.draft(None, (math.ceil(2 * w * scale), math.ceil(2 * h * scale)))
            if image.mode == "P" and "transparency" in image.info:
                image = image.convert("RGBA")
            pixels = np.array(image.convert(mode))
    except Exception as e:
        raise ImageDecodeError(f"cannot decode image {path}: {e}. Replace or delete the file and run again.") from e
    tensor = torch.from_numpy(pixels)
    tensor = tensor.unsqueeze(0) if tensor.ndim == 2 else tensor.permute(2, 0, 1)
    return fit_images(tensor, size).contiguous().numpy()


def _decode_task(task: tuple[Path, tuple[int, int]]) -> np.ndarray:
    return decode_image(*task)


def _init_worker() -> None:
    torch.set_num_threads(1)


@contextlib.contextmanager
def decode_pool(workers: int) -> Iterator[Pool | None]:
    """A process pool for :func:`decode_into` (``None`` when ``workers <= 1``: decode in this process)."""
    if workers <= 1:
        yield None
        return
    with multiprocessing.get_context().Pool(workers, initializer=_init_worker) as pool:
        yield pool


def decode_into(out: np.ndarray, paths: Sequence[Path], pool: Pool | None = None, progress=None) -> None:
    """Decode ``paths`` in order into ``out`` (uint8 (N, 3, H, W), e.g. a slice of a memmap).

    ``progress``: an optional tqdm bar, advanced by one per image.
    """
    if len(out) != len(paths):
        raise ValueError(f"{len(paths)} files for an output of {len(out)} images")
    size = (int(out.shape[2]), int(out.shape[3]))
    tasks = [(Path(p), size) for p in paths]
    images = pool.imap(_decode_task, tasks, chunksize=16) if pool is not None else map(_decode_task, tasks)
    for i, image in enumerate(images):
        out[i] = image
        if progress is not None:
            progress.update(1)


def auto_workers(n_files: int) -> int:
    """Worker processes for decoding ``n_files``: 1 for a few hundred files, else up to 8 (one per CPU)."""
    return 1 if n_files < 500 else max(1, min(8, os.cpu_count() or 1))
