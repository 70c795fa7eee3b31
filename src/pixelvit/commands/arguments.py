"""Argument helpers shared by the command modules: integer lists, the data options, help strings."""

from __future__ import annotations

import argparse

from ..config import ConfigError

CHECKPOINT_HELP = "a run directory, a model directory (config.json + model.safetensors) or a step_*.pt file"


def parse_ints(text: str, what: str, example: str = "1,2,4") -> list[int]:
    """``"1,2,4"`` -> [1, 2, 4]; a ConfigError naming the option otherwise."""
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"{what} takes comma-separated integers like {example}, got {text!r}") from None


def parse_floats(text: str, what: str, example: str = "0.5,0.25") -> list[float]:
    """``"0.1,1.0"`` -> [0.1, 1.0]; a ConfigError naming the option otherwise."""
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"{what} takes comma-separated numbers like {example}, got {text!r}") from None


def add_data_args(p: argparse.ArgumentParser, device_default: str = "auto") -> None:
    """--data, --root, --split and --device: which images to show a trained model, and where to run it."""
    p.add_argument("--data", help="dataset name (default: the one the model was trained on)")
    p.add_argument("--root", help="dataset root folder")
    p.add_argument("--split", help="split to read (default: the config's eval split)")
    p.add_argument("--device", default=device_default, help="auto, cpu or cuda[:N]")


def threads_value(text: str) -> int | str:
    """``--threads``: ``auto`` or a positive integer."""
    if text == "auto":
        return text
    if text.isdigit() and int(text) > 0:
        return int(text)
    raise argparse.ArgumentTypeError(f"takes auto or a positive number of threads, got {text!r}")


def add_threads_arg(p: argparse.ArgumentParser) -> None:
    """``--threads`` of a command that runs models outside training (``train.threads`` is the training runs')."""
    p.add_argument("--threads", type=threads_value, default="auto", help="CPU threads: auto (default: the cores free "
                   "now; OMP_NUM_THREADS wins when set) or a number")  # fmt: skip


def use_threads(args: argparse.Namespace) -> str:
    """Set torch's thread count from ``args.threads`` (see :mod:`pixelvit.engine.threads`); returns a line saying
    how many and why."""
    import torch

    from ..engine.threads import choose_threads

    choice = choose_threads(args.threads, "--threads")
    torch.set_num_threads(choice.threads)
    return f"threads: {choice.threads} ({choice.reason})"


OVERRIDES_HELP = "dotted config overrides, e.g. train.epochs=5 optim.lr=1e-3; before, between or after the options"


def is_override(arg: str) -> bool:
    """Whether a command-line word is a ``section.key=value`` config override (not an option, not a path)."""
    key, eq, _ = arg.partition("=")
    return bool(eq) and not arg.startswith("-") and bool(key) and all(part.isidentifier() for part in key.split("."))


class OverridesAnywhere(argparse.ArgumentParser):
    """A subcommand parser whose ``key=value`` overrides may come before, between or after its options.

    argparse matches all positionals in one go, so ``CONFIG a=1 --mode x b=2`` would leave ``b=2`` over and fail
    with the top-level usage; here every leftover override joins ``args.overrides`` in command-line order, and any
    other leftover word is an error in this subcommand's own usage.
    """

    def parse_known_args(self, args=None, namespace=None):
        namespace, extras = super().parse_known_args(args, namespace)
        late = [a for a in extras if is_override(a)]
        if late:
            namespace.overrides = [*(namespace.overrides or []), *late]
        unknown = [a for a in extras if not is_override(a)]
        if unknown:
            self.error(f"unrecognized arguments: {' '.join(unknown)} (config overrides are section.key=value)")
        return namespace, []


def add_overrides(p: argparse.ArgumentParser, help: str = OVERRIDES_HELP) -> None:
    """The ``overrides`` positional of a command that trains, accepted anywhere among the options."""
    p.add_argument("overrides", nargs="*", help=help)
    p.__class__ = OverridesAnywhere  # sub.add_parser builds the top-level parser's class; only parsing changes
