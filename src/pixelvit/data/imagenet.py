"""ImageNet (ILSVRC-2012) from the usual ``ROOT/{train,val}/<wnid>/*.JPEG`` folders.

Decoding 1.3 million JPEGs takes hours, so it is a separate step, :func:`prepare_imagenet`
(``pixelvit prepare imagenet --root ROOT --size 28``): each image is fitted to size×size (shorter
side resized, bicubic antialiased, center crop) into a preallocated memory-mapped ``.npy``. It works
in chunks and records finished chunks in ``progress.json``, so a killed run resumes where it
stopped. When every chunk is done and the counts check out it writes ``meta.json``, which marks the
cache complete. :func:`load_imagenet` only memory-maps a complete cache.

Cache folder (default ``ROOT/cache_{size}``): ``{split}.npy`` (uint8 (N, 3, size, size)),
``{split}_labels.npy`` (int64 (N,)), ``progress.json``, ``meta.json``.

Crop-and-resize recipes (DeiT, MAE, timm) cut each training crop from the full image and downsample it;
cropping the size×size cache and upsampling the crop back is another, blurrier, input distribution.
``--source-size R`` stores the training split at R×R instead, each whole image resized to R×R whatever
its aspect ratio, with its width/height ratio in ``train_aspect.npy``: a crop is then drawn in the image's
own geometry and downsampled to size (:mod:`.source_crop`). ``--crop-pct P`` prepares the validation split
as timm evaluates: short side resized to floor(size / P), centre crop size×size. Such a cache lives in
``ROOT/cache_{size}_src{R}_crop{P}`` (:func:`cache_name`).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
from collections.abc import Sequence
from multiprocessing.pool import Pool
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from ..io import write_json_atomic
from .base import ImageArrays
from .cache import fingerprint, save_npy_atomic
from .errors import check_split, need_root
from .folders import class_folders, scan_split
from .imageio import IMAGE_EXTENSIONS, decode_into, decode_pool

SPLITS = ("train", "val")
CHUNK = 1000
FORMAT = 1
HOW_TO_GET = (
    "ImageNet (ILSVRC-2012) is expected as ROOT/train/<wnid>/*.JPEG and ROOT/val/<wnid>/*.JPEG, with the\n"
    "same wnid folders in both. Download ILSVRC2012_img_train.tar and ILSVRC2012_img_val.tar from\n"
    "https://image-net.org (needs an account), unpack train (one tar per wnid) and sort val into wnid\n"
    "folders (e.g. with the widely used valprep.sh). Then decode it once: pixelvit prepare imagenet --root ROOT --size 28"
)


def cache_name(size: int, source_size: int | None = None, crop_pct: float = 1.0) -> str:
    """The default cache folder name: ``cache_28``, or ``cache_28_src80_crop0.875`` for a crop-from-source cache."""
    if source_size is None and crop_pct == 1.0:
        return f"cache_{size}"
    return f"cache_{size}_src{source_size or size}_crop{crop_pct:g}"


def _command(root: Path | str, size: int | str, source_size: int | None = None, crop_pct: float = 1.0) -> str:
    extra = (f" --source-size {source_size}" if source_size else "") + (f" --crop-pct {crop_pct:g}" if crop_pct != 1.0 else "")
    return f"pixelvit prepare imagenet --root {root} --size {size}{extra}"


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def check_sorted_into_classes(split_dir: Path) -> None:
    """Refuse a split folder that holds its images flat (as ILSVRC2012_img_val.tar unpacks) instead of in wnid folders."""
    if not split_dir.is_dir() or class_folders(split_dir):
        return
    flat = [e.name for e in os.scandir(split_dir) if e.is_file() and Path(e.name).suffix.lower() in IMAGE_EXTENSIONS]
    if flat:
        raise ValueError(
            f"{split_dir} holds {len(flat)} images directly (e.g. {sorted(flat)[0]}) but no class folders: sort them into "
            f"wnid folders, {split_dir}/<wnid>/<image> (e.g. with the widely used valprep.sh), then run this again"
        )


def scan_imagenet(root: Path, splits: Sequence[str]) -> tuple[dict[str, tuple[list[Path], np.ndarray]], list[str]]:
    """Files and labels of each split, and the sorted wnids, which must be the same in every split."""
    for split in splits:
        check_sorted_into_classes(root / split)
    classes = class_folders(root / splits[0])
    for split in splits[1:]:
        other = class_folders(root / split)
        if other != classes:
            only = sorted(set(classes) ^ set(other))
            raise ValueError(
                f"{root / splits[0]} and {root / split} hold different class folders ({len(classes)} vs {len(other)}; "
                f"e.g. {', '.join(only[:5])}): both splits must have the same wnid folders"
            )
    found = {}
    for split in splits:
        files, targets, _ = scan_split(root / split, classes)
        found[split] = (files, targets)
    return found, classes


def _prepare_split(
    out: Path,
    split: str,
    files: list[Path],
    targets: np.ndarray,
    size: int,
    pool: Pool | None,
    progress: dict,
    chunk: int,
    root: Path,
) -> None:
    """Decode the chunks of ``split`` not yet done into ``out/{split}.npy``, recording each in ``progress.json``.

    The train split of a crop-from-source cache is stored at ``progress["source_size"]`` (whole image, squashed)
    with ``train_aspect.npy``; the val split is fitted at ``progress["crop_pct"]``.
    """
    images_path, labels_path = out / f"{split}.npy", out / f"{split}_labels.npy"
    source = progress.get("source_size") if split == "train" else None
    side = source or size
    shape = (len(files), 3, side, side)
    aspect_path = out / f"{split}_aspect.npy"
    digest = fingerprint(files, targets, progress["classes"], base=root, content=False)
    entry = progress["splits"].get(split)
    fresh = entry is None or entry.get("fingerprint") != digest or entry.get("chunk") != chunk
    fresh = fresh or not images_path.exists() or not labels_path.exists() or (source is not None and not aspect_path.exists())
    if not fresh:
        try:
            images = np.lib.format.open_memmap(images_path, mode="r+")
            fresh = images.shape != shape or images.dtype != np.uint8
            aspects = np.lib.format.open_memmap(aspect_path, mode="r+") if source else None
        except (OSError, ValueError):  # a damaged file: start the split again
            fresh = True
    if fresh:  # record "nothing done" before touching the arrays, so a kill in between cannot leave stale chunks marked done
        entry = progress["splits"][split] = {"fingerprint": digest, "count": len(files), "chunk": chunk, "done": []}
        write_json_atomic(out / "progress.json", progress)
        save_npy_atomic(labels_path, targets)
        images = np.lib.format.open_memmap(images_path, mode="w+", dtype=np.uint8, shape=shape)
        aspects = np.lib.format.open_memmap(aspect_path, mode="w+", dtype=np.float32, shape=(len(files),)) if source else None
    fit, crop_pct = ("squash", 1.0) if source else ("cover", progress.get("crop_pct", 1.0) if split == "val" else 1.0)
    done = set(entry["done"])
    todo = [c for c in range(math.ceil(len(files) / chunk)) if c not in done]
    remaining = sum(min(len(files), (c + 1) * chunk) - c * chunk for c in todo)
    with tqdm(total=len(files), initial=len(files) - remaining, desc=f"imagenet {split} {side}px", unit="img") as bar:
        for c in todo:
            lo, hi = c * chunk, min(len(files), (c + 1) * chunk)
            decode_into(images[lo:hi], files[lo:hi], pool, bar, fit=fit, crop_pct=crop_pct,
                        aspects=None if aspects is None else aspects[lo:hi])  # fmt: skip
            images.flush()
            if aspects is not None:
                aspects.flush()
            entry["done"] = sorted({*entry["done"], c})
            write_json_atomic(out / "progress.json", progress)
    del images, aspects


def verify_split(out: Path, split: str, entry: dict, size: int, n_files: int | None = None, aspect: bool = False) -> int:
    """Check one prepared split: every chunk done, array and labels of the recorded length; return it.

    ``n_files``: the number of image files found now, which must match too; ``aspect``: the split has
    ``{split}_aspect.npy`` (a crop-from-source train split). Raises ``RuntimeError``.
    """
    count = int(entry["count"])
    problems = []
    if n_files is not None and n_files != count:
        problems.append(f"{n_files} image files found but {count} prepared")
    missing = sorted(set(range(math.ceil(count / entry["chunk"]))) - set(entry["done"]))
    if missing:
        problems.append(f"{len(missing)} chunks not done (first: {missing[0]})")
    try:
        images = np.load(out / f"{split}.npy", mmap_mode="r")
        labels = np.load(out / f"{split}_labels.npy", mmap_mode="r")
        if images.shape != (count, 3, size, size) or images.dtype != np.uint8:
            problems.append(f"{split}.npy is {images.dtype} {images.shape}, expected uint8 {(count, 3, size, size)}")
        if labels.shape != (count,):
            problems.append(f"{split}_labels.npy has shape {labels.shape}, expected ({count},)")
        if aspect and np.load(out / f"{split}_aspect.npy", mmap_mode="r").shape != (count,):
            problems.append(f"{split}_aspect.npy does not hold {count} ratios")
    except (OSError, ValueError) as e:
        problems.append(f"cannot read the arrays: {e}")
    if problems:
        raise RuntimeError(f"ImageNet cache {out} failed its check for {split}: {'; '.join(problems)}. Run prepare again.")
    return count


def prepare_imagenet(
    root: Path,
    size: int,
    out: Path | None = None,
    workers: int = 2,
    splits: Sequence[str] = SPLITS,
    chunk: int = CHUNK,
    source_size: int | None = None,
    crop_pct: float = 1.0,
) -> Path:
    """Decode ``root/{train,val}/<wnid>/*`` into uint8 (N, 3, size, size) ``.npy`` files in ``out``; return ``out``.

    ``out`` defaults to ``root/`` :func:`cache_name`. ``workers`` processes decode; ``chunk`` images make one
    resumable unit. ``source_size``: store the train split at that side for crops cut from it (module
    docstring); ``crop_pct``: fit the val split as timm's evaluation does. Rerunning after an interruption
    redoes only unfinished chunks; rerunning on a complete cache checks it and returns.
    A corrupt image raises an error naming the file.
    """
    root = Path(root).expanduser()
    if not isinstance(size, int) or size < 1:
        raise ValueError(f"size must be a positive int, got {size!r}")
    if source_size is not None and source_size < size:
        raise ValueError(f"--source-size {source_size} is below --size {size}: training crops are downsampled from the source")
    if not 0 < crop_pct <= 1:
        raise ValueError(f"--crop-pct {crop_pct} must be in (0, 1] (timm evaluates at 0.875)")
    splits = tuple(splits)
    for split in splits:
        check_split("imagenet", split, SPLITS)
    if not splits:
        raise ValueError(f"no splits to prepare; choose from {', '.join(SPLITS)}")
    out = Path(out).expanduser() if out is not None else root / cache_name(size, source_size, crop_pct)
    found, classes = scan_imagenet(root, splits)
    out.mkdir(parents=True, exist_ok=True)
    (out / "meta.json").unlink(missing_ok=True)  # incomplete until verified below
    progress = _read_json(out / "progress.json") or {}
    recipe = {"source_size": source_size, "crop_pct": crop_pct}
    same = all(progress.get(k, None if k == "source_size" else 1.0) == v for k, v in recipe.items())
    if progress.get("format") != FORMAT or progress.get("size") != size or progress.get("classes") != classes or not same:
        progress = {"format": FORMAT, "size": size, "classes": classes, **recipe, "splits": {}}
    with decode_pool(workers) as pool:
        for split in splits:
            files, targets = found[split]
            _prepare_split(out, split, files, targets, size, pool, progress, chunk, root)

    def side(split: str) -> int:
        return (source_size or size) if split == "train" else size

    def check(split: str, entry: dict, n_files: int | None = None) -> int:
        return verify_split(out, split, entry, side(split), n_files, aspect=source_size is not None and split == "train")

    counts = {split: check(split, progress["splits"][split], len(found[split][0])) for split in splits}
    for split, entry in progress["splits"].items():  # splits prepared by earlier runs stay if still sound
        if split not in counts:
            with contextlib.suppress(RuntimeError):
                counts[split] = check(split, entry)
    meta = {"format": FORMAT, "size": size, "classes": classes, "counts": counts, **recipe}
    write_json_atomic(out / "meta.json", meta)
    return out


def _cache_dir(root: Path, size: int | None) -> Path:
    """The cache folder for ``size``: ``root`` itself if it is one, else ``root/cache_{size}``."""
    if (root / "meta.json").is_file() or (root / "progress.json").is_file():
        meta = _read_json(root / "meta.json") or _read_json(root / "progress.json") or {}
        if size is not None and meta.get("size") not in (None, size):
            raise ValueError(
                f"the ImageNet cache {root} holds {meta['size']}×{meta['size']} images, not the {size}×{size} asked for; "
                f"prepare that size with: {_command('IMAGENET_ROOT', size)}"
            )
        return root
    complete = {int(p.name[6:]): p for p in root.glob("cache_*") if p.name[6:].isdigit() and (p / "meta.json").is_file()}
    if size is None:
        if len(complete) == 1:
            return next(iter(complete.values()))
        which = f"caches at sizes {sorted(complete)}; pass img_size" if complete else "no prepared cache"
        raise FileNotFoundError(f"ImageNet at {root}: {which}. Prepare one with: {_command(root, 28)}")
    folder = root / f"cache_{size}"
    if not folder.is_dir() and complete:
        sizes = ", ".join(f"{s}×{s} ({p})" for s, p in sorted(complete.items()))
        raise FileNotFoundError(
            f"ImageNet at {root} is prepared at {sizes}, not at the {size}×{size} asked for. "
            f"Prepare that size with: {_command(root, size)}"
        )
    return folder


def load_imagenet(
    root: Path | None,
    split: str = "train",
    img_size: tuple[int, int] | None = None,
    source_size: int | None = None,
    crop_pct: float = 1.0,
) -> ImageArrays:
    """Memory-map the prepared split: uint8 (N, 3, S, S) images, int64 (N,) labels, the wnids as classes.

    ``root``: the ImageNet folder (its ``cache_{S}``) or a cache folder itself. ``img_size`` must be
    square; ``None`` takes the only prepared size. ``source_size`` / ``crop_pct``: the crop-from-source
    cache of :func:`cache_name` (its train split at ``source_size`` with ``aspect``; module docstring).
    """
    check_split("imagenet", split, SPLITS)
    root = need_root("imagenet", root, HOW_TO_GET)
    if img_size is not None and img_size[0] != img_size[1]:
        raise ValueError(f"imagenet is prepared square (size×size); got img_size={tuple(img_size)}")
    size = None if img_size is None else int(img_size[0])
    plain = source_size is None and crop_pct == 1.0
    if plain:
        folder = _cache_dir(root, size)
    else:
        if size is None:
            raise ValueError("a crop-from-source ImageNet cache needs img_size")
        own = _read_json(root / "meta.json") or {}
        mine = own.get("size") == size and own.get("source_size") == source_size and own.get("crop_pct", 1.0) == crop_pct
        folder = root if mine else root / cache_name(size, source_size, crop_pct)
    command = _command(root, size or 28, source_size, crop_pct)
    meta = _read_json(folder / "meta.json")
    if meta is None:
        state = "was interrupted (run it again to resume)" if (folder / "progress.json").is_file() else "has not been run"
        raise FileNotFoundError(f"no complete ImageNet cache in {folder}: prepare {state}. Run: {command}\n{HOW_TO_GET}")
    if size is not None and meta["size"] != size:
        raise ValueError(f"the ImageNet cache {folder} holds {meta['size']}×{meta['size']} images, not {size}×{size}")
    if (meta.get("source_size"), meta.get("crop_pct", 1.0)) != (source_size, crop_pct):
        raise ValueError(
            f"the ImageNet cache {folder} was prepared with source size {meta.get('source_size')} and crop_pct "
            f"{meta.get('crop_pct', 1.0)}, not {source_size} and {crop_pct}. Run: {command}"
        )
    if split not in meta["counts"]:
        raise FileNotFoundError(f"the ImageNet cache {folder} has no {split} split. Run: {command}")
    count = meta["counts"][split]
    images = np.load(folder / f"{split}.npy", mmap_mode="r")
    targets = np.load(folder / f"{split}_labels.npy")
    if len(images) != count or len(targets) != count:
        raise RuntimeError(
            f"the ImageNet cache {folder} is damaged ({split}: {len(images)} images, meta says {count}); prepare again"
        )
    aspect = np.load(folder / f"{split}_aspect.npy") if source_size is not None and split == "train" else None
    return ImageArrays(images, targets, list(meta["classes"]), aspect=aspect)
