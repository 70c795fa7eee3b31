"""``pixelvit train``, ``eval`` and ``prepare``: training runs, their evaluation, dataset caches."""

from __future__ import annotations

import argparse
from pathlib import Path

from .arguments import add_overrides

EPILOG_TRAIN = """examples:
  pixelvit train configs/cifar100/vit_t1.yaml
  pixelvit train configs/cifar100/vit_t1.yaml model.patch_size=2 optim.blr=5e-4 run_dir=runs/t2
  pixelvit train configs/cifar100/vit_t1.yaml train.epochs=5 train.precision=fp32

Starting the same command again resumes from the run directory's newest valid checkpoint.
Overrides are dotted keys (model., data., augment., optim., train.); values are YAML scalars.
They may come anywhere after CONFIG."""


def _add_train(sub) -> None:
    p = sub.add_parser(
        "train",
        help="train a model from a YAML config",
        epilog=EPILOG_TRAIN,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("config", help="YAML config file (see configs/)")
    add_overrides(p)
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


def add_commands(sub) -> None:
    """Register ``train``, ``eval`` and ``prepare``."""
    for add in (_add_train, _add_eval, _add_prepare):
        add(sub)


def cmd_train(args: argparse.Namespace) -> int:
    from ..engine.distributed import cleanup
    from ..tasks.training import train_from_config

    summary = train_from_config(args.config, args.overrides)
    cleanup()  # under torchrun: every rank got here, so the groups can be torn down together (not after an error)
    return 0 if summary["status"] in ("finished",) or summary["status"].startswith("reached") else 130


def cmd_eval(args: argparse.Namespace) -> int:
    from ..tasks.training import evaluate_checkpoint

    about: dict = {}
    metrics = evaluate_checkpoint(
        args.checkpoint, data=args.data, root=args.root, split=args.split, batch_size=args.batch_size, device=args.device,
        about=about,
    )  # fmt: skip
    h, w = about["img_size"]
    print(f"model: {about['model']}, {h}x{w} input, {about['tokens']} tokens ({args.checkpoint})")
    print(f"data: {about['data']}/{about['split']}, {about['num_images']} images")
    print("  ".join(f"{k}: {v:.3f}" for k, v in metrics.items()))
    return 0


def cmd_prepare(args: argparse.Namespace) -> int:
    from ..data import prepare_imagenet

    out = prepare_imagenet(Path(args.root), args.size, out=Path(args.out) if args.out else None, workers=args.workers)
    print(f"cache ready: {out}")
    return 0
