"""Training checkpoints: plain dicts of tensors and primitives, written atomically, loaded with
``torch.load(weights_only=True)`` so that nothing in a checkpoint can execute code.

Layout: ``RUN_DIR/checkpoints/step_00001234.pt`` and, beside it, ``step_00001234.sha256``: the
SHA-256 of the file's bytes. The digest is published *before* the checkpoint (while a checkpoint of
the same step is overwritten, the digest file lists the old and the new file's digests), so no kill
at any moment leaves a newest checkpoint without a digest that verifies it. Loading verifies the
digest, so a flipped bit is caught before it reaches a run. Resuming takes the newest checkpoint that
verifies and loads; a truncated, zero-byte, corrupt or unloadable one, and anything in ``checkpoints/``
that is not a regular file, is skipped with a warning. A checkpoint without a digest (copied without
it, or written by hand) is unverified: an older verified one is preferred, with a warning naming the
file; only when no checkpoint verifies is the newest unverified one used, again with a warning.
Pruning after a save keeps the file just written and the ``keep - 1`` newest *older* ones: a file
with a higher step number (a corrupt or foreign one) can never push out the checkpoint just written.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import random
import re
import stat
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


def _is_regular(path: Path) -> bool:
    """Whether ``path`` itself (not a link's target) is a regular file."""
    try:
        return stat.S_ISREG(path.lstat().st_mode)
    except OSError:
        return False


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
    digest = hashlib.sha256(payload).hexdigest()
    # the digest first: a kill before the checkpoint is renamed into place leaves an orphan digest (removed
    # on resume), never a checkpoint without one. Overwriting a step keeps the old file's digest listed
    # until the new file is in place.
    previous = _digests(path) if _is_regular(path) else []
    write_text_atomic(digest_path(path), "".join(f"{d}\n" for d in [digest, *previous[:1]]))
    with atomic_path(path) as tmp:
        tmp.write_bytes(payload)
    if previous:
        write_text_atomic(digest_path(path), digest + "\n")
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
            if not digest.with_suffix(".pt").exists() and _is_regular(digest):
                digest.unlink(missing_ok=True)


def _digests(path: Path) -> list[str]:
    """The SHA-256 digests listed in a checkpoint's digest file ([] when it has none)."""
    digest = digest_path(path)
    if not digest.exists() and not digest.is_symlink():
        return []
    if not _is_regular(digest):
        raise CheckpointError(f"{digest} is not a regular file: remove it (the checkpoint cannot be verified)")
    lines = digest.read_bytes()[:4096].decode("ascii", errors="replace").split()
    if not lines or not all(_SHA256.fullmatch(line) for line in lines):
        raise CheckpointError(f"{digest} does not hold a SHA-256 digest: the checkpoint cannot be verified")
    return lines


_SHA256 = re.compile(r"[0-9a-f]{64}")


def is_verifiable(path: Path) -> bool:
    """Whether a checkpoint has a digest file beside it (it may still fail to match)."""
    return digest_path(path).exists() or digest_path(path).is_symlink()


def read_verified(path: Path) -> bytes:
    """The bytes of a checkpoint (a regular file), checked against its digest file when it has one."""
    if not path.is_file():
        raise CheckpointError(f"{path} is not a regular file (a directory, FIFO or device)")
    data = path.read_bytes()
    if not data:
        raise CheckpointError(f"{path} is empty (zero bytes): a write was cut short")
    expected = _digests(path)
    if expected and hashlib.sha256(data).hexdigest() not in expected:
        raise CheckpointError(f"{path} does not match its SHA-256 in {digest_path(path).name}: the file is corrupt")
    return data


# What a training checkpoint holds, to resume from it: entry -> the type it must have.
RESUME_ENTRIES = {"model": dict, "optimizer": dict, "progress": dict, "rng": list, "config": dict, "model_description": dict}


def load_checkpoint(
    path: str | os.PathLike, map_location: str | torch.device = "cpu", required: dict[str, type] | None = None
) -> dict[str, Any]:
    """Load a checkpoint without executing code; :class:`CheckpointError` says why it is unusable.

    ``required``: entries the checkpoint must hold, with their types (default: ``model``, a dict).
    """
    path = Path(path)
    if not path.exists() and not path.is_symlink():
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
    if not isinstance(state, dict):
        raise CheckpointError(f"{path} is not a pixelvit checkpoint (it holds a {type(state).__name__}, not a dict)")
    for key, kind in (required or {"model": dict}).items():
        if not isinstance(state.get(key), kind):
            found = "no such entry" if key not in state else f"a {type(state[key]).__name__}"
            raise CheckpointError(f"{path} is not a pixelvit training checkpoint: its {key!r} entry is {found}")
    return state


def latest_valid_checkpoint(
    run_dir: str | os.PathLike, map_location: str | torch.device = "cpu", required: dict[str, type] | None = None
) -> dict[str, Any] | None:
    """The newest verified, loadable checkpoint of a run holding the ``required`` entries (see
    :func:`load_checkpoint`; :data:`RESUME_ENTRIES` to resume), skipping (with a warning) any that fail; a
    checkpoint without a digest is used only when none verifies, with a warning."""
    unverified: list[Path] = []
    for path in reversed(list_checkpoints(run_dir)):
        if not _is_regular(path):
            warnings.warn(f"skipping {path}: not a regular file (a directory, link, FIFO or device)", stacklevel=2)
            continue
        if not is_verifiable(path):
            unverified.append(path)
            continue
        state = _try_load(path, map_location, required)
        if state is not None:
            if unverified:
                names = ", ".join(p.name for p in unverified)
                warnings.warn(
                    f"skipping unverified checkpoint(s) {names} in {checkpoint_dir(run_dir)} (no .sha256 digest beside "
                    f"them); resuming from the older verified {path.name}",
                    stacklevel=2,
                )
            return state
    for path in unverified:
        state = _try_load(path, map_location, required)
        if state is not None:
            warnings.warn(
                f"resuming from {path}, which has no .sha256 digest beside it: it cannot be verified (no verified "
                "checkpoint is left)",
                stacklevel=2,
            )
            return state
    return None


def _try_load(path: Path, map_location: str | torch.device, required: dict[str, type] | None) -> dict[str, Any] | None:
    """A loaded checkpoint (its ``path`` added), or None with a warning saying why not."""
    try:
        state = load_checkpoint(path, map_location, required)
    except (CheckpointError, OSError) as e:
        warnings.warn(f"skipping unusable checkpoint: {e}", stacklevel=3)
        return None
    state["path"] = str(path)
    return state


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
