"""Peak training memory of ViT-T/1 (width 192, depth 12) at long pixel sequences, with and without gradient checkpointing.

    .venv/bin/python scripts/memory_benchmark.py [--sizes 64,96] [--batch 8] [--threads 2] [--out runs/bench_memory.json]

Each case (image side, checkpointing on/off) runs ONE training step (forward, backward, fused AdamW step, as the
engine's optimizer) in a fresh process, so that its peak is its own: on a CPU the resident-set high-water mark
above the process's resident set at entry (``pixelvit.bench.measure.PeakMemory``; model and data already built,
optimizer state included), on CUDA the maximum allocated. Prints a Markdown table (the one in BENCHMARKS.md).

On Linux CPUs run it also with ``MALLOC_MMAP_THRESHOLD_=1048576``: glibc raises its mmap threshold as large
blocks are freed (up to 32 MB), after which tensors below it come from the heap, which fragments and keeps
freed pages resident, so the resident-set peak overstates what the tensors needed (at 64×64: 2.4 GB vs 0.8 GB).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import torch
import torch.nn.functional as F


def one_step(size: int, batch: int, checkpointing: bool, threads: int, device: str) -> dict:
    """One training step of ViT-T/1 on (batch, 3, size, size) images; its peak memory (MB) and time (s)."""
    from pixelvit.bench.measure import PeakMemory
    from pixelvit.engine.optim import build_optimizer, param_groups
    from pixelvit.models import create_model

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    dev = torch.device(device)
    model = create_model("vit_t/1", img_size=size, num_classes=100).to(dev).train()
    model.set_grad_checkpointing(checkpointing)
    optimizer = build_optimizer(param_groups(model, 0.05), 1e-4, (0.9, 0.999), dev)
    x, y = torch.randn(batch, 3, size, size, device=dev), torch.randint(0, 100, (batch,), device=dev)
    start = time.perf_counter()
    with PeakMemory(dev) as memory:
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
    seconds = time.perf_counter() - start
    mb = None if memory.bytes is None else memory.bytes / 2**20
    return {
        "img": size,
        "tokens": size * size,
        "batch": batch,
        "grad_checkpointing": checkpointing,
        "peak_mb": mb,
        "step_s": seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="64,96")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", default="runs/bench_memory.json")
    args = parser.parse_args()
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        for checkpointing in (False, True):
            with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
                row = pool.submit(one_step, size, args.batch, checkpointing, args.threads, args.device).result()
            print(row, flush=True)
            rows.append(row)
    lines = ["| img | tokens | batch | grad checkpointing | peak MB | step s |", "|---:|---:|---:|---|---:|---:|"]
    lines += [
        f"| {r['img']} | {r['tokens']} | {r['batch']} | {'on' if r['grad_checkpointing'] else 'off'} "
        f"| {r['peak_mb']:.0f} | {r['step_s']:.1f} |"
        for r in rows
    ]
    print("\n" + "\n".join(lines))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"args": vars(args), "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
