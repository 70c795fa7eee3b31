"""Your own RGB-D data as a folder: ``ROOT/<split>/NAME.png`` + ``ROOT/<split>/NAME_depth.png``.

Format: for every RGB image ``NAME.png`` (``.jpg``, ``.bmp``, ``.webp`` also read) in a split
folder, a depth map ``NAME_depth.png`` of the same width and height: a single-channel **16-bit
PNG in millimetres**, 0 = no measurement (NYU's, KITTI's and most RGB-D sensors' convention; with
numpy + Pillow: ``Image.fromarray((metres * 1000).round().astype(np.uint16)).save("NAME_depth.png")``).
Files are read in sorted name order. Pairs are fitted to ``img_size`` like NYU-v2 (centre crop
to the aspect ratio, bicubic image, lower-median depth; :mod:`pixelvit.data.depth_maps`) and
cached as ``ROOT/depth_{split}_{H}x{W}.npy`` (+ ``.depth.npy``, ``.json``), rebuilt when a file
name or byte size changes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from .base import ImageArrays
from .cache import fingerprint
from .depth_maps import cached_depth_arrays, fit_depth_pair
from .errors import need_root, not_found
from .imageio import IMAGE_EXTENSIONS, ImageDecodeError

DEPTH_SUFFIX = "_depth.png"
DEFAULT_SIZE = (48, 64)
HOW_TO_GET = (
    "A depth folder is expected as ROOT/<split>/NAME.png (RGB) with ROOT/<split>/NAME_depth.png beside each image:\n"
    "a single-channel 16-bit PNG of the same size, depth in millimetres, 0 = invalid."
)


def split_pairs(folder: Path) -> list[tuple[Path, Path]]:
    """(image, depth) paths of one split folder, sorted by image name; error when a depth file is missing."""
    images = sorted(
        p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.lower().endswith(DEPTH_SUFFIX)
    )
    if not images:
        raise FileNotFoundError(f"{folder} holds no RGB images.\n{HOW_TO_GET}")
    pairs = [(p, p.with_name(p.stem + DEPTH_SUFFIX)) for p in images]
    lonely = [str(d) for _, d in pairs if not d.is_file()]
    if lonely:
        shown = "\n  ".join(lonely[:5]) + (f"\n  ... and {len(lonely) - 5} more" if len(lonely) > 5 else "")
        raise FileNotFoundError(f"{len(lonely)} image(s) in {folder} have no depth map; missing:\n  {shown}\n{HOW_TO_GET}")
    return pairs


def read_depth_png(path: Path) -> np.ndarray:
    """A 16-bit single-channel PNG in millimetres -> float32 (H, W) metres."""
    try:
        with Image.open(path) as image:
            mode = image.mode
            pixels = np.array(image) if mode in ("I;16", "I;16B", "I;16L", "I") else None
    except Exception as e:
        raise ImageDecodeError(f"cannot decode depth map {path}: {e}. Replace or delete the file and run again.") from e
    if pixels is None or pixels.ndim != 2:
        raise ValueError(f"{path} is a {mode} image; a depth map must be a single-channel 16-bit PNG in millimetres")
    if pixels.min() < 0 or pixels.max() > 65535:
        raise ValueError(f"{path} holds values outside 0..65535; a depth map is 16-bit millimetres")
    return pixels.astype(np.float32) / 1000.0


def read_pair(image_path: Path, depth_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """uint8 (3, h, w) RGB and float32 (h, w) metres of one pair, checked to be the same size."""
    try:
        with Image.open(image_path) as image:
            rgb = np.array(image.convert("RGB")).transpose(2, 0, 1)
    except Exception as e:
        raise ImageDecodeError(f"cannot decode image {image_path}: {e}. Replace or delete the file and run again.") from e
    depth = read_depth_png(depth_path)
    if rgb.shape[1:] != depth.shape:
        raise ValueError(
            f"{image_path} is {rgb.shape[1]}x{rgb.shape[2]} but its depth map {depth_path.name} is "
            f"{depth.shape[0]}x{depth.shape[1]} (height x width); they must be the same size"
        )
    return rgb, depth


def _build(pairs: list[tuple[Path, Path]], size: tuple[int, int], desc: str) -> tuple[np.ndarray, np.ndarray]:
    images = np.empty((len(pairs), 3, *size), dtype=np.uint8)
    depths = np.empty((len(pairs), *size), dtype=np.float32)
    for i, (image_path, depth_path) in enumerate(tqdm(pairs, desc=desc, unit="img")):
        rgb, depth = read_pair(image_path, depth_path)
        fitted_rgb, fitted_depth = fit_depth_pair(rgb[None], depth[None], size)
        images[i], depths[i] = fitted_rgb[0], fitted_depth[0]
    return images, depths


def load_depth_folder(root: Path | None, split: str = "train", img_size: tuple[int, int] | None = None) -> ImageArrays:
    """Split folder ``ROOT/<split>`` as uint8 (N, 3, H, W) images and float32 (N, H, W) depths in metres (0 = invalid)."""
    root = need_root("depth_folder", root, HOW_TO_GET)
    folder = root / split
    if not folder.is_dir():
        raise not_found("depth_folder", [folder], HOW_TO_GET)
    size = tuple(img_size or DEFAULT_SIZE)
    pairs = split_pairs(folder)
    files = [p for pair in pairs for p in pair]
    digest = fingerprint(files, np.zeros(0, dtype=np.int64), [], base=root)
    stem = root / f"depth_{split}_{size[0]}x{size[1]}"
    return cached_depth_arrays(stem, digest, size, lambda: _build(pairs, size, f"depth_folder {split}"))
