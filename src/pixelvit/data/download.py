"""Fetch a dataset with torchvision's downloader (it writes the very layout our loaders read)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path


def download_with_torchvision(name: str, root: Path, fetch: Callable[[str], object], how_to_get: str) -> Path:
    """Run ``fetch(str(root))`` (a torchvision dataset built with ``download=True``); return ``root``.

    Any failure (no network, a server error, a bad checksum) becomes a ``RuntimeError`` saying
    how to get the files by hand.
    """
    root = Path(root).expanduser()
    root.mkdir(parents=True, exist_ok=True)
    try:
        fetch(str(root))
    except Exception as e:
        raise RuntimeError(
            f"could not download {name} into {root} ({type(e).__name__}: {e}). "
            f"Is this machine offline? Get the files on a machine with network access instead:\n{how_to_get}"
        ) from e
    return root
