"""``pixelvit train``, ``eval`` and ``prepare``: training runs, their evaluation, dataset caches."""

from __future__ import annotations

import argparse
from pathlib import Path

from .arguments import add_overrides

EPILOG_TRAIN = """examples:
  pixelvit train configs/cifar100/vit_t1.yaml
  pixelvit train configs/cifar100/vit_t1.yaml model.patch_size=2 optim.blr=5e-4 run_dir=runs/t2
  pixelvit train configs/cifar100/vit_t1.yaml train.epochs=5 train.precision=fp32
  pixelvit train configs/imagenet/vit_b1.yaml --dry-run    # the resolved recipe and its cost; trains nothing

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
    p.add_argument("--dry-run", action="store_true", help="build everything, train nothing: print the resolved recipe, "
                   "its schedule, augmentation, parameter groups, FLOPs and GPU-hours, the paper's numbers and the "
                   "declared deviations (no data download; a missing dataset is reported)")  # fmt: skip
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
    p.add_argument("--source-size", type=int, help="store the train split at this side for crops cut from it and "
                   "downsampled to --size (the ImageNet configs: 112 for 28); default: train at --size")  # fmt: skip
    p.add_argument("--crop-pct", type=float, default=1.0, help="val: resize the short side to floor(size / crop_pct), "
                   "centre-crop size (timm/MAE: 0.875); default 1.0")  # fmt: skip
    p.set_defaults(func=cmd_prepare)


def add_commands(sub) -> None:
    """Register ``train``, ``eval`` and ``prepare``."""
    for add in (_add_train, _add_eval, _add_prepare):
        add(sub)


def cmd_train(args: argparse.Namespace) -> int:
    from ..engine.distributed import cleanup
    from ..tasks.training import train_from_config

    if args.dry_run:
        from ..config import load_config
        from ..tasks.recipe import format_recipe, resolve_recipe

        print(format_recipe(resolve_recipe(load_config(args.config, args.overrides))))
        return 0

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

    out = prepare_imagenet(Path(args.root), args.size, out=Path(args.out) if args.out else None, workers=args.workers,
                           source_size=args.source_size, crop_pct=args.crop_pct)  # fmt: skip
    print(f"cache ready: {out}")
    return 0
