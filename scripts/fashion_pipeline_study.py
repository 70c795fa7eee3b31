"""The ImageNet pipeline question at small scale: crops from a low-resolution cache (enlarged) vs crops from
the full-resolution image (reduced), and torchvision-strength vs cited-strength RandAugment, for /1 and /2.

    .venv/bin/python scripts/fashion_pipeline_study.py [--seeds 0,1,2] [--epochs 30] [--warmup-epochs 2] [--root DIR]
        [--threads 2] [--limit-train N] [--arms cache_tv,source_tv,cache_timm,source_timm] [--patches 1,2] [--out runs/studies]

Fashion-MNIST (the full 60,000 training and 10,000 test images) plays ImageNet: its native 28×28 is the
"full resolution" and the training size is 14×14, as the ImageNet rows train at 28 from images of ~400 px.

- ``cache``: the 14×14 resized copy is the cache; RandomResizedCrop(0.08, 1) crops it and enlarges the crop
  back to 14 (what ``configs/imagenet/*`` did before ``data.source_size``).
- ``source``: the crop is drawn on the 28×28 image and reduced to 14 (``data.source_size=28``; what DeiT/MAE do).
- ``tv``: torchvision RandAugment(2 ops, magnitude 9 of 31), the old configs'; ``timm``: timm's
  ``rand-m9-mstd0.5-inc1`` (MAE's "RandAug (9, 0.5)"), the configs' now.

Evaluation is the same for every arm: the test images resized to 14×14. The model is the recipe of
``pixelvit.tasks.recipes.FASHION_MNIST_14`` (ViT width 64, depth 4, 4 heads, average pooling, position
embedding std 1.0), at patch 1 and 2, AdamW lr 2e-3, 2 warmup epochs, cosine, batch 64, fp32, horizontal
flips 0.5 (``--warmup-epochs`` for short budgets). Seeds outermost. Prints a Markdown table of test Acc@1
(mean ± std over the seeds) and writes the raw summaries to OUT/fashion_pipeline/study_e<EPOCHS>_p<PATCHES>.json
(``study_e30_p1-2.json``); finished runs are reused when run again.

The full study (4 arms × 2 patch sizes × 3 seeds × 30 epochs on 60,000 images) needs a quiet machine: about
a day of a quiet 2-core CPU at the /1 speed measured here, far less on a GPU (``train.device=cuda``).
``--limit-train 500 --epochs 1 --seeds 0`` is a smoke test of the whole path (minutes).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from pixelvit.analysis.study import mean_std, train_variant
from pixelvit.tasks.recipes import FASHION_MNIST_14

RANDAUGMENT = "rand-m9-mstd0.5-inc1"
TV = ["augment.randaugment_ops=2", "augment.randaugment_magnitude=9"]
TIMM = [f"augment.randaugment={RANDAUGMENT}"]
SOURCE = ["data.source_size=28"]
ARMS = {
    "cache_tv": ("crop of the 14×14 cache, enlarged; torchvision RA(2, 9)", TV),
    "source_tv": ("crop of the 28×28 image, reduced; torchvision RA(2, 9)", [*SOURCE, *TV]),
    "cache_timm": (f"crop of the 14×14 cache, enlarged; timm {RANDAUGMENT}", TIMM),
    "source_timm": (f"crop of the 28×28 image, reduced; timm {RANDAUGMENT}", [*SOURCE, *TIMM]),
}


def base_overrides(epochs: int, seed: int, root: str | None, limit_train: int | None, warmup_epochs: float = 2.0) -> list[str]:
    """The recipe on the full Fashion-MNIST at 14×14, with the crop and flip every arm shares."""
    keep = [o for o in FASHION_MNIST_14 if not o.startswith(("data.limit_", "train.epochs", "train.eval_every", "optim.warmup"))]
    out = [*keep, f"train.epochs={epochs}", f"train.eval_every={epochs}", f"optim.warmup_epochs={warmup_epochs:g}",
           f"train.seed={seed}",
           "train.progress=false", "augment.crop=rrc", "augment.crop_scale=[0.08,1.0]", "augment.hflip=0.5"]  # fmt: skip
    if root:
        out.append(f"data.root={root}")
    if limit_train:
        out.append(f"data.limit_train={limit_train}")
    return out


def main(argv: list[str] | None = None) -> dict[str, list[float]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--warmup-epochs", type=float, default=2.0, help="linear warm-up (default 2 epochs)")
    parser.add_argument("--root", help="Fashion-MNIST folder (default: the Debian package's, see data/fashion_mnist.py)")
    parser.add_argument("--limit-train", type=int, help="use the first N training images (smoke tests only)")
    parser.add_argument("--arms", default=",".join(ARMS))
    parser.add_argument("--patches", default="1,2")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default="runs/studies")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    out = Path(args.out) / "fashion_pipeline"
    seeds, patches, arms = (
        [int(s) for s in args.seeds.split(",")],
        [int(p) for p in args.patches.split(",")],
        args.arms.split(","),
    )
    results: dict[str, list[dict]] = {}
    for seed in seeds:  # seeds outermost: a slow spell of a shared machine hits every arm alike
        for patch in patches:
            for arm in arms:
                name, extra = ARMS[arm]
                run_dir = (
                    out / f"{arm}_p{patch}_e{args.epochs}_s{seed}"
                    if not args.limit_train
                    else out / f"smoke_{arm}_p{patch}_s{seed}"
                )
                base = base_overrides(args.epochs, seed, args.root, args.limit_train, args.warmup_epochs)
                summary = train_variant(None, base, run_dir, [f"model.patch_size={patch}", *extra])
                if summary["status"] != "finished":
                    raise RuntimeError(f"{run_dir}: {summary['status']}")
                results.setdefault(f"/{patch}: {name}", []).append(summary)
    lines = ["| model and arm | test Acc@1 (%) | seeds |", "|---|---:|---:|"]
    accuracy = {key: [r["final"]["acc1"] for r in runs] for key, runs in results.items()}
    lines += [f"| {key} | {mean_std(acc)} | {len(acc)} |" for key, acc in accuracy.items()]
    print(f"\nFashion-MNIST at 14×14, {args.epochs} epochs, seeds {args.seeds}\n\n" + "\n".join(lines))
    out.mkdir(parents=True, exist_ok=True)
    record = json.dumps({"args": vars(args), "results": results}, indent=2)
    (out / f"study_e{args.epochs}_p{'-'.join(map(str, patches))}.json").write_text(record)
    return accuracy


if __name__ == "__main__":
    main()
