"""``pixelvit demo`` and ``pixelvit dit-demo``: the paper's two claims in miniature on the bundled digits."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .arguments import add_overrides, parse_ints


def _add_demo(sub) -> None:
    p = sub.add_parser("demo", help="pixel vs patch tokens on the bundled digits (a few minutes on CPU)")
    p.add_argument("--out", default="runs/demo", help="run directory (default runs/demo)")
    p.add_argument("--patch-sizes", default="1,2,4", help="comma-separated patch sizes (default 1,2,4)")
    add_overrides(p, "config overrides applied to every row, e.g. train.epochs=5; before, between or after the options")
    p.set_defaults(func=cmd_demo)


def _add_dit_demo(sub) -> None:
    p = sub.add_parser("dit-demo", help="tiny pixel-space DiT/1 on the digits: train, sample, FID (minutes on a CPU)")
    p.add_argument("--out", default="runs/dit-demo", help="output folder (default runs/dit-demo)")
    add_overrides(p, "overrides for the DiT run, e.g. train.epochs=20; before, between or after the options")
    p.set_defaults(func=cmd_dit_demo)


def add_commands(sub) -> None:
    """Register ``demo`` and ``dit-demo``."""
    for add in (_add_demo, _add_dit_demo):
        add(sub)


def cmd_demo(args: argparse.Namespace) -> int:
    from ..demos.digits import run_demo

    _, text = run_demo(Path(args.out), parse_ints(args.patch_sizes, "--patch-sizes"), args.overrides)
    print(text)
    return 0


def cmd_dit_demo(args: argparse.Namespace) -> int:
    from ..demos.dit_digits import run_dit_demo

    result, text = run_dit_demo(Path(args.out), args.overrides)
    print(text)
    print(json.dumps({k: v for k, v in result.items() if k != "features"}, indent=1))
    return 0
