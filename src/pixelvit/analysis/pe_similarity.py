"""Position-embedding similarity: each position's cosine similarity to every other, as small maps.

The ViT paper's Figure 7 (centre) view: map (r, c) of the grid shows how similar the embedding of
position (r, c) is to the embedding of every position. A learned embedding that has discovered the
2-D layout shows a bright blob around (r, c); the paper's pixel transformer starts with no such
prior. Long grids are subsampled (``stride``) so the figure stays readable.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..config import ConfigError
from ..plotting import pyplot, save_figure


def pe_similarity(model: nn.Module) -> torch.Tensor:
    """(L, gh, gw) cosine similarity of each position's embedding to all positions (row-major)."""
    weight = getattr(model.pos_embed, "weight", None)
    if weight is None:
        raise ConfigError("the model has no position embedding (pos_embed=none); nothing to compare")
    emb = F.normalize(weight.detach().float().reshape(-1, weight.shape[-1]), dim=-1)  # (L, D)
    return (emb @ emb.T).reshape(-1, *model.grid_size)


def plot_pe_similarity(sim: torch.Tensor, path: Path, stride: int | None = None, max_side: int = 16, title: str = "") -> Path:
    """Grid of small maps: one per shown position (every ``stride``-th row and column; default keeps ≤ ``max_side``)."""
    plt = pyplot()
    gh, gw = sim.shape[1:]
    stride = stride or max(1, math.ceil(max(gh, gw) / max_side))
    rows, cols = list(range(0, gh, stride)), list(range(0, gw, stride))
    fig, axes = plt.subplots(len(rows), len(cols), figsize=(0.7 * len(cols) + 1.2, 0.7 * len(rows) + 0.6), squeeze=False)
    image = None
    for i, r in enumerate(rows):
        for j, c in enumerate(cols):
            ax = axes[i][j]
            image = ax.imshow(sim[r * gw + c].numpy(), cmap="viridis", vmin=-1, vmax=1, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if j == 0:
                ax.set_ylabel(str(r + 1), fontsize=6, rotation=0, labelpad=8)
            if i == len(rows) - 1:
                ax.set_xlabel(str(c + 1), fontsize=6)
    fig.supylabel("input patch row", fontsize=8)
    fig.supxlabel("input patch column", fontsize=8)
    fig.suptitle(title or "position embedding similarity", fontsize=9)
    fig.colorbar(image, ax=axes, shrink=0.6, label="cosine similarity")
    return save_figure(fig, path)


def pe_similarity_command(checkpoint: str | os.PathLike, out: Path, stride: int | None = None) -> Path:
    """``pixelvit pe-similarity``: the PNG for one checkpoint."""
    from .samples import load_vit

    model, _ = load_vit(checkpoint)
    kind = getattr(model.pos_embed, "kind", "")
    title = f"ViT/{model.patch_size} {kind} position embedding, {model.grid_size[0]}x{model.grid_size[1]} tokens"
    path = plot_pe_similarity(pe_similarity(model), out, stride, title=title)
    print(f"wrote {path}")
    return path
