"""``pixelvit models``, ``export`` and ``push``: the model presets, a trained model as a timm folder or on the Hugging
Face Hub."""

from __future__ import annotations

import argparse

EPILOG_EXPORT = """examples:
  pixelvit export --to timm runs/vit_t1 timm_vit_t1
  python -c "import timm; m = timm.create_model('local-dir:timm_vit_t1', pretrained=True)"

Only ViTs with the linear tokenizer have a timm counterpart (not the dictionary tokenizer, MAE, dense or DiT models)."""

EPILOG_PUSH = """examples:
  pixelvit push runs/vit_t1 my-lab/pixelvit-vit-t1-cifar100 --dry-run     # write RUN_DIR/hub, upload nothing
  pixelvit push runs/vit_t1 my-lab/pixelvit-vit-t1-cifar100              # needs `hf auth login`

Then: pixelvit.from_pretrained("my-lab/pixelvit-vit-t1-cifar100")."""


def _add_models(sub) -> None:
    p = sub.add_parser("models", help="list model presets")
    p.add_argument("pattern", nargs="?", default="*", help="shell pattern, e.g. 'vit_s/*'")
    p.set_defaults(func=cmd_models)


def _add_export(sub) -> None:
    p = sub.add_parser(
        "export",
        help="write a trained model in another library's format (timm)",
        epilog=EPILOG_EXPORT,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--to", choices=["timm"], required=True, help="target library")
    p.add_argument(
        "source",
        help="a run directory, a model directory (config.json + model.safetensors), a step_*.pt file or ORG/NAME on the Hub",
    )
    p.add_argument("out", help="folder to write (config.json + model.safetensors in the target's layout)")
    p.set_defaults(func=cmd_export)


def _add_push(sub) -> None:
    p = sub.add_parser(
        "push",
        help="upload a run's model and a generated model card to the Hugging Face Hub",
        epilog=EPILOG_PUSH,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("run_dir", help="a run directory with a final/ or best/ model")
    p.add_argument("repo_id", help="Hub repository, ORG/NAME (created if missing)")
    p.add_argument("--dry-run", action="store_true", help="write the repository folder (default RUN_DIR/hub) and upload nothing")
    p.add_argument("--out", help="write the repository folder here (kept)")
    p.set_defaults(func=cmd_push)


def add_commands(sub) -> None:
    """Register ``models``, ``export`` and ``push``."""
    for add in (_add_models, _add_export, _add_push):
        add(sub)


def cmd_models(args: argparse.Namespace) -> int:
    from ..models import list_models

    print("\n".join(list_models(args.pattern)))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from ..engine.publish import export_to_timm

    result = export_to_timm(args.source, args.out)
    out = result["out"]
    print(
        f"wrote {out / 'config.json'} and {out / 'model.safetensors'}: timm {result['architecture']} with patch size "
        f"{result['patch_size']} ({result['tokens']:,} tokens)\n"
        f"open it with: timm.create_model('local-dir:{out}', pretrained=True)"
    )
    return 0


def cmd_push(args: argparse.Namespace) -> int:
    from ..engine.publish import push_run

    result = push_run(args.run_dir, args.repo_id, dry_run=args.dry_run, out=args.out)
    if result["folder"] is not None:
        print(f"wrote {result['folder']}: {', '.join(result['files'])}")
    if result["url"] is None:
        print(f"dry run: nothing uploaded to {args.repo_id}")
    else:
        print(f"uploaded {', '.join(result['files'])} to {result['url']}")
    return 0
