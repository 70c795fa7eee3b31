"""The command layer: ``pixelvit <command>``. The only code that parses arguments and prints.

One module per area, each with ``add_commands(subparsers)``; every parser sets ``func``, a function
of the parsed arguments that returns an exit code. Nothing below this package imports it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import analysis, bench, demo, generation, models, training
from .console import use_console
from .errors import debug_requested, report

COMMAND_MODULES = (training, demo, analysis, generation, bench, models)


def version_text() -> str:
    """``pixelvit 0.1.0 (git 1a2b3c4d5e6f, dirty)``; the git part only when run from a checkout."""
    from ..provenance import git_state, package_version

    git = git_state()
    commit = f" (git {git['commit'][:12]}{', dirty' if git['dirty'] else ''})" if git["commit"] else ""
    return f"pixelvit {package_version()}{commit}"


class DefaultsHelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Help with each option's default appended (``(default: 256)``) unless its text already names one, and the
    description and examples printed as written."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        unset = default is None or default is False or default is argparse.SUPPRESS
        if not text or "default" in text or unset or not action.option_strings:
            return action.help
        return f"{text} (default: %(default)s)"


class VersionAction(argparse.Action):
    """``--version``: print :func:`version_text` and exit (the git lookup runs only when asked)."""

    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=kwargs.get("help"))

    def __call__(self, parser, namespace, values, option_string=None):
        print(version_text())
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    """The ``pixelvit`` parser with every area's subcommands."""
    parser = argparse.ArgumentParser(prog="pixelvit", description="Vision Transformers on individual pixels, beside patch ViTs.")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error (also: PIXELVIT_DEBUG=1)")
    parser.add_argument("--version", action=VersionAction, help="show pixelvit's version (and git commit) and exit")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.add_commands(sub)
    for command in sub.choices.values():  # every option's help ends with its default; epilogs keep their lines
        command.formatter_class = DefaultsHelpFormatter
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command. Whatever a user's input or environment causes ends as one or two lines on stderr and
    a non-zero exit code (2: bad input, 1: the run failed, 130: interrupted); see :mod:`.errors`."""
    args = build_parser().parse_args(argv)
    use_console()
    try:
        return args.func(args)
    except BrokenPipeError:  # the reader left early (`pixelvit models | head`): not an error
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error when Python flushes stdout
        return 0
    except (Exception, KeyboardInterrupt) as e:
        return report(args.command, e, debug_requested(args.debug))


if __name__ == "__main__":
    sys.exit(main())
