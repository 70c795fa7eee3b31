"""Training checkpoints: plain dicts of tensors and primitives, written atomically, loaded with
``torch.load(weights_only=True)`` so that nothing in a checkpoint can execute code.

Layout: ``RUN_DIR/checkpoints/step_00001234.pt`` and, beside it, ``step_00001234.sha256``: the
SHA-256 of the file's bytes, written after it. Loading verifies the digest, so a flipped bit is
caught before it reaches a run. Resuming takes the newest checkpoint that verifies and loads; a
truncated, zero-byte, corrupt or unverifiable one is skipped with a warning. Pruning after a save
keeps the file just written and the ``keep - 1`` newest *older* ones: a file with a higher step
number (a corrupt or foreign one) can never push out the checkpoint that was just written.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import random
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import first_line
from ..io import atomic_path, remove_stale_temp_files, write_text_atomic

_NAME = re.compile(r"^step_(\d{8,})\.pt$")


class CheckpointError(RuntimeError):
    """A checkpoint file cannot be used (corrupt, truncated, or holding code)."""


def checkpoint_dir(run_dir: str | os.PathLike) -> Path:
    return Path(run_dir) / "checkpoints"


def list_checkpoints(run_dir: str | os.PathLike) -> list[Path]:
    """Checkpoint files of a run, oldest first."""
    directory = checkpoint_dir(run_dir)
    if not directory.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in directory.iterdir() if (m := _NAME.match(p.name))]
    return [p for _, p in sorted(found)]


def digest_path(path: Path) -> Path:
    """``step_N.pt`` -> ``step_N.sha256``: the digest file written beside a checkpoint."""
    return path.with_suffix(".sha256")


def save_checkpoint(state: dict[str, Any], run_dir: str | os.PathLike, step: int, keep: int) -> Path:
    """Write ``state`` as ``step_<step>.pt`` (and its digest) atomically, then prune older checkpoints.

    Only checkpoints older than the one just written are removed (the ``keep - 1`` newest of them stay);
    stale temporary files of a killed write are removed too.
    """
    path = checkpoint_dir(run_dir) / f"step_{step:08d}.pt"
    buffer = io.BytesIO()
    torch.save(state, buffer)
    payload = buffer.getbuffer()
    with atomic_path(path) as tmp:
        tmp.write_bytes(payload)
    write_text_atomic(digest_path(path), hashlib.sha256(payload).hexdigest() + "\n")
    older = [p for p in list_checkpoints(run_dir) if step_of(p) < step]
    for old in older[: max(0, len(older) - (keep - 1))]:
        old.unlink(missing_ok=True)
        digest_path(old).unlink(missing_ok=True)
    return path


def step_of(path: Path) -> int:
    """The step number in a checkpoint's file name."""
    return int(_NAME.match(path.name).group(1))


def clean_checkpoint_dir(run_dir: str | os.PathLike) -> None:
    """Remove what a killed write left behind: temp files, and digests whose checkpoint is gone."""
    directory = checkpoint_dir(run_dir)
    remove_stale_temp_files(directory)
    if directory.is_dir():
        for digest in directory.glob("step_*.sha256"):
            if not digest.with_suffix(".pt").exists():
                digest.unlink(missing_ok=True)


def read_verified(path: Path) -> bytes:
    """The bytes of a checkpoint, checked against its digest file when it has one."""
    data = path.read_bytes()
    if not data:
        raise CheckpointError(f"{path} is empty (zero bytes): a write was cut short")
    digest = digest_path(path)
    if digest.is_file():
        expected = digest.read_text().strip()
        if hashlib.sha256(data).hexdigest() != expected:
            raise CheckpointError(f"{path} does not match its SHA-256 in {digest.name}: the file is corrupt")
    return data


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint without executing code; :class:`CheckpointError` says why it is unusable."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} not found")
    data = read_verified(path)
    try:
        state = torch.load(io.BytesIO(data), map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        raise CheckpointError(
            f"refusing to load {path}: it holds objects other than tensors and plain data, which could run code "
            f"when unpickled ({first_line(e)}). Only load checkpoints you trust, and convert them to "
            "plain tensors first"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError, IndexError, KeyError) as e:
        raise CheckpointError(f"{path} is truncated or corrupt ({type(e).__name__}: {first_line(e)})") from None
    if not isinstance(state, dict) or "model" not in state:
        raise CheckpointError(f"{path} is not a pixelvit checkpoint (no 'model' entry)")
    return state


def latest_valid_checkpoint(run_dir: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any] | None:
    """The newest loadable checkpoint of a run, skipping (with a warning) any that fail to load."""
    for path in reversed(list_checkpoints(run_dir)):
        try:
            state = load_checkpoint(path, map_location)
        except CheckpointError as e:
            warnings.warn(f"skipping unusable checkpoint: {e}", stacklevel=2)
            continue
        state["path"] = str(path)
        return state
    return None


# ---- random number generator states, as plain data --------------------------------------------


def rng_state() -> dict[str, Any]:
    """Every global RNG the training loop draws from (Python, NumPy, torch CPU and CUDA)."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": {
            "kind": kind,
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": pos,
            "has_gauss": has_gauss,
            "gauss": gauss,
        },
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_state(state: dict[str, Any]) -> None:
    """Inverse of :func:`rng_state`."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
