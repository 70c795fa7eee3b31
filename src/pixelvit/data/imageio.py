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


FIT_MODES = ("cover", "squash")


def eval_resize(size: int, crop_pct: float) -> int:
    """The short side an evaluation image is resized to before its centre ``size`` crop (timm: floor(size / crop_pct))."""
    return math.floor(size / crop_pct)


def decode_image(
    path: str | os.PathLike,
    size: tuple[int, int],
    mode: str = "RGB",
    fit: str = "cover",
    crop_pct: float = 1.0,
    with_aspect: bool = False,
) -> np.ndarray | tuple[np.ndarray, float]:
    """Decode one file to uint8 (C, H, W) (C = 3 for ``"RGB"``, 1 for ``"L"``); with ``with_aspect`` also
    the file's aspect ratio (width / height).

    ``fit="cover"``: resize to cover ``size`` then centre crop; with ``crop_pct`` < 1 the short side is first
    resized to :func:`eval_resize` (timm's evaluation transform). ``fit="squash"``: resize the whole image to
    ``size`` whatever its aspect ratio (a crop-from-source cache keeps the ratio beside it, :mod:`.source_crop`).
    Raises :class:`ImageDecodeError` naming ``path`` when the file is missing, truncated or not an image.
    """
    if fit not in FIT_MODES:
        raise ValueError(f"fit={fit!r}: choose one of {', '.join(FIT_MODES)}")
    try:
        with Image.open(path) as image:
            h, w = image.height, image.width
            scale = max(size[0] / h, size[1] / w) / crop_pct
            # JPEG only: decode at a reduced scale, still at least twice the size the resize needs.
            image.draft(None, (math.ceil(2 * w * scale), math.ceil(2 * h * scale)))
            if image.mode == "P" and "transparency" in image.info:
                image = image.convert("RGBA")
            pixels = np.array(image.convert(mode))
    except Exception as e:
        raise ImageDecodeError(f"cannot decode image {path}: {e}. Replace or delete the file and run again.") from e
    tensor = torch.from_numpy(pixels)
    tensor = tensor.unsqueeze(0) if tensor.ndim == 2 else tensor.permute(2, 0, 1)
    if fit == "squash":
        out = F.resize(tensor, list(size), interpolation=InterpolationMode.BICUBIC, antialias=True)
    elif crop_pct < 1:  # timm's eval transform: Resize(floor(size / crop_pct)) on the short side, CenterCrop(size)
        short = eval_resize(min(size), crop_pct)
        out = F.center_crop(F.resize(tensor, short, interpolation=InterpolationMode.BICUBIC, antialias=True), list(size))
    else:
        out = fit_images(tensor, size)
    return (out.contiguous().numpy(), w / h) if with_aspect else out.contiguous().numpy()


def _decode_task(task: tuple[Path, tuple[int, int], str, float]) -> tuple[np.ndarray, float]:
    path, size, fit, crop_pct = task
    return decode_image(path, size, fit=fit, crop_pct=crop_pct, with_aspect=True)


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


def decode_into(
    out: np.ndarray,
    paths: Sequence[Path],
    pool: Pool | None = None,
    progress=None,
    fit: str = "cover",
    crop_pct: float = 1.0,
    aspects: np.ndarray | None = None,
) -> None:
    """Decode ``paths`` in order into ``out`` (uint8 (N, 3, H, W), e.g. a slice of a memmap), as :func:`decode_image`
    with ``fit`` and ``crop_pct``; each image's width / height into ``aspects`` ((N,) float) when given.

    ``progress``: an optional tqdm bar, advanced by one per image.
    """
    if len(out) != len(paths):
        raise ValueError(f"{len(paths)} files for an output of {len(out)} images")
    size = (int(out.shape[2]), int(out.shape[3]))
    tasks = [(Path(p), size, fit, crop_pct) for p in paths]
    images = pool.imap(_decode_task, tasks, chunksize=16) if pool is not None else map(_decode_task, tasks)
    for i, (image, aspect) in enumerate(images):
        out[i] = image
        if aspects is not None:
            aspects[i] = aspect
        if progress is not None:
            progress.update(1)


def auto_workers(n_files: int) -> int:
    """Worker processes for decoding ``n_files``: 1 for a few hundred files, else up to 8 (one per CPU)."""
    return 1 if n_files < 500 else max(1, min(8, os.cpu_count() or 1))
