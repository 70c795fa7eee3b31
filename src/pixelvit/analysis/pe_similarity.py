"""Position-embedding similarity: each position's cosine similarity to every other, as small maps.

The ViT paper's Figure 7 (centre) view: map (r, c) of the grid shows how similar the embedding of
position (r, c) is to the embedding of every position. A learned embedding that has discovered the
2-D layout shows a bright blob around (r, c); the paper's pixel transformer starts with no such
prior. Long grids are subsampled (``stride``) and the maps tiled into one image, so the figure stays
readable at 28×28 and beyond; rows and columns are numbered from 0, as ``--query`` is.

``pixelvit pe-similarity --out FILE.png`` also writes ``FILE.json`` and ``FILE.md``: the mean
similarity against the distance between two positions (in tokens), the number that says whether the
embedding has learned the grid's layout (falling with distance) or not (flat).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..config import ConfigError
from ..io import write_json_atomic, write_text_atomic
from ..plotting import colorbar, figure, heatmap, label_axes, markdown_table, mosaic, note, save_figure


def pe_similarity(model: nn.Module) -> torch.Tensor:
    """(L, gh, gw) cosine similarity of each position's embedding to all positions (row-major)."""
    weight = getattr(model.pos_embed, "weight", None)
    if weight is None:
        raise ConfigError("the model has no position embedding (pos_embed=none); nothing to compare")
    emb = F.normalize(weight.detach().float().reshape(-1, weight.shape[-1]), dim=-1)  # (L, D)
    return (emb @ emb.T).reshape(-1, *model.grid_size)


def shown_positions(grid: tuple[int, int], stride: int | None = None, max_side: int = 10) -> tuple[list[int], list[int]]:
    """Rows and columns (0-based) whose maps are drawn: every ``stride``-th (default: at most ``max_side`` per side)."""
    gh, gw = grid
    stride = stride or max(1, math.ceil(max(gh, gw) / max_side))
    if stride < 1:
        raise ConfigError(f"--stride must be >= 1, got {stride}")
    return list(range(0, gh, stride)), list(range(0, gw, stride))


def figure_pe_similarity(sim: torch.Tensor, stride: int | None = None, title: str = "") -> Any:
    """The shown positions' maps tiled into one image (0-based row and column labels, each tile's own position
    marked), with a colour bar of the cosine similarity."""
    gh, gw = sim.shape[1:]
    rows, cols = shown_positions((gh, gw), stride)
    tiles = torch.stack([torch.stack([sim[r * gw + c] for c in cols]) for r in rows]).numpy()
    side = 0.4 + 0.025 * max(gh, gw)  # inches per tile: a 28×28 map gets about 5 pixels per cell at 120 dpi
    fig, axes = figure(size=(side * len(cols) + 1.6, side * len(rows) + 1.2))
    ax = axes[0, 0]
    image = heatmap(ax, mosaic(tiles), vmin=-1, vmax=1)
    xs = [j * (gw + 1) + c for _ in rows for j, c in enumerate(cols)]
    ys = [i * (gh + 1) + r for i, r in enumerate(rows) for _ in cols]
    ax.scatter(xs, ys, s=10, marker="s", facecolors="none", edgecolors="red", lw=0.8, label="the tile's own position")
    ax.set_xticks([j * (gw + 1) + (gw - 1) / 2 for j in range(len(cols))], [str(c) for c in cols])
    ax.set_yticks([i * (gh + 1) + (gh - 1) / 2 for i in range(len(rows))], [str(r) for r in rows])
    label_axes(ax, "position column (token grid, 0-based)", "position row (token grid, 0-based)",
               title or "position embedding similarity", grid=False)  # fmt: skip
    ax.tick_params(labelsize=8 if len(cols) > 6 else 7)
    colorbar(fig, image, ax, "cosine similarity")
    shown = f"{len(rows)}×{len(cols)} of {gh}×{gw} positions" if (len(rows), len(cols)) != (gh, gw) else f"all {gh}×{gw}"
    note(fig, f"tile (r, c): cosine similarity of position (r, c) to every position; {shown} shown; red outline: (r, c) itself")
    return fig


def similarity_profile(sim: torch.Tensor) -> list[dict[str, Any]]:
    """Mean cosine similarity of pairs of positions against their distance on the token grid (rounded to whole
    tokens); distance 0 is a position with itself."""
    gh, gw = sim.shape[1:]
    rr, cc = torch.meshgrid(torch.arange(gh), torch.arange(gw), indexing="ij")
    pos = torch.stack([rr.reshape(-1), cc.reshape(-1)], 1).double()
    dist = torch.cdist(pos, pos).round().long().reshape(-1)
    values = sim.reshape(len(pos), -1).double().reshape(-1)
    counts = torch.bincount(dist)
    sums = torch.bincount(dist, weights=values)
    return [{"distance": d, "pairs": int(counts[d]), "mean_similarity": float(sums[d] / counts[d])}
            for d in range(len(counts)) if counts[d]]  # fmt: skip


def pe_similarity_command(checkpoint: str | os.PathLike, out: Path, stride: int | None = None) -> tuple[Path, str]:
    """``pixelvit pe-similarity``: the PNG for one checkpoint, and ``.json``/``.md`` beside it; returns the PNG's
    path and the line for the command to print."""
    from .samples import load_vit

    model, _ = load_vit(checkpoint)
    kind = getattr(model.pos_embed, "kind", "")
    gh, gw = model.grid_size
    title = f"ViT/{model.patch_size} {kind} position embedding, {gh}×{gw} tokens ({model.img_size[0]}×{model.img_size[1]} px)"
    sim = pe_similarity(model)
    rows, cols = shown_positions((gh, gw), stride)
    path = save_figure(figure_pe_similarity(sim, stride, title), out)
    profile = similarity_profile(sim)
    record = {"checkpoint": str(checkpoint), "patch_size": model.patch_size, "pos_embed": kind, "grid": [gh, gw],
              "shown_rows": rows, "shown_cols": cols, "profile": profile}  # fmt: skip
    write_json_atomic(out.with_suffix(".json"), record)
    cells = [[p["distance"], p["pairs"], f"{p['mean_similarity']:.3f}"] for p in profile]
    table = markdown_table(["distance (tokens, rounded)", "pairs", "mean cosine similarity"], cells)
    write_text_atomic(out.with_suffix(".md"), f"{title}: similarity against distance\n\n{table}\n")
    return path, f"wrote {path}, {out.with_suffix('.md').name} and {out.with_suffix('.json').name}"
