"""NYU Depth v2, labeled set: 1,449 RGB-D frames of indoor scenes (640×480), standard 795 / 654 split.

Files under ROOT:

* ``nyu_depth_v2_labeled.mat`` (2.8 GB, MATLAB v7.3, i.e. HDF5; read with h5py). MATLAB stores
  arrays column-major and HDF5 row-major, so h5py sees every MATLAB array with its axes
  **reversed**: MATLAB's ``images`` (480×640×3×1449, H×W×C×N uint8) reads as (1449, 3, 640, 480) =
  (N, C, W, H), and ``depths`` (480×640×1449, H×W×N metres) as (1449, 640, 480) = (N, W, H). The
  loader swaps the last two axes: image i is ``images[i].transpose(0, 2, 1)`` (C, H, W) and its
  depth ``depths[i].T`` (H, W). ``depths`` is the in-painted (dense) depth; the file's other
  arrays (``rawDepths``, ``labels``, ...) are not read.
* ``splits.mat`` (MATLAB v5, read with scipy): ``trainNdxs`` (795) and ``testNdxs`` (654), 1-based
  frame numbers.

Each split is resized to ``img_size`` (default 48×64, the paper's) once: images bicubic with
antialiasing, depth by the lower median of each block's valid pixels (see
:func:`pixelvit.data.depth_maps.median_pool_depth` for why). The whole frame is kept (no Eigen
crop of the white border). The result is cached as ``ROOT/nyu_depth_v2_{split}_{H}x{W}.npy``
(+ ``.depth.npy``, ``.json``). Targets are float32 (N, H, W) metres, 0 = invalid.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from .base import ImageArrays
from .depth_maps import cached_depth_arrays, fit_depth_pair
from .errors import check_split, need_root, not_found

MAT_NAME = "nyu_depth_v2_labeled.mat"
SPLITS_NAME = "splits.mat"
SPLITS = ("train", "test")
SPLIT_KEYS = {"train": "trainNdxs", "test": "testNdxs"}
DEFAULT_SIZE = (48, 64)
HOW_TO_GET = (
    f"NYU Depth v2 (labeled) is expected as ROOT/{MAT_NAME} and ROOT/{SPLITS_NAME}.\n"
    "Download both from the NYU Depth v2 site (https://cs.nyu.edu/~fergus/datasets/nyu_depth_v2.html):\n"
    f"  http://horatio.cs.nyu.edu/mit/silberman/nyu_depth_v2/{MAT_NAME}   (2.8 GB, the 1,449 labeled frames)\n"
    f"  http://horatio.cs.nyu.edu/mit/silberman/indoor_seg_sup/{SPLITS_NAME}   (the standard 795/654 train/test split)"
)


def read_splits(path: Path) -> dict[str, np.ndarray]:
    """``splits.mat`` -> {"train": int64 0-based frame indices, "test": ...}, sorted."""
    from scipy.io import loadmat

    try:
        mat = loadmat(path, squeeze_me=True)
    except Exception as e:
        raise ValueError(f"cannot read {path} as a MATLAB (v5) file: {e}.\n{HOW_TO_GET}") from e
    out = {}
    for split, key in SPLIT_KEYS.items():
        if key not in mat:
            found = sorted(k for k in mat if not k.startswith("__"))
            raise ValueError(f"{path} has no {key!r} array (found: {', '.join(found) or 'none'}).\n{HOW_TO_GET}")
        ids = np.atleast_1d(np.asarray(mat[key])).astype(np.int64).ravel()
        if ids.size == 0 or ids.min() < 1:
            lowest = ids.min(initial=0)
            raise ValueError(f"{path}: {key} must list 1-based frame numbers (>= 1), got {ids.size} values, lowest {lowest}")
        out[split] = np.unique(ids - 1)
    return out


def _open_labeled(path: Path):
    """(h5py file, images dataset, depths dataset) after checking the keys and the shapes."""
    import h5py

    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise ValueError(
            f"cannot open {path} as HDF5: {e}. The labeled set is a MATLAB v7.3 file; a file saved with an older "
            f"MATLAB format (or a partial download) does not open. Re-download it.\n{HOW_TO_GET}"
        ) from e
    missing = [k for k in ("images", "depths") if k not in f]
    if missing:
        keys = ", ".join(sorted(f.keys()))
        f.close()
        raise ValueError(f"{path} has no {' / '.join(missing)} array (found: {keys}); is it nyu_depth_v2_labeled.mat?")
    images, depths = f["images"], f["depths"]
    ok = images.ndim == 4 and images.shape[1] == 3 and depths.ndim == 3 and depths.shape == (images.shape[0], *images.shape[2:])
    if not ok:
        f.close()
        raise ValueError(
            f"{path}: expected images (N, 3, W, H) and depths (N, W, H) as h5py reads MATLAB's H×W×3×N and H×W×N, "
            f"got images {images.shape} and depths {depths.shape}"
        )
    if images.dtype != np.uint8 or depths.dtype.kind != "f":
        f.close()
        raise ValueError(f"{path}: expected uint8 images and float depths, got {images.dtype} and {depths.dtype}")
    return f, images, depths


def read_labeled(path: Path, indices: np.ndarray, size: tuple[int, int], chunk: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """Frames ``indices`` (0-based, increasing) of the labeled .mat, resized: uint8 (N, 3, H, W), float32 (N, H, W)."""
    f, images, depths = _open_labeled(path)
    with f:
        if indices.max() >= images.shape[0]:
            raise ValueError(f"splits.mat names frame {indices.max() + 1} but {path} holds {images.shape[0]} frames")
        out_images = np.empty((len(indices), 3, *size), dtype=np.uint8)
        out_depths = np.empty((len(indices), *size), dtype=np.float32)
        with tqdm(total=len(indices), desc=f"nyu_depth_v2 {size[0]}x{size[1]}", unit="img", disable=None) as bar:
            for lo in range(0, len(indices), chunk):
                idx = indices[lo : lo + chunk]
                rgb = images[idx].transpose(0, 1, 3, 2)  # (n, 3, W, H) -> (n, 3, H, W)
                depth = depths[idx].transpose(0, 2, 1)  # (n, W, H) -> (n, H, W)
                out_images[lo : lo + len(idx)], out_depths[lo : lo + len(idx)] = fit_depth_pair(rgb, depth, size)
                bar.update(len(idx))
    return out_images, out_depths


def load_nyu_depth_v2(root: Path | None, split: str = "train", img_size: tuple[int, int] | None = None) -> ImageArrays:
    """Split ``train`` (795 frames) or ``test`` (654) as uint8 (N, 3, H, W) images and float32 (N, H, W) depths (m).

    The first load of a split and size reads the .mat file (a minute or so) and caches the result.
    """
    check_split("nyu_depth_v2", split, SPLITS)
    root = need_root("nyu_depth_v2", root, HOW_TO_GET)
    mat_path, splits_path = root / MAT_NAME, root / SPLITS_NAME
    missing = [p for p in (mat_path, splits_path) if not p.is_file()]
    if missing:
        raise not_found("nyu_depth_v2", missing, HOW_TO_GET)
    size = tuple(img_size or DEFAULT_SIZE)
    indices = read_splits(splits_path)[split]
    digest = hashlib.sha256(f"{MAT_NAME}\t{mat_path.stat().st_size}\n".encode() + indices.tobytes()).hexdigest()
    stem = root / f"nyu_depth_v2_{split}_{size[0]}x{size[1]}"
    return cached_depth_arrays(stem, digest, size, lambda: read_labeled(mat_path, indices, size))
