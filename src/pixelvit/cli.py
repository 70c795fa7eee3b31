"""``pixelvit <command>``: train, eval, prepare, demo, models."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

EPILOG_TRAIN = """examples:
  pixelvit train configs/cifar100/vit_t1.yaml
  pixelvit train configs/cifar100/vit_t1.yaml model.patch_size=2 optim.blr=5e-4 run_dir=runs/t2
  pixelvit train configs/demo/digits.yaml train.epochs=5 train.precision=fp32

Starting the same command again resumes from the run directory's newest valid checkpoint.
Overrides are dotted keys (model., data., augment., optim., train.); values are YAML scalars."""


def _add_train(sub) -> None:
    p = sub.add_parser(
        "train",
        help="train a model from a YAML config",
        epilog=EPILOG_TRAIN,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("config", help="YAML config file (see configs/)")
    p.add_argument("overrides", nargs="*", help="dotted overrides, e.g. model.patch_size=2 optim.lr=1e-3")
    p.set_defaults(func=cmd_train)


def _add_eval(sub) -> None:
    p = sub.add_parser("eval", help="evaluate a trained model (run dir, model dir or checkpoint .pt)")
    p.add_argument("checkpoint", help="a run directory, a model directory (config.json + model.safetensors) or a step_*.pt file")
    p.add_argument("--data", help="dataset name (default: the one the model was trained on)")
    p.add_argument("--root", help="dataset root folder")
    p.add_argument("--split", help="split to evaluate (default: the config's eval split)")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--device", default="auto")
    p.set_defaults(func=cmd_eval)


def _add_prepare(sub) -> None:
    p = sub.add_parser("prepare", help="build a dataset cache once (decode + resize into a uint8 array)")
    p.add_argument("dataset", choices=["imagenet"], help="which dataset")
    p.add_argument("--root", required=True, help="folder holding train/ and val/ class folders")
    p.add_argument("--size", type=int, default=28, help="output side in pixels (default 28, the paper's)")
    p.add_argument("--out", help="cache folder (default ROOT/cache_SIZE)")
    p.add_argument("--workers", type=int, default=2, help="decoding processes")
    p.set_defaults(func=cmd_prepare)


def _add_demo(sub) -> None:
    p = sub.add_parser("demo", help="pixel vs patch tokens on the bundled digits (a few minutes on CPU)")
    p.add_argument("--out", default="runs/demo", help="run directory (default runs/demo)")
    p.add_argument("--patch-sizes", default="1,2,4", help="comma-separated patch sizes (default 1,2,4)")
    p.add_argument("overrides", nargs="*", help="config overrides applied to every row, e.g. train.epochs=5")
    p.set_defaults(func=cmd_demo)


def _add_models(sub) -> None:
    p = sub.add_parser("models", help="list model presets")
    p.add_argument("pattern", nargs="?", default="*", help="shell pattern, e.g. 'vit_s/*'")
    p.set_defaults(func=cmd_models)


# Modules that add subcommands of their own area: each defines ``add_commands(subparsers)``, whose
# parsers set ``func`` to a function of the parsed args returning an exit code.
COMMAND_MODULES: tuple[str, ...] = (
    "pixelvit.tasks.depth_commands",
    "pixelvit.analysis.commands",
    "pixelvit.mae_show",
    "pixelvit.diffusion.commands",
    "pixelvit.bench.commands",
)


def build_parser() -> argparse.ArgumentParser:
    import importlib

    parser = argparse.ArgumentParser(prog="pixelvit", description="Vision Transformers on individual pixels, beside patch ViTs.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (_add_train, _add_eval, _add_prepare, _add_demo, _add_models):
        add(sub)
    for module in COMMAND_MODULES:
        importlib.import_module(module).add_commands(sub)
    return parser


def cmd_train(args: argparse.Namespace) -> int:
    from .runner import train_from_config

    summary = train_from_config(args.config, args.overrides)
    return 0 if summary["status"] in ("finished",) or summary["status"].startswith("reached") else 130


def cmd_eval(args: argparse.Namespace) -> int:
    from .runner import evaluate_checkpoint

    metrics = evaluate_checkpoint(
        args.checkpoint, data=args.data, root=args.root, split=args.split, batch_size=args.batch_size, device=args.device
    )
    print("  ".join(f"{k}: {v:.3f}" for k, v in metrics.items()))
    return 0


def cmd_prepare(args: argparse.Namespace) -> int:
    from .data import prepare_imagenet

    out = prepare_imagenet(Path(args.root), args.size, out=Path(args.out) if args.out else None, workers=args.workers)
    print(f"cache ready: {out}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from .config import ConfigError
    from .demo import run_demo

    try:
        patch_sizes = [int(p) for p in args.patch_sizes.split(",")]
    except ValueError:
        raise ConfigError(f"--patch-sizes takes comma-separated integers like 1,2,4, got {args.patch_sizes!r}") from None
    run_demo(Path(args.out), patch_sizes, args.overrides)
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from .models import list_models

    print("\n".join(list_models(args.pattern)))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    from .engine.checkpoint import CheckpointError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError, CheckpointError) as e:  # ConfigError is a ValueError
        print(f"pixelvit {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
