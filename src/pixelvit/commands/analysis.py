"""The analyses of the paper and views of trained models: one subcommand per study, each writing a table and a plot."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..config import ConfigError
from .arguments import CHECKPOINT_HELP, add_data_args, add_overrides, parse_ints

CONFIG_HELP = (
    "YAML config of the base run, or a recipe: 'digits' (the demo's, on the bundled 8x8 digits, CPU minutes) or "
    "'fashion_mnist_14' (Fashion-MNIST at 14x14, 5,000 training images; needs the dataset)"
)


def _query(text: str) -> tuple[int, int]:
    parts = parse_ints(text, "--query")
    if len(parts) != 2:
        raise ConfigError(f"--query takes ROW,COL (a pixel of the input image), got {text!r}")
    return parts[0], parts[1]


def _add_attention_distance(sub) -> None:
    p = sub.add_parser("attention-distance", help="mean attention distance and offset per layer and head (one or two models)")
    p.add_argument("checkpoint", help=CHECKPOINT_HELP)
    p.add_argument("checkpoint2", nargs="?", help="a second model, drawn side by side (e.g. the /2 twin of a /1 model)")
    add_data_args(p)
    p.add_argument("--num-images", type=int, default=64, help="random sample of the split (default 64)")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--out", required=True, help="folder for attention_distance.{md,json,png}")
    p.set_defaults(func=cmd_attention_distance)


def _add_attention_maps(sub) -> None:
    p = sub.add_parser("attention-maps", help="attention of one query pixel (or the class token), per layer and head")
    p.add_argument("checkpoint", help=CHECKPOINT_HELP)
    add_data_args(p)
    p.add_argument("--index", type=int, default=0, help="image index in the split (default 0)")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--query", help="query pixel ROW,COL of the input image (default: the centre pixel)")
    which.add_argument("--cls", action="store_true", help="query with the class token")
    p.add_argument("--out", required=True, help="PNG file to write; FILE.md and FILE.json are written beside it")
    p.set_defaults(func=cmd_attention_maps)


def _add_pe_similarity(sub) -> None:
    p = sub.add_parser("pe-similarity", help="cosine similarity of each position embedding to all others, as small maps")
    p.add_argument("checkpoint", help=CHECKPOINT_HELP)
    p.add_argument("--stride", type=int, help="show every N-th row and column (default: at most 10 per side)")
    p.add_argument("--out", required=True, help="PNG file to write; FILE.md and FILE.json are written beside it")
    p.set_defaults(func=cmd_pe_similarity)


def _add_pe_study(sub) -> None:
    p = sub.add_parser("pe-study", help="train with sin-cos, learned and no position embedding (paper: 82.7 / 82.8 / 81.2)")
    p.add_argument("config", help=CONFIG_HELP)
    add_overrides(p, "config overrides applied to every run, e.g. train.epochs=5; before, between or after the options")
    p.add_argument("--variants", default="sincos,learned,none", help="comma-separated (default sincos,learned,none)")
    p.add_argument("--out", default="runs/pe_study", help="study folder (default runs/pe_study)")
    p.set_defaults(func=cmd_pe_study)


def _add_permutation_study(sub) -> None:
    p = sub.add_parser("permutation-study", help="train on pixel-permuted images: accuracy against T swapped pairs per δ")
    p.add_argument("config", help=CONFIG_HELP)
    add_overrides(p, "config overrides applied to every run; before, between or after the options")
    p.add_argument("--pairs", default="0,100,1000", help="comma-separated T values (default 0,100,1000)")
    p.add_argument("--deltas", default="1,4,inf", help="comma-separated δ values in pixels, inf = any distance")
    p.add_argument("--out", default="runs/permutation_study", help="study folder (default runs/permutation_study)")
    p.set_defaults(func=cmd_permutation_study)


def _add_patch_sweep(sub) -> None:
    p = sub.add_parser("patch-sweep", help="accuracy against patch size at fixed sequence length or fixed input size")
    p.add_argument("config", help=CONFIG_HELP)
    add_overrides(p, "config overrides applied to every run; before, between or after the options")
    p.add_argument("--mode", choices=["fixed-length", "fixed-input", "both"], default="both")
    p.add_argument("--patch-sizes", default="1,2,4", help="comma-separated (default 1,2,4)")
    p.add_argument("--grid", type=int, help="fixed-length: token grid side (default: the config's input / patch size)")
    p.add_argument("--out", default="runs/patch_sweep", help="study folder (default runs/patch_sweep)")
    p.set_defaults(func=cmd_patch_sweep)


def _add_shape_bias(sub) -> None:
    p = sub.add_parser("shape-bias", help="shape vs texture bias of an ImageNet model on cue-conflict images")
    p.add_argument("checkpoint", help=CHECKPOINT_HELP)
    p.add_argument("--root", required=True, help="cue-conflict folder: ROOT/<shape>/<shape><n>-<texture><m>.png")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--device", default="auto")
    p.add_argument("--out", help="folder for shape_bias.{md,json,png} (default: print only)")
    p.set_defaults(func=cmd_shape_bias)


def _add_mae_show(sub) -> None:
    p = sub.add_parser("mae-show", help="PNG grid of original / masked / reconstruction from an MAE (task: mae)")
    p.add_argument("checkpoint", help="an MAE run directory, model directory or step_*.pt checkpoint")
    add_data_args(p, device_default="cpu")
    p.add_argument("--num", type=int, default=8, help="number of images (rows), the first of the split (default 8)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random masks (default 0)")
    p.add_argument("--out", required=True, help="PNG file to write")
    p.set_defaults(func=cmd_mae_show)


def _add_depth_show(sub) -> None:
    p = sub.add_parser("depth-show", help="plot input / ground truth / predicted depth for a few test images (PNG)")
    p.add_argument("checkpoint", help="a depth run directory, a model directory or a step_*.pt file")
    add_data_args(p)
    p.add_argument("--num", type=int, default=4, help="number of images (rows), spread evenly over the split (default 4)")
    p.add_argument("--out", help="PNG to write (default: depth_show.png in the run or model directory)")
    p.set_defaults(func=cmd_depth_show)


def _add_report(sub) -> None:
    p = sub.add_parser(
        "report", help="report of runs by task: metrics beside the paper's, curves, analyses (Markdown; --html: one page)"
    )
    p.add_argument("run_dirs", nargs="+", help="run directories")
    p.add_argument("--out", default="report", help="folder for report.md and its plots (default ./report)")
    p.add_argument("--html", action="store_true", help="also write report.html: one self-contained page, plots inline")
    p.set_defaults(func=cmd_report)


def add_commands(sub) -> None:
    """Register the analysis subcommands on the ``pixelvit`` subparsers."""
    for add in (
        _add_attention_distance,
        _add_attention_maps,
        _add_pe_similarity,
        _add_pe_study,
        _add_permutation_study,
        _add_patch_sweep,
        _add_shape_bias,
        _add_mae_show,
        _add_depth_show,
        _add_report,
    ):
        add(sub)


def cmd_attention_distance(args: argparse.Namespace) -> int:
    from ..analysis.attention_distance import analyse_checkpoints

    checkpoints = [args.checkpoint] + ([args.checkpoint2] if args.checkpoint2 else [])
    _, text = analyse_checkpoints(
        checkpoints, Path(args.out), args.data, args.root, args.split, args.num_images, args.batch_size, args.device
    )
    print(text)
    return 0


def cmd_attention_maps(args: argparse.Namespace) -> int:
    from ..analysis.attention_maps import attention_maps_command

    query = None if args.cls else (_query(args.query) if args.query else "centre")
    _, text = attention_maps_command(
        args.checkpoint, Path(args.out), args.index, query, args.data, args.root, args.split, args.device
    )
    print(text)
    return 0


def cmd_pe_similarity(args: argparse.Namespace) -> int:
    from ..analysis.pe_similarity import pe_similarity_command

    _, text = pe_similarity_command(args.checkpoint, Path(args.out), args.stride)
    print(text)
    return 0


def cmd_pe_study(args: argparse.Namespace) -> int:
    from ..analysis.pe_study import run_pe_study

    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    _, text = run_pe_study(args.config, Path(args.out), variants, args.overrides)
    print(text)
    return 0


def cmd_permutation_study(args: argparse.Namespace) -> int:
    from ..analysis.permutation_study import parse_delta, run_permutation_study

    try:
        deltas = [parse_delta(d) for d in args.deltas.split(",") if d.strip()]
    except ValueError:
        raise ConfigError(f"--deltas takes comma-separated numbers or inf, got {args.deltas!r}") from None
    _, text = run_permutation_study(args.config, Path(args.out), parse_ints(args.pairs, "--pairs"), deltas, args.overrides)
    print(text)
    return 0


def cmd_patch_sweep(args: argparse.Namespace) -> int:
    from ..analysis.patch_sweep import MODES, run_patch_sweep

    for mode in MODES if args.mode == "both" else [args.mode]:
        _, text = run_patch_sweep(
            args.config, Path(args.out), mode, parse_ints(args.patch_sizes, "--patch-sizes"), args.grid, args.overrides
        )
        print(text)
    return 0


def cmd_shape_bias(args: argparse.Namespace) -> int:
    from ..analysis.shape_bias import shape_bias_command

    _, text = shape_bias_command(args.checkpoint, args.root, Path(args.out) if args.out else None, args.batch_size, args.device)
    print(text)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from ..analysis.report import build_report

    md = build_report(args.run_dirs, Path(args.out), args.html)
    print(f"wrote {md}" + (f" and {md.with_suffix('.html')} (self-contained: open it in a browser)" if args.html else ""))
    return 0


def cmd_mae_show(args: argparse.Namespace) -> int:
    from ..analysis.mae_reconstructions import mae_show

    path = mae_show(args.checkpoint, args.out, args.data, args.root, args.split, args.num, args.seed, args.device)
    print(f"wrote {path}")
    return 0


def cmd_depth_show(args: argparse.Namespace) -> int:
    from ..analysis.depth_predictions import depth_show_command

    path = depth_show_command(args.checkpoint, args.out, args.num, args.data, args.root, args.split, args.device)
    print(f"wrote {path}")
    return 0
