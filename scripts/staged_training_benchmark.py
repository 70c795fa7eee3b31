"""Staged patch-size training on the bundled digits: /2 then /1 (train.stages) against /1 from scratch and /2 alone.

    .venv/bin/python scripts/staged_training_benchmark.py [--seeds 0,1,2] [--epochs 15] [--p2-epochs 12] [--p1-lr 5e-4]
        [--threads 1] [--arms scratch,p2,staged,staged_lr] [--out runs/bench_staged]

Every run uses the demo's recipe (pixelvit.tasks.recipes.DIGITS: width 64, depth 4, 8×8 input) and the same
total number of epochs: /1 and /2 train --epochs; the staged run trains /2 for --p2-epochs and then /1 for
the rest, starting from the /2 model (patch projection and position embedding resized), once with the
recipe's learning rate and warm-up and once with --p1-lr and no warm-up in the /1 stage. Reports test Acc@1
and wall time (training + evaluation as the runs record it, and the whole call with model building and data
loading), mean ± std over the seeds, as a Markdown table (the one in BENCHMARKS.md); raw numbers in
OUT/staged_<arms>_p2ep<N>.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from pixelvit.tasks.recipes import DIGITS
from pixelvit.tasks.training import train_from_config


def train(run_dir: Path, seed: int, *extra: str) -> dict:
    """One run; its summary plus ``call_s``, the wall time of the whole call."""
    start = time.perf_counter()
    summary = train_from_config(None, [*DIGITS, *extra, f"train.seed={seed}", "train.progress=false", f"run_dir={run_dir}"])
    if summary["status"] != "finished":
        raise RuntimeError(f"{run_dir}: {summary['status']}")
    return {**summary, "call_s": time.perf_counter() - start}


def mean_std(values: list[float]) -> str:
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.1f} ± {spread:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--p2-epochs", type=int, default=12)
    parser.add_argument("--p1-lr", type=float, default=5e-4, help="the /1 stage's learning rate in the last arm")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--arms", default="scratch,p2,staged,staged_lr", help="which runs, comma-separated")
    parser.add_argument("--out", default="runs/bench_staged")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    out, seeds, epochs = Path(args.out), [int(s) for s in args.seeds.split(",")], args.epochs
    stages = f"train.stages=[{{patch_size: 2, epochs: {args.p2_epochs}}}, {{patch_size: 1, epochs: {epochs - args.p2_epochs}}}]"
    arms = {
        "scratch": (f"/1 from scratch, {epochs} ep", ["model.patch_size=1", f"train.epochs={epochs}"]),
        "p2": (f"/2 alone, {epochs} ep", ["model.patch_size=2", f"train.epochs={epochs}"]),
        "staged": (f"staged /2 {args.p2_epochs} ep → /1 {epochs - args.p2_epochs} ep", [stages]),
        "staged_lr": (
            f"staged /2 {args.p2_epochs} ep → /1 {epochs - args.p2_epochs} ep at lr {args.p1_lr:g}, no warm-up",
            [stages.replace("}]", f", lr: {args.p1_lr}, warmup_epochs: 0}}]")],
        ),
    }
    arms = {key: arms[key] for key in args.arms.split(",")}
    results: dict[str, list[dict]] = {name: [] for name, _ in arms.values()}
    for seed in seeds:  # seeds outermost: a slow spell of the shared machine hits every arm alike
        for key, (name, extra) in arms.items():
            results[name].append(train(out / f"{key}_p2ep{args.p2_epochs}_seed{seed}", seed, *extra))
    lines = [
        "| run | test Acc@1 (%) | train+eval wall (s) | whole call (s) | seeds |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, runs in results.items():
        acc = [r["final"]["acc1"] for r in runs]
        lines.append(
            f"| {name} | {mean_std(acc)} | {mean_std([r['wall_time_s'] for r in runs])} "
            f"| {mean_std([r['call_s'] for r in runs])} | {len(runs)} |"
        )
    table = "\n".join(lines)
    print(f"\n{table}")
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"staged_{args.arms.replace(',', '_')}_p2ep{args.p2_epochs}.json"
    path.write_text(json.dumps({"args": vars(args), "results": results}, indent=2))


if __name__ == "__main__":
    main()
