"""Depth predictions of a trained model: a PNG grid of input / ground truth / prediction for a few images."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from ..io import atomic_path

if TYPE_CHECKING:  # the data package imports torchvision; keep `pixelvit --help` light
    from ..data import ImageArrays


@torch.no_grad()
def predict_arrays(model: nn.Module, images: np.ndarray, device: torch.device) -> np.ndarray:
    """uint8 (N, C, H, W) -> predicted depth float32 (N, H, W), metres."""
    from ..tasks.depth import predict_depth

    model = model.to(device).eval()
    return predict_depth(model, torch.from_numpy(np.ascontiguousarray(images)).to(device)).cpu().numpy()


def show_depth(
    model: nn.Module, arrays: ImageArrays, out: str | os.PathLike, num: int = 4, max_depth: float = 10.0, device: str = "cpu"
) -> Path:
    """Write a PNG grid (one row per image: input, ground truth, prediction) to ``out``; returns its path.

    Rows are ``num`` images spread evenly over ``arrays``. Ground truth and prediction of a row share
    one colour scale (the row's valid ground-truth range, capped at ``max_depth``); invalid ground
    truth (0) is shown grey.
    """
    import matplotlib
    from matplotlib.figure import Figure  # no pyplot: no global backend or figure state (Agg renders the PNG)

    if num < 1:
        raise ValueError(f"--num must be >= 1, got {num}")
    rows = np.unique(np.linspace(0, len(arrays.images) - 1, min(num, len(arrays.images))).round().astype(int))
    images = np.asarray(arrays.images[rows])
    truth = np.asarray(arrays.targets[rows], dtype=np.float32)
    pred = predict_arrays(model, images, torch.device(device))
    fig = Figure(figsize=(9, 2.4 * len(rows)), layout="constrained")
    axes = fig.subplots(len(rows), 3, squeeze=False)
    cmap = matplotlib.colormaps["viridis"].with_extremes(bad="0.6")
    for r, i in enumerate(rows):
        valid = truth[r] > 0
        lo, hi = (float(truth[r][valid].min()), min(float(truth[r][valid].max()), max_depth)) if valid.any() else (0.0, max_depth)
        rgb = images[r].transpose(1, 2, 0)
        axes[r, 0].imshow(rgb if rgb.shape[2] == 3 else rgb[..., 0], cmap=None if rgb.shape[2] == 3 else "gray")
        axes[r, 1].imshow(np.ma.masked_where(~valid, truth[r]), cmap=cmap, vmin=lo, vmax=hi)
        shown = axes[r, 2].imshow(pred[r], cmap=cmap, vmin=lo, vmax=hi)
        fig.colorbar(shown, ax=axes[r, :].tolist(), shrink=0.9, label="depth (m)")
        axes[r, 0].set_ylabel(f"#{i}")
        for c, title in enumerate(("input", "ground truth", "prediction")):
            axes[r, c].set_xticks([])
            axes[r, c].set_yticks([])
            if r == 0:
                axes[r, c].set_title(title)
    out = Path(out)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    return out


def depth_show_command(
    checkpoint: str | os.PathLike,
    out: str | os.PathLike | None = None,
    num: int = 4,
    data: str | None = None,
    root: str | None = None,
    split: str | None = None,
    device: str = "auto",
) -> Path:
    """``pixelvit depth-show``: the PNG of :func:`show_depth` for a depth model (default ``out``:
    ``depth_show.png`` beside the checkpoint or in the run/model directory); returns its path."""
    from ..engine.device import resolve_device
    from ..engine.loading import config_for_model, load_model_and_config
    from ..tasks.depth import check_dense_model, depth_split

    path = Path(checkpoint)
    model, cfg = load_model_and_config(path)
    cfg = config_for_model(model, cfg, path, data, root, task="depth")
    _, arrays = depth_split(cfg, split or cfg.data.eval_split, None)
    check_dense_model(model, arrays, cfg.data.name)
    out = Path(out) if out else (path.parent if path.is_file() else path) / "depth_show.png"
    return show_depth(model, arrays, out, num, cfg.depth.max_depth, str(resolve_device(device)))
