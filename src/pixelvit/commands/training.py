"""``pixelvit train``, ``eval`` and ``prepare``: training runs, their evaluation, dataset caches."""

from __future__ import annotations

import argparse
from pathlib import Path

from .arguments import add_overrides, add_threads_arg, use_threads

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


EPILOG_EVAL = """examples:
  pixelvit eval runs/vit_t1                          # final/ (else best/, else the newest checkpoint)
  pixelvit eval runs/vit_t1/best --split test        # the weights chosen on the validation set
  pixelvit eval runs/vit_t1 --limit 0 --precision fp32
  pixelvit eval runs/vit_t1/checkpoints/step_00001000.pt

By default eval uses the run's own evaluation settings (its eval split, data.limit_eval and precision),
so `pixelvit eval RUN_DIR` reproduces the run's final number; it prints which weights it used (raw or
EMA, step) and says why its number may differ from the run's when a setting differs."""


def _add_eval(sub) -> None:
    p = sub.add_parser(
        "eval",
        help="evaluate a trained model (run dir, model dir or checkpoint .pt)",
        epilog=EPILOG_EVAL,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("checkpoint", help="a run directory, a model directory (config.json + model.safetensors) or a step_*.pt file")
    p.add_argument("--data", help="dataset name (default: the one the model was trained on)")
    p.add_argument("--root", help="dataset root folder (default: the run's data.root)")
    p.add_argument("--split", help="split to evaluate (default: the run's data.eval_split)")
    p.add_argument("--limit", type=int, help="evaluate the first N images (0: all; default: the run's data.limit_eval)")
    p.add_argument("--precision", choices=["fp32", "bf16"], help="default: the precision the run evaluated in")
    p.add_argument("--batch-size", type=int, default=256, help="default 256")
    add_threads_arg(p)
    p.add_argument("--device", default="auto", help="auto (default: cuda when available), cpu or cuda[:N]")
    p.set_defaults(func=cmd_eval)


EPILOG_PREPARE = """examples:
  pixelvit prepare imagenet --root data/imagenet --size 28              # the paper's 28x28 ImageNet
  pixelvit prepare imagenet --root data/imagenet --size 64 --workers 8 --out /scratch/imagenet64

ROOT holds train/<wnid>/*.JPEG and val/<wnid>/*.JPEG (val sorted into class folders, e.g. with valprep.sh).
A complete cache is checked and kept; running it again after an interruption continues."""


def _add_prepare(sub) -> None:
    p = sub.add_parser(
        "prepare",
        help="build a dataset cache once (decode + resize into a uint8 array)",
        epilog=EPILOG_PREPARE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
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


WEIGHTS_KIND = {"ema": "EMA", "raw": "raw", "unknown": "raw or EMA: not recorded"}


def cmd_eval(args: argparse.Namespace) -> int:
    from ..tasks.training import evaluate_checkpoint

    threads = use_threads(args)
    about: dict = {}
    metrics = evaluate_checkpoint(
        args.checkpoint, data=args.data, root=args.root, split=args.split, batch_size=args.batch_size, device=args.device,
        about=about, precision=args.precision, limit=args.limit,
    )  # fmt: skip
    h, w = about["img_size"]
    weights = about["weights"]
    at = ", ".join(f"{k} {weights[k]}" for k in ("step", "epoch") if weights.get(k) is not None) or "step not recorded"
    print(f"weights: {weights.get('path', args.checkpoint)} ({WEIGHTS_KIND.get(weights.get('weights'), '?')}, {at})")
    print(f"model: {about['model']}, {h}x{w} input, {about['tokens']} tokens")
    limit = f"first {about['limit']}" if about["limit"] else "all"
    images = f"{about['num_images']} images ({limit})"
    print(f"data: {about['data']}/{about['split']}, {images}, precision {about['precision']}; {threads}")
    print("  ".join(f"{k}: {v:.3f}" for k, v in metrics.items()))
    if about.get("differs"):
        print("not the run's own setting, so the number may differ from its summary: " + "; ".join(about["differs"]))
    elif about.get("run_number"):
        shared = {k: v for k, v in about["run_number"].items() if k in metrics}
        print("the run reported: " + "  ".join(f"{k}: {v:.3f}" for k, v in shared.items()))
    elif "run_number" in about:
        print("the run has not reported a final number yet (not finished): nothing to compare with")
    return 0


def cmd_prepare(args: argparse.Namespace) -> int:
    from ..data import prepare_imagenet

    out = prepare_imagenet(Path(args.root), args.size, out=Path(args.out) if args.out else None, workers=args.workers,
                           source_size=args.source_size, crop_pct=args.crop_pct)  # fmt: skip
    print(f"cache ready: {out}")
    return 0
