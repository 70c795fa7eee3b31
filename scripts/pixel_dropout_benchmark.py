"""Pixel dropout at equal wall time: ViT/1 on the bundled digits, all tokens vs a random half.

    .venv/bin/python scripts/pixel_dropout_benchmark.py [--epochs 30] [--keep 0.5] [--out runs/bench_pixel_dropout]

1. Trains the full-sequence model for --epochs and records its wall time and test Acc@1.
2. Trains the same model with model.token_keep=--keep for as many epochs as fit in that wall time
   (from the measured throughput ratio of a short probe), and records the same.
Prints a Markdown table (the one in BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from pixelvit.tasks.recipes import DIGITS
from pixelvit.tasks.training import train_from_config


def train(out: Path, name: str, epochs: int, keep: float) -> dict:
    overrides = [*DIGITS, "model.patch_size=1", f"model.token_keep={keep}", f"train.epochs={epochs}",
                 f"train.eval_every={epochs}", "train.progress=false", f"run_dir={out / name}"]  # fmt: skip
    return train_from_config(None, overrides)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--keep", type=float, default=0.5)
    parser.add_argument("--out", default="runs/bench_pixel_dropout")
    args = parser.parse_args()
    out = Path(args.out)
    probe_full, probe_keep = train(out, "probe_full", 2, 1.0), train(out, "probe_keep", 2, args.keep)
    speedup = probe_keep["train_images_per_s"] / probe_full["train_images_per_s"]
    full = train(out, "full", args.epochs, 1.0)
    dropout_epochs = max(1, round(args.epochs * speedup))
    dropped = train(out, "dropout", dropout_epochs, args.keep)
    rows = [("1.0", args.epochs, full), (str(args.keep), dropout_epochs, dropped)]
    lines = ["| token_keep | epochs | train img/s | wall (s) | test Acc@1 (%) |", "|---:|---:|---:|---:|---:|"]
    lines += [f"| {k} | {e} | {s['train_images_per_s']:.0f} | {s['wall_time_s']:.0f} | {s['final']['acc1']:.1f} |" for k, e, s in rows]
    table = "\n".join(lines)
    print(f"\nthroughput gain of token_keep={args.keep}: {speedup:.2f}x (2-epoch probe)\n\n{table}")
    (out / "pixel_dropout.json").write_text(json.dumps({"speedup": speedup, "rows": [[k, e, s] for k, e, s in rows]}, indent=2))


if __name__ == "__main__":
    main()
