"""Where a result came from: pixelvit's version and git commit (with a dirty flag), the library
versions, the device and the command line, for ``summary.json``, ``config.yaml`` and model cards.

Every lookup is cheap and never raises: outside a git checkout, without git, or with a slow file
system, the git fields are None (``git status`` runs with a 2 s timeout).
"""

from __future__ import annotations

import platform
import shlex
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

GIT_TIMEOUT_S = 2.0
VERSION = "0.1.0"  # pixelvit.__version__; pyproject.toml's version


def package_version() -> str:
    """pixelvit's installed version (the distribution's metadata), else the package's ``__version__``."""
    try:
        return metadata.version("pixelvit")
    except metadata.PackageNotFoundError:
        return VERSION


def _library_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def git_root(start: Path | None = None) -> Path | None:
    """The checkout holding this package's source (a folder with ``.git``), or None when installed elsewhere."""
    here = (start or Path(__file__)).resolve()
    for folder in [here, *here.parents]:
        if (folder / ".git").exists():
            return folder
    return None


def git_state(root: Path | None = None) -> dict[str, Any]:
    """{"commit": sha or None, "dirty": bool or None} of the checkout ``root`` (default: this package's)."""
    root = root if root is not None else git_root()
    if root is None:
        return {"commit": None, "dirty": None}
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=GIT_TIMEOUT_S, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=GIT_TIMEOUT_S, check=True,
        ).stdout  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    return {"commit": commit or None, "dirty": bool(status.strip())}


def provenance(device: str | None = None, argv: list[str] | None = None) -> dict[str, Any]:
    """pixelvit's version and git state, python/torch/timm/CUDA versions, ``device`` and the command line."""
    import torch

    args = sys.argv if argv is None else argv
    as_cli = bool(args) and Path(args[0]).name in ("pixelvit", "__main__.py")
    command = shlex.join(["pixelvit", *args[1:]]) if as_cli else shlex.join(args)
    return {
        "pixelvit": package_version(),
        "git": git_state(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "timm": _library_version("timm"),
        "cuda": torch.version.cuda,
        "device": device,
        "command": command,
    }


def provenance_lines(info: dict[str, Any]) -> list[str]:
    """``provenance()`` as short ``key: value`` lines (for a YAML comment header or a model card)."""
    git = info.get("git") if isinstance(info.get("git"), dict) else {}
    commit = git.get("commit")
    state = "no git checkout" if commit is None else f"{commit}{' (dirty)' if git.get('dirty') else ''}"
    return [
        f"pixelvit {info.get('pixelvit')}, git {state}",
        f"python {info.get('python')}, torch {info.get('torch')}, timm {info.get('timm')}, CUDA {info.get('cuda')}",
        f"device: {info.get('device')}",
        f"command: {info.get('command')}",
    ]
