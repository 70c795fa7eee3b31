"""A/B of the engine's training step on a tiny ViT/1 (CPU or CUDA), interleaved so that load drifts hit both sides:
the step before issue 14 (foreach AdamW, clip_grad_norm_ and a host read of isfinite every step) against the step now
(fused AdamW, the norm checked on the device); the optimizer alone; eager against torch.compile. ``--profile`` prints
the torch.profiler table of the current step.

    HF_HUB_OFFLINE=1 .venv/bin/python scripts/engine_step_probe.py --img 16 --batch 8 --rounds 15
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from pixelvit.engine.device import resolve_device
from pixelvit.engine.optim import build_optimizer, param_groups
from pixelvit.engine.precision import autocast
from pixelvit.models import create_model


def make(variant: str, args: argparse.Namespace, device: torch.device):
    """One training-step closure: "before", "now" or "compiled" (now + torch.compile); "opt-*": the optimizer alone."""
    torch.manual_seed(0)
    model = create_model("vit_t/1", img_size=args.img, num_classes=100).to(device)
    groups = param_groups(model, 0.05)
    if variant in ("before", "opt-foreach"):
        clean = [{k: v for k, v in g.items() if k != "names"} for g in groups]
        optimizer = torch.optim.AdamW(clean, lr=1e-4, foreach=True)
    else:
        optimizer = build_optimizer(groups, 1e-4, (0.9, 0.999), device)
    params = [p for g in optimizer.param_groups for p in g["params"]]
    forward = torch.compile(model) if variant == "compiled" else model
    x = torch.randn(args.batch, 3, args.img, args.img, device=device)
    y = torch.randint(0, 100, (args.batch,), device=device)
    if variant.startswith("opt-"):
        for p in params:
            p.grad = torch.randn_like(p)
        return optimizer.step

    def step() -> None:
        with autocast(args.precision, device):
            loss = F.cross_entropy(forward(x).float(), y)
        loss.backward()
        if variant == "before":
            norm = torch.nn.utils.clip_grad_norm_(params, float("inf"))
            if not torch.isfinite(norm):  # the host read of every step
                raise FloatingPointError
        else:
            norm = torch.nn.utils.get_total_norm([p.grad for p in params if p.grad is not None])
            optimizer.found_inf = (~torch.isfinite(norm)).float()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        loss.item() if variant == "before" else None  # the per-step loss read of the old loop's callers

    return step


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--variants", default="before,now", help="before, now, compiled, opt-foreach, opt-fused")
    p.add_argument("--img", type=int, default=16)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--precision", default="fp32")
    p.add_argument("--rounds", type=int, default=15)
    p.add_argument("--device", default="auto")
    p.add_argument("--profile", action="store_true")
    args = p.parse_args()
    device = resolve_device(args.device)
    steps = {v: make(v, args, device) for v in args.variants.split(",")}
    start = time.perf_counter()
    for name, step in steps.items():  # warm-up (and compile)
        t = time.perf_counter()
        for _ in range(3):
            step()
        print(f"{name}: warm-up {time.perf_counter() - t:.1f} s")
    if args.profile:
        from torch.profiler import ProfilerActivity, profile

        with profile(activities=[ProfilerActivity.CPU, *([ProfilerActivity.CUDA] if device.type == "cuda" else [])]) as prof:
            for _ in range(5):
                steps[list(steps)[-1]]()
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15))
    times: dict[str, list[float]] = {v: [] for v in steps}
    for _ in range(args.rounds):
        for name, step in steps.items():
            if device.type == "cuda":
                torch.cuda.synchronize()
            t = time.perf_counter()
            step()
            if device.type == "cuda":
                torch.cuda.synchronize()
            times[name].append(time.perf_counter() - t)
    first = next(iter(steps))
    base = statistics.median(times[first])
    for name, ts in times.items():
        med, q = statistics.median(ts), statistics.quantiles(ts, n=4)
        print(f"{name:12s} median {1e3 * med:8.2f} ms  IQR {1e3 * q[0]:.2f}-{1e3 * q[2]:.2f}  min {1e3 * min(ts):.2f}  "
              f"speed-up vs {first}: {base / med:.3f}x")  # fmt: skip
    print(f"total {time.perf_counter() - start:.0f} s, torch threads {torch.get_num_threads()}")


if __name__ == "__main__":
    main()
