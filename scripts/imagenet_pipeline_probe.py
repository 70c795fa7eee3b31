"""What the ImageNet crop-from-source pipeline costs: cache size, decode time, loader img/s per worker, and how
many loader workers one GPU needs for each ImageNet row.

    .venv/bin/python scripts/imagenet_pipeline_probe.py [--files 64] [--items 1000] [--threads 1]

1. Fabricates ``--files`` JPEGs of 500×375 (about ImageNet's typical size; smooth colour fields plus noise,
   quality 90) and times ``pixelvit.data.imageio.decode_image`` on them for the three caches: the old 28×28
   training cache, the 112×112 crop source (whole image, aspect kept), and the 28×28 validation crop at
   crop_pct 0.875. One process; ``prepare --workers N`` runs N.
2. Times the per-sample training transform in one process (what each DataLoader worker runs) on ``--items``
   samples: the old chain (RandomResizedCrop of the 28×28 cache, torchvision RandAugment(2, 9)) and the new
   one (crop of the 112 px source reduced to 28, timm rand-m9-mstd0.5-inc1).
3. For every configs/imagenet row: the img/s one H100 SXM trains at 40 % of its bf16 peak (FLOPs from the dry
   run), and the loader workers that rate needs at the measured per-worker speed.
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from pixelvit.config import AugmentConfig, load_config
from pixelvit.data import ArrayDataset, ImageArrays
from pixelvit.data.imageio import decode_image
from pixelvit.data.registry import IMAGENET_MEAN
from pixelvit.data.source_crop import SourceRandomResizedCrop
from pixelvit.data.transforms import build_train_transform
from pixelvit.tasks.recipe import GPUS, UTILISATION, resolve_recipe

IMAGENET_TRAIN = 1_281_167


def fabricate(folder: Path, n: int, seed: int = 0) -> list[Path]:
    """``n`` JPEGs of 500×375: smooth random colour fields (upsampled 8×6 noise) plus pixel noise."""
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        coarse = Image.fromarray(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)).resize((500, 375), Image.Resampling.BICUBIC)
        pixels = np.clip(np.asarray(coarse, dtype=np.int16) + rng.integers(-20, 21, (375, 500, 3)), 0, 255).astype(np.uint8)
        path = folder / f"img_{i:04d}.JPEG"
        Image.fromarray(pixels).save(path, quality=90)
        paths.append(path)
    return paths


def time_decodes(paths: list[Path], size: int, **kwargs) -> float:
    start = time.perf_counter()
    for p in paths:
        decode_image(p, (size, size), **kwargs)
    return (time.perf_counter() - start) / len(paths)


def time_transform(dataset: ArrayDataset, items: int) -> float:
    start = time.perf_counter()
    for i in range(items):
        dataset[(i % len(dataset), i)]
    return items / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=64)
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        paths = fabricate(Path(tmp), args.files)
        jpeg_kb = sum(p.stat().st_size for p in paths) / len(paths) / 1e3
        old = time_decodes(paths, 28)
        source = time_decodes(paths, 112, fit="squash")
        val = time_decodes(paths, 28, crop_pct=0.875)
        decoded = np.stack([decode_image(p, (112, 112), fit="squash") for p in paths])
    print(f"fabricated JPEGs: {args.files} of 500x375, {jpeg_kb:.0f} KB each")
    print("| cache | bytes per image | ImageNet train | decode ms/image (1 process) |\n|---|---:|---:|---:|")
    caches = (("old train 28x28", 28, old), ("source 112x112 (+4 B ratio)", 112, source), ("val 28x28, crop_pct 0.875", 28, val))
    for name, side, ms in caches:
        per = 3 * side * side + (4 if side == 112 else 0)
        print(f"| {name} | {per:,} | {per * IMAGENET_TRAIN / 1e9:.1f} GB | {ms * 1e3:.2f} |")
    reps = max(1, 2000 // len(decoded))
    src = ImageArrays(np.concatenate([decoded] * reps), np.zeros(len(decoded) * reps, dtype=np.int64),
                      aspect=np.full(len(decoded) * reps, 500 / 375, dtype=np.float32))  # fmt: skip
    small = ImageArrays(torch.nn.functional.interpolate(torch.from_numpy(src.images).float(), size=(28, 28), mode="area")
                        .round().to(torch.uint8).numpy(), src.targets)  # fmt: skip
    old_aug = AugmentConfig(crop="rrc", randaugment_ops=2, randaugment_magnitude=9)
    new_aug = AugmentConfig(crop="rrc", randaugment="rand-m9-mstd0.5-inc1")
    old_ds = ArrayDataset(small, build_train_transform(old_aug, (28, 28), 3, IMAGENET_MEAN))
    new_ds = ArrayDataset(src, build_train_transform(new_aug, (28, 28), 3, IMAGENET_MEAN, crop=False),
                          crop=SourceRandomResizedCrop((28, 28), (0.08, 1.0)))  # fmt: skip
    old_rate, new_rate = time_transform(old_ds, args.items), time_transform(new_ds, args.items)
    print(f"\nper-sample transform, one process: old {old_rate:,.0f} img/s, new {new_rate:,.0f} img/s")
    h100 = GPUS[0]
    print(f"\n| config | forward GFLOP/image | {h100.name} img/s at {UTILISATION:.0%} | loader workers needed |")
    print("|---|---:|---:|---:|")
    for path in sorted(Path(__file__).parents[1].joinpath("configs", "imagenet").glob("*.yaml")):
        r = resolve_recipe(load_config(path))
        need = h100.bf16_tflops * 1e12 * UTILISATION / r["flops"]["train_per_image"]
        print(f"| {path.stem} | {r['flops']['forward_per_image'] / 1e9:.1f} | {need:,.0f} | {math.ceil(need / new_rate)} |")


if __name__ == "__main__":
    main()
