"""Staged patch-size training: /2 then /1 (train.stages) against /1 from scratch and /2 alone, over seeds.

    .venv/bin/python scripts/staged_training_benchmark.py [--recipe digits|fashion_mnist_14] [--seeds 0,1,2]
        [--epochs 15] [--p2-epochs 12] [--p1-lr 5e-4] [--threads 1] [--arms scratch,p2,staged,staged_lr] [--out runs/studies]

Every run uses the recipe (pixelvit.tasks.recipes: digits = the demo's, width 64, depth 4, 8×8 input;
fashion_mnist_14 = the same model on Fashion-MNIST at 14×14) and the same total number of epochs: /1 and /2
train --epochs; the staged run trains /2 for --p2-epochs and then /1 for the rest, starting from the /2 model
(patch projection and position embedding resized), once with the recipe's learning rate and warm-up and once
with --p1-lr and no warm-up in the /1 stage. Reports test Acc@1 and wall time (training + evaluation as the
runs record it, summed over stages), mean ± std over the seeds, as a Markdown table (the one in
BENCHMARKS.md); raw numbers in OUT/<recipe>/staged_<arms>_p2ep<N>.json. Finished runs with the same config
are reused (the /1 reference is shared with scripts/pixel_dropout_benchmark.py).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from pixelvit.analysis.study import mean_std, train_variant
from pixelvit.commands.console import use_console
from pixelvit.tasks.recipes import RECIPES


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", choices=sorted(RECIPES), default="digits")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--p2-epochs", type=int, default=12)
    parser.add_argument("--p1-lr", type=float, default=5e-4, help="the /1 stage's learning rate in the last arm")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--arms", default="scratch,p2,staged,staged_lr", help="which runs, comma-separated")
    parser.add_argument("--out", default="runs/studies")
    args = parser.parse_args()
    use_console()  # the runs' progress lines, as `pixelvit train` shows them
    torch.set_num_threads(args.threads)
    out, seeds, epochs = Path(args.out) / args.recipe, [int(s) for s in args.seeds.split(",")], args.epochs
    stages = f"train.stages=[{{patch_size: 2, epochs: {args.p2_epochs}}}, {{patch_size: 1, epochs: {epochs - args.p2_epochs}}}]"
    p2_then_p1 = f"/2 {args.p2_epochs} ep → /1 {epochs - args.p2_epochs} ep"
    arms = {
        "scratch": (f"/1 from scratch, {epochs} ep", f"p1_e{epochs}", ["model.patch_size=1", f"train.epochs={epochs}"]),
        "p2": (f"/2 alone, {epochs} ep", f"p2_e{epochs}", ["model.patch_size=2", f"train.epochs={epochs}"]),
        "staged": (f"staged {p2_then_p1}", f"staged_p2ep{args.p2_epochs}_e{epochs}", [stages]),
        "staged_lr": (
            f"staged {p2_then_p1} at lr {args.p1_lr:g}, no warm-up",
            f"staged_lr{args.p1_lr:g}_p2ep{args.p2_epochs}_e{epochs}",
            [stages.replace("}]", f", lr: {args.p1_lr}, warmup_epochs: 0}}]")],
        ),
    }
    arms = {key: arms[key] for key in args.arms.split(",")}
    results: dict[str, list[dict]] = {name: [] for name, _, _ in arms.values()}
    for seed in seeds:  # seeds outermost: a slow spell of the shared machine hits every arm alike
        for name, slug, extra in arms.values():
            base = [*RECIPES[args.recipe], "train.progress=false", f"train.seed={seed}"]
            summary = train_variant(None, base, out / f"{slug}_s{seed}", extra)
            if summary["status"] != "finished":
                raise RuntimeError(f"{out / slug}_s{seed}: {summary['status']}")
            results[name].append(summary)
    lines = ["| run | test Acc@1 (%) | train+eval wall (s) | seeds |", "|---|---:|---:|---:|"]
    for name, runs in results.items():
        acc = [r["final"]["acc1"] for r in runs]
        lines.append(f"| {name} | {mean_std(acc)} | {mean_std([r['wall_time_s'] for r in runs])} | {len(runs)} |")
    table = "\n".join(lines)
    print(f"\n{args.recipe}, seeds {args.seeds}\n\n{table}")
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"staged_{args.arms.replace(',', '_')}_p2ep{args.p2_epochs}_e{epochs}.json"
    path.write_text(json.dumps({"args": vars(args), "results": results}, indent=2))


if __name__ == "__main__":
    main()
