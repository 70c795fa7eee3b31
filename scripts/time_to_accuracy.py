"""Time to accuracy: the plain /1 recipe against pixelvit's fast one on the full Fashion-MNIST at 14×14.

    .venv/bin/python scripts/time_to_accuracy.py [--seeds 0,1,2] [--plain-epochs 1] [--fast-epochs 4]
        [--root DIR] [--limit-train N] [--threads 2] [--out runs/studies]

Both arms train a ViT/1 of ``pixelvit.tasks.recipes.FASHION_MNIST_14`` (width 64, depth 4, 196 pixel tokens)
on all 60,000 training images and evaluate on all 10,000 test images, warm-up 0.2 epoch, cosine:

- ``plain``: every token, fp32, ``--plain-epochs`` epochs;
- ``fast``: the named recipe :data:`pixelvit.tasks.recipes.FAST_PIXELS` (precision auto, pixel dropout) for
  ``--fast-epochs`` epochs, evaluated after every epoch.

Training time is the sum of the runs' log intervals (steps × batch / logged img/s): evaluation, model
building and data loading before the first step are left out of both arms alike. Prints, per arm (mean ±
std over the seeds): final test Acc@1 and training seconds; for the fast arm the training seconds to reach
the plain arm's final accuracy (same seed; the first epoch-end evaluation at or above it) and its accuracy
at the last evaluation within the plain arm's training time. The per-epoch evaluations measure the curve;
no model is selected on them (each run ships its last epoch's model). Raw numbers:
OUT/time_to_accuracy/tta.json; finished runs are reused.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import torch

from pixelvit.analysis.study import mean_std, train_variant
from pixelvit.bench.time_to_accuracy import accuracy_within, batch_size_of, time_to, training_curve
from pixelvit.commands.console import use_console
from pixelvit.tasks.recipes import FASHION_MNIST_14, FAST_PIXELS


def base_overrides(seed: int, root: str | None, limit_train: int | None) -> list[str]:
    """FASHION_MNIST_14 on the whole dataset, ViT/1, warm-up 0.2 epoch."""
    keep = [o for o in FASHION_MNIST_14 if not o.startswith(("data.limit_", "optim.warmup", "train.eval_every", "train.epochs"))]
    out = [*keep, "model.patch_size=1", "optim.warmup_epochs=0.2", f"train.seed={seed}", "train.progress=false"]
    if root:
        out.append(f"data.root={root}")
    if limit_train:
        out.append(f"data.limit_train={limit_train}")
    return out


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--plain-epochs", type=int, default=1)
    parser.add_argument("--fast-epochs", type=int, default=4)
    parser.add_argument("--root", help="Fashion-MNIST folder (default: searched, see data/fashion_mnist.py)")
    parser.add_argument("--limit-train", type=int, help="the first N training images (smoke tests only)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default="runs/studies")
    args = parser.parse_args(argv)
    use_console()
    torch.set_num_threads(args.threads)
    out = Path(args.out) / "time_to_accuracy"
    tag = f"_n{args.limit_train}" if args.limit_train else ""
    batch = batch_size_of(FASHION_MNIST_14)
    rows = []
    for seed in [int(s) for s in args.seeds.split(",")]:
        base = base_overrides(seed, args.root, args.limit_train)
        plain_dir = out / f"plain_e{args.plain_epochs}{tag}_s{seed}"
        plain = [f"train.epochs={args.plain_epochs}", f"train.eval_every={args.plain_epochs}", "train.precision=fp32"]
        train_variant(None, base, plain_dir, plain)
        fast_dir = out / f"fast_pixels_e{args.fast_epochs}{tag}_s{seed}"
        fast = [*FAST_PIXELS, f"train.epochs={args.fast_epochs}", "train.eval_every=1"]
        summary = train_variant(None, base, fast_dir, fast)
        p, f = training_curve(plain_dir, batch), training_curve(fast_dir, batch)
        target, budget = p[-1][1], p[-1][0]
        rows.append({"seed": seed, "plain": p, "fast": f, "fast_precision": summary.get("precision"),
                     "time_to_target": time_to(f, target), "acc_at_plain_time": accuracy_within(f, budget)})  # fmt: skip

    def col(values: list[float | None], digits: int = 1) -> str:
        got = [v for v in values if v is not None]
        missing = len(values) - len(got)
        return (mean_std(got, digits) if got else "–") + (f" ({missing} of {len(values)} never)" if missing else "")

    reached = [r["time_to_target"] for r in rows]
    speedups = [r["plain"][-1][0] / t for r, t in zip(rows, reached, strict=True) if t]
    lines = [
        "| arm | epochs | final test Acc@1 (%) | training s | s to the plain arm's final Acc@1 "
        "| Acc@1 at the plain arm's time (%) |",
        "|---|---:|---:|---:|---:|---:|",
        f"| plain: every token, fp32 | {args.plain_epochs} | {col([r['plain'][-1][1] for r in rows])} | "
        f"{col([r['plain'][-1][0] for r in rows], 0)} | {col([r['plain'][-1][0] for r in rows], 0)} | "
        f"{col([r['plain'][-1][1] for r in rows])} |",
        f"| fast: {', '.join(FAST_PIXELS)} | {args.fast_epochs} | {col([r['fast'][-1][1] for r in rows])} | "
        f"{col([r['fast'][-1][0] for r in rows], 0)} | {col(reached, 0)} | {col([r['acc_at_plain_time'] for r in rows])} |",
    ]
    speed = f"{statistics.mean(speedups):.2f}× less training time to the plain arm's accuracy" if speedups else "never reached"
    precisions = sorted({str(r["fast_precision"]) for r in rows})
    print(f"\nFashion-MNIST 14×14, ViT/1, seeds {args.seeds}; fast arm precision {', '.join(precisions)}; {speed}\n")
    print("\n".join(lines))
    out.mkdir(parents=True, exist_ok=True)
    (out / f"tta{tag}.json").write_text(json.dumps({"args": vars(args), "rows": rows, "speedups": speedups}, indent=2))
    return rows


if __name__ == "__main__":
    main()
