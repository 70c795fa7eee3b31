"""``pixelvit bench``: the benchmark suite from the command line."""

from __future__ import annotations

import argparse
from pathlib import Path

from .arguments import parse_ints


def add_commands(sub) -> None:
    p = sub.add_parser(
        "bench",
        help="throughput, FLOP/s, memory: pixelvit vs timm, and sequence-length scaling",
        description="Measures training-step and inference throughput (median after warm-up), achieved FLOP/s against the "
        "same-dtype matmul peak measured in the same run, and peak memory, for pixelvit's ViT and timm's identical "
        "VisionTransformer; then a sequence-length sweep. The default set runs on a 2-core CPU in a few minutes.",
    )
    p.add_argument("--presets", default="vit_t/1", help="comma-separated presets (default vit_t/1)")
    p.add_argument("--img-sizes", default="32", help="comma-separated square image sizes (default 32)")
    p.add_argument("--batches", default="32", help="comma-separated batch sizes (default 32)")
    p.add_argument("--precisions", default="fp32,bf16", help="fp32 and/or bf16 (bf16 is skipped where it is not native)")
    p.add_argument("--modes", default="train,infer", help="train and/or infer")
    p.add_argument("--scaling-sizes", default="16,24,32,48,64", help="image sizes of the /1 scaling sweep (L = size²)")
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--no-timm", action="store_true", help="skip the timm comparison")
    p.add_argument("--device", default="auto")
    p.add_argument("--out", default="runs/bench", help="folder for bench.json and bench.md")
    p.set_defaults(func=cmd_bench)


def cmd_bench(args: argparse.Namespace) -> int:
    from ..bench.suite import format_report, run_suite, save_report
    from ..engine.device import resolve_device

    report = run_suite(
        presets=args.presets.split(","),
        img_sizes=parse_ints(args.img_sizes, "--img-sizes"),
        batches=parse_ints(args.batches, "--batches"),
        precisions=args.precisions.split(","),
        modes=args.modes.split(","),
        scaling_sizes=parse_ints(args.scaling_sizes, "--scaling-sizes"),
        device=resolve_device(args.device),
        warmup=args.warmup,
        repeats=args.repeats,
        compare_timm=not args.no_timm,
    )
    print(format_report(report))
    save_report(report, Path(args.out))
    print(f"\nwrote {Path(args.out) / 'bench.json'} and {Path(args.out) / 'bench.md'}")
    return 0
