"""Error messages shared by the dataset loaders: each names the problem and the fix."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


def check_split(dataset: str, split: str, splits: Sequence[str]) -> None:
    """Raise ``ValueError`` listing the valid splits when ``split`` is not one of them."""
    if split not in splits:
        raise ValueError(f"{dataset} has no split {split!r}; valid splits: {', '.join(splits)}")


def need_root(dataset: str, root: Path | None, how_to_get: str) -> Path:
    """``root`` as a Path, or ``ValueError`` saying the dataset needs one and how to get the files."""
    if root is None:
        raise ValueError(f"{dataset} needs root= (the folder holding its files).\n{how_to_get}")
    return Path(root).expanduser()


def not_found(dataset: str, missing: Sequence[Path | str], how_to_get: str) -> FileNotFoundError:
    """A ``FileNotFoundError`` naming the expected files that are missing and how to get them."""
    listed = "\n  ".join(str(m) for m in missing)
    return FileNotFoundError(f"{dataset} files not found; expected:\n  {listed}\n{how_to_get}")
