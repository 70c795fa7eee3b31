"""The command layer: ``pixelvit <command>``. The only code that parses arguments and prints.

One module per area, each with ``add_commands(subparsers)``; every parser sets ``func``, a function
of the parsed arguments that returns an exit code. Nothing below this package imports it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import analysis, bench, demo, generation, training

COMMAND_MODULES = (training, demo, analysis, generation, bench)


def build_parser() -> argparse.ArgumentParser:
    """The ``pixelvit`` parser with every area's subcommands."""
    parser = argparse.ArgumentParser(prog="pixelvit", description="Vision Transformers on individual pixels, beside patch ViTs.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.add_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; a user's mistake (bad value, missing file, unusable checkpoint) is one line on stderr, exit 2."""
    from ..engine.checkpoint import CheckpointError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError, CheckpointError) as e:  # ConfigError is a ValueError
        print(f"pixelvit {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
