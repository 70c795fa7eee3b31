"""Pixel dropout (model.token_keep) at equal epochs and at equal wall time, over seeds.

    .venv/bin/python scripts/pixel_dropout_benchmark.py [--recipe digits|fashion_mnist_14] [--epochs N]
        [--keeps 0.5,0.25] [--seeds 0,1,2] [--threads 2] [--out runs/studies]

For each seed, a /1 model of the recipe (pixelvit.tasks.recipes) trains:
1. with all tokens for --epochs (the reference), and with each token_keep in --keeps for the same epochs;
2. with each token_keep for as many epochs as fit in the reference's wall time: epochs × the throughput
   gain measured in step 1 (ratio of the runs' best log-interval throughput, median over seeds, so every seed
   trains the same epochs and a busy spell of a shared machine does not size the runs);
3. the schedule arm: token_keep = the first of --keeps for the first epochs (model.token_keep_epochs), all
   tokens for the last third of the reference's epochs, also sized to the reference's wall time.
Runs are reused when they already finished with the same config (analysis/study.train_variant), so the
/1 reference is shared with scripts/staged_training_benchmark.py. Prints the Markdown table of
BENCHMARKS.md, with each arm's training time at the peak speeds (epochs × images / peak img/s: what it
costs on a quiet machine) beside the measured wall time; raw numbers in OUT/<recipe>/pixel_dropout_e<N>.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import torch

from pixelvit.analysis.study import mean_std, train_variant
from pixelvit.commands.console import use_console
from pixelvit.config import load_config
from pixelvit.engine.logging import read_metrics
from pixelvit.tasks.recipes import RECIPES

DEFAULT_EPOCHS = {"digits": 15, "fashion_mnist_14": 6}


def peak_throughput(run_dir: Path) -> float:
    """The run's best logged training throughput (img/s over one log interval): on a shared machine the
    interval least slowed by other work, so the ratio of two runs' peaks is their speed ratio."""
    return max(r["images_per_s"] for r in read_metrics(run_dir, "train") if "images_per_s" in r)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", choices=sorted(RECIPES), default="digits")
    parser.add_argument("--epochs", type=int, help="the reference's epochs (default: 15 digits, 6 fashion_mnist_14)")
    parser.add_argument("--keeps", default="0.5,0.25")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default="runs/studies")
    args = parser.parse_args()
    use_console()  # the runs' progress lines, as `pixelvit train` shows them
    torch.set_num_threads(args.threads)
    epochs = args.epochs or DEFAULT_EPOCHS.get(args.recipe, 10)
    keeps, seeds = [float(k) for k in args.keeps.split(",")], [int(s) for s in args.seeds.split(",")]
    out = Path(args.out) / args.recipe

    def run(seed: int, keep: float, n_epochs: int, keep_epochs: int | None = None) -> dict:
        name = f"p1_e{n_epochs}_s{seed}" if keep == 1 else f"p1_keep{keep:g}_e{n_epochs}_s{seed}"
        extra = ["model.patch_size=1", f"train.epochs={n_epochs}"]
        if keep < 1:
            extra.append(f"model.token_keep={keep}")
        if keep_epochs is not None:
            name, extra = f"{name}_until{keep_epochs}", [*extra, f"model.token_keep_epochs={keep_epochs}"]
        base = [*RECIPES[args.recipe], "train.progress=false", f"train.seed={seed}"]
        summary = train_variant(None, base, out / name, extra)
        if summary["status"] != "finished":
            raise RuntimeError(f"{out / name}: {summary['status']}")
        return {**summary, "peak_images_per_s": peak_throughput(out / name)}

    rows: dict[str, tuple[float, int, int, list[dict]]] = {}  # arm -> (keep, epochs with dropout, epochs, runs)
    rows["all tokens"] = (1.0, 0, epochs, [run(s, 1.0, epochs) for s in seeds])
    full = rows["all tokens"][3]
    peak = {1.0: statistics.median(r["peak_images_per_s"] for r in full)}
    gain = {}
    for keep in keeps:
        runs = [run(s, keep, epochs) for s in seeds]
        rows[f"keep {keep:g}, equal epochs"] = (keep, epochs, epochs, runs)
        gain[keep] = statistics.median(r["peak_images_per_s"] / f["peak_images_per_s"] for r, f in zip(runs, full))
        peak[keep] = statistics.median(r["peak_images_per_s"] for r in runs)
    for keep in keeps:
        n = max(1, round(epochs * gain[keep]))
        rows[f"keep {keep:g}, equal wall time"] = (keep, n, n, [run(s, keep, n) for s in seeds])
    keep, last = keeps[0], max(1, round(epochs / 3))
    dropped = max(1, round((epochs - last) * gain[keep]))
    name = f"keep {keep:g} for {dropped} ep, then all tokens for {last}, equal wall time"
    rows[name] = (keep, dropped, dropped + last, [run(s, keep, dropped + last, dropped) for s in seeds])

    batch = load_config(None, RECIPES[args.recipe]).train.batch_size
    images_per_epoch = full[0]["step"] * batch / epochs

    def time_at_peak(keep: float, dropout_epochs: int, total: int) -> float:
        """Training seconds at the measured peak speeds: what the arm costs on a machine doing nothing else."""
        return images_per_epoch * (dropout_epochs / peak.get(keep, peak[1.0]) + (total - dropout_epochs) / peak[1.0])

    lines = [
        "| arm | token_keep | epochs | peak train img/s | train time at peak (s) | measured wall (s) | test Acc@1 (%) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for arm, (keep, dropout_epochs, n, runs) in rows.items():
        lines.append(
            f"| {arm} | {keep:g} | {n} | {mean_std([r['peak_images_per_s'] for r in runs], 0)} "
            f"| {time_at_peak(keep, dropout_epochs, n):.1f} | {mean_std([r['wall_time_s'] for r in runs])} "
            f"| {mean_std([r['final']['acc1'] for r in runs])} |"
        )
    table = "\n".join(lines)
    gains = ", ".join(f"token_keep {k:g}: {g:.2f}x" for k, g in gain.items())
    print(f"\n{args.recipe}, seeds {args.seeds}; throughput gain over all tokens ({gains})\n\n{table}")
    out.mkdir(parents=True, exist_ok=True)
    arms = {arm: {"keep": k, "dropout_epochs": d, "epochs": n, "runs": runs} for arm, (k, d, n, runs) in rows.items()}
    record = {"args": vars(args), "gain": gain, "rows": arms}
    (out / f"pixel_dropout_e{epochs}.json").write_text(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
