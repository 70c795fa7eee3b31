"""Two training runs started together on one machine: each run's speed against its speed alone.

    .venv/bin/python scripts/two_runs_benchmark.py [--epochs 15] [--patch 1] [--settings 2,auto] [--out runs/studies]

Runs ``pixelvit demo --patch-sizes P train.epochs=E`` (the bundled digits, ViT/P of the demo's recipe) as
separate processes, as a user starting two jobs would: first one alone (``train.threads=auto``, which takes
every free core of an idle machine), then, for each value of ``--settings``, two started together with
``train.threads`` set to that value (``2``: torch's default on 2 cores before ``auto``, every process
spinning one thread per core). Reads each run's training img/s from its ``summary.json`` and prints a
Markdown table: each run's img/s and its fraction of the solo speed, the pair's total, and each run's wall
time. The machine must be otherwise idle. Raw numbers: OUT/two_runs/two_runs.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

PIXELVIT = [sys.executable, "-m", "pixelvit"]


def start(out: Path, patch: int, epochs: int, threads: str) -> subprocess.Popen:
    """One demo run in its own process (a fresh run directory), with ``train.threads=threads``."""
    shutil.rmtree(out, ignore_errors=True)
    command = [*PIXELVIT, "demo", "--patch-sizes", str(patch), "--out", str(out), f"train.epochs={epochs}",
               f"train.threads={threads}"]  # fmt: skip
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen, out: Path, patch: int) -> dict:
    """Wait for a run; its throughput, wall time and the threads it took."""
    _, err = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"{out}: pixelvit demo failed ({proc.returncode}):\n{err[-2000:]}")
    summary = json.loads((out / f"patch{patch}" / "summary.json").read_text())
    return {"img_per_s": summary["train_images_per_s"], "wall_s": summary["wall_time_s"], "threads": summary["threads"]}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--patch", type=int, default=1)
    parser.add_argument("--settings", default="2,auto", help="train.threads of the pairs (comma-separated)")
    parser.add_argument("--out", default="runs/studies")
    args = parser.parse_args(argv)
    out = Path(args.out) / "two_runs"
    solo = finish(start(out / "solo", args.patch, args.epochs, "auto"), out / "solo", args.patch)
    pairs = {}
    for setting in args.settings.split(","):
        dirs = [out / f"pair_{setting}_{i}" for i in (0, 1)]
        procs = []
        for d in dirs:
            procs.append(start(d, args.patch, args.epochs, setting))
            time.sleep(0.05)  # started together, as two jobs submitted at once
        pairs[setting] = [finish(p, d, args.patch) for p, d in zip(procs, dirs, strict=True)]
    lines = [
        "| runs | train.threads | threads taken | img/s of each run | fraction of solo | total img/s | wall s of each |",
        "|---|---|---|---|---|---:|---|",
        f"| one alone | auto | {solo['threads']['threads']} | {solo['img_per_s']:.0f} | 1.00 | {solo['img_per_s']:.0f} "
        f"| {solo['wall_s']:.1f} |",
    ]
    for setting, runs in pairs.items():
        each = " / ".join(f"{r['img_per_s']:.0f}" for r in runs)
        frac = " / ".join(f"{r['img_per_s'] / solo['img_per_s']:.2f}" for r in runs)
        taken = " / ".join(str(r["threads"]["threads"]) for r in runs)
        wall = " / ".join(f"{r['wall_s']:.1f}" for r in runs)
        lines.append(
            f"| two together | {setting} | {taken} | {each} | {frac} | {sum(r['img_per_s'] for r in runs):.0f} | {wall} |"
        )
    print("\n".join(lines))
    record = {"args": vars(args), "solo": solo, "pairs": pairs}
    (out / "two_runs.json").write_text(json.dumps(record, indent=2))
    return record


if __name__ == "__main__":
    main()
