"""The command layer's one error boundary: what a user's input or environment can cause becomes one or
two lines naming the problem and the fix, with a non-zero exit code and no traceback. ``--debug``
(before the command) or ``PIXELVIT_DEBUG=1`` shows the traceback as well."""

from __future__ import annotations

import errno
import os
import pickle
import sys
import traceback

import torch

from ..errors import first_line

USAGE_ERROR = 2  # bad input: a config value, a file, an argument
RUN_FAILED = 1  # the environment or the run failed: memory, disk, a diverging loss, a bug
INTERRUPTED = 130


def debug_requested(flag: bool) -> bool:
    return flag or os.environ.get("PIXELVIT_DEBUG", "") not in ("", "0")


def explain(error: BaseException) -> tuple[str, int]:
    """(the message to print, the exit code) for an exception that escaped a command."""
    from ..engine.checkpoint import CheckpointError
    from ..engine.trainer import NonFiniteLossError

    if isinstance(error, KeyboardInterrupt):
        return "interrupted", INTERRUPTED
    if isinstance(error, torch.OutOfMemoryError | MemoryError):
        return (
            f"out of memory ({first_line(error)}). Lower train.batch_size (train.accum_steps keeps the global batch), "
            "set model.grad_checkpointing=true, or use a smaller model or input",
            RUN_FAILED,
        )
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
        return (
            f"no space left on the disk ({first_line(error)}). Free some space (old runs, checkpoints); the run resumes",
            RUN_FAILED,
        )
    if isinstance(error, NonFiniteLossError):
        return str(error), RUN_FAILED
    if isinstance(error, pickle.UnpicklingError):
        return f"refusing to unpickle a file that holds code or unknown objects ({first_line(error)})", USAGE_ERROR
    if isinstance(error, ValueError | FileNotFoundError | NotADirectoryError | IsADirectoryError | CheckpointError):
        return str(error), USAGE_ERROR  # ConfigError is a ValueError: its message names the key and the fix
    if isinstance(error, PermissionError):
        return f"permission denied: {first_line(error)}; choose a folder you can write (run_dir=..., --out ...)", USAGE_ERROR
    if isinstance(error, OSError):
        return f"{type(error).__name__}: {first_line(error)}", RUN_FAILED
    if isinstance(error, RuntimeError) and "CUDA" in str(error):
        return f"{first_line(error)} (train.device=cpu runs without a GPU)", RUN_FAILED
    if type(error).__name__ == "SafetensorError":
        return f"not a readable safetensors file ({first_line(error)}): the model file is corrupt or not a model", USAGE_ERROR
    return (
        f"unexpected {type(error).__name__}: {first_line(error)}\n"
        "This is likely a bug in pixelvit: rerun with `pixelvit --debug ...` (or PIXELVIT_DEBUG=1) and report the traceback",
        RUN_FAILED,
    )


def report(command: str, error: BaseException, debug: bool) -> int:
    """Print ``error`` for the user (and its traceback when ``debug``); returns the exit code."""
    if debug:
        traceback.print_exception(error, file=sys.stderr)
    message, code = explain(error)
    print(f"pixelvit {command}: error: {message}", file=sys.stderr)
    return code
