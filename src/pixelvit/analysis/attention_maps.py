"""Attention maps of one query (a pixel, or the class token), per layer and head, over the image.

The query pixel (row, col) selects the token that contains it. As in
:mod:`~pixelvit.analysis.attention_distance`, the class token's share of attention is removed and
the rest renormalised, so each map is a distribution over the image's tokens.

``pixelvit attention-maps --out FILE.png`` writes the figure (one colour scale and colour bar per
layer), ``FILE.json`` (every map, and what was queried) and ``FILE.md`` (per layer and head: the
peak weight and where it lies, the weight on the query's own token, the attention-weighted mean
distance from the query, and the effective number of tokens attended).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..config import ConfigError
from ..io import write_json_atomic, write_text_atomic
from ..metrics.attention import drop_prefix, token_centres
from ..plotting import colorbar, figure, markdown_table, note, save_figure


def query_index(model: nn.Module, query: tuple[int, int] | None) -> int:
    """Sequence index of the token holding input pixel ``query`` = (row, col), or of the class token (None)."""
    if query is None:
        if model.num_prefix_tokens == 0:
            raise ConfigError("the model has no class token; pick a query pixel with --query ROW,COL")
        return 0
    (r, c), (h, w) = query, model.img_size
    if not (0 <= r < h and 0 <= c < w):
        raise ConfigError(f"query pixel ({r}, {c}) is outside the {h}x{w} image")
    p = model.patch_size
    return model.num_prefix_tokens + (r // p) * model.grid_size[1] + c // p


@torch.no_grad()
def query_attention(model: nn.Module, image: torch.Tensor, query: tuple[int, int] | None) -> torch.Tensor:
    """One (C, H, W) image -> (depth, heads, gh, gw) attention of the query over the image's tokens."""
    q = query_index(model, query)
    x = model.prepend_prefix(model.embed(image[None].to(next(model.parameters()).device)))
    maps = []
    for block in model.blocks:
        attn = drop_prefix(block.attention_probs(x, queries=slice(q, q + 1)), model.num_prefix_tokens)  # (1, heads, 1, L)
        maps.append(attn[0, :, 0].reshape(-1, *model.grid_size).cpu())
        x = block(x)
    return torch.stack(maps)


def figure_attention_maps(
    image: torch.Tensor, maps: torch.Tensor, patch_size: int, query: tuple[int, int] | None, title: str = ""
) -> Any:
    """The input (top left, query marked) and a layers × heads grid of ``maps`` (depth, heads, gh, gw) at the image's
    scale, one colour scale and colour bar per layer (a tick on it: uniform attention, 1/L)."""
    depth, heads = maps.shape[:2]
    picture = image.permute(1, 2, 0).numpy()
    picture = picture[..., 0] if picture.shape[-1] == 1 else picture
    h, w = picture.shape[:2]
    extent = (-0.5, maps.shape[3] * patch_size - 0.5, maps.shape[2] * patch_size - 0.5, -0.5)
    uniform = 1.0 / (maps.shape[2] * maps.shape[3])
    fig, axes = figure(depth, heads + 1, size=(1.5 * (heads + 1) + 1.2, 1.5 * depth + 0.9))
    for layer in range(depth):
        vmax = max(float(maps[layer].max()), uniform)
        for col in range(heads + 1):
            ax = axes[layer][col]
            ax.set_xticks([0, w - 1])
            ax.set_yticks([0, h - 1])
            ax.tick_params(labelsize=6, length=2)
            if col == 0:
                if layer == 0:
                    ax.imshow(picture, cmap="gray" if picture.ndim == 2 else None, interpolation="nearest")
                    ax.set_title("input", fontsize=8)
                    ax.set_ylabel("row (px)", fontsize=7)
                    ax.set_xlabel("column (px)", fontsize=7)
                else:
                    ax.set_axis_off()
            else:
                shown = ax.imshow(maps[layer, col - 1].numpy(), cmap="inferno", vmin=0, vmax=vmax, extent=extent,
                                  interpolation="nearest")  # fmt: skip
                if layer == 0:
                    ax.set_title(f"head {col}", fontsize=8)
                if col == 1:
                    ax.set_ylabel(f"layer {layer + 1}\nrow (px)", fontsize=7)
                if layer == depth - 1:
                    ax.set_xlabel("column (px)", fontsize=7)
            if query is not None and (col > 0 or layer == 0):
                ax.plot(query[1], query[0], marker="+", color="cyan", markersize=8, mew=1.5)
        bar = colorbar(fig, shown, axes[layer, 1:].tolist(), "attention weight")
        bar.ax.axhline(uniform, color="white", lw=1.5)
    fig.suptitle(title, fontsize=9)
    what = "attention weight per token, one colour scale per layer"
    note(fig, f"{what}; white line on each bar: uniform attention (1/{round(1 / uniform)})")
    return fig


def attention_summary(maps: torch.Tensor, patch_size: int, query: tuple[int, int] | None) -> list[dict[str, Any]]:
    """Per layer and head of ``maps`` (depth, heads, gh, gw): peak weight and its token's centre (input pixels), the
    weight on the query's own token, the attention-weighted mean distance from that token's centre (input pixels, as
    :mod:`~pixelvit.analysis.attention_distance` measures it) and the
    effective number of tokens attended, exp(entropy) (uniform attention: all L)."""
    depth, heads, gh, gw = maps.shape
    centres = token_centres((gh, gw), patch_size)
    own = None if query is None else (query[0] // patch_size) * gw + query[1] // patch_size
    rows = []
    for layer in range(depth):
        for head in range(heads):
            p = maps[layer, head].reshape(-1).double()
            peak = int(p.argmax())
            entropy = -(p * p.clamp_min(1e-30).log()).sum()
            row = {"layer": layer + 1, "head": head + 1, "peak_weight": float(p[peak]),
                   "peak_at": [float(v) for v in centres[peak]], "effective_tokens": float(entropy.exp())}  # fmt: skip
            if own is not None:
                row["query_weight"] = float(p[own])
                row["mean_distance"] = float((p * (centres - centres[own]).norm(dim=1)).sum())
            rows.append(row)
    return rows


def format_summary(rows: list[dict[str, Any]], title: str) -> str:
    headers = ["layer", "head", "peak weight", "peak at (row, col px)", "weight on query token", "mean distance (px)",
               "effective tokens"]  # fmt: skip
    cells = []
    for r in rows:
        query_weight = f"{r['query_weight']:.3f}" if "query_weight" in r else "—"
        distance = f"{r['mean_distance']:.2f}" if "mean_distance" in r else "—"
        peak_at = f"({r['peak_at'][0]:g}, {r['peak_at'][1]:g})"
        cells.append(
            [r["layer"], r["head"], f"{r['peak_weight']:.3f}", peak_at, query_weight, distance, f"{r['effective_tokens']:.1f}"]
        )
    return f"{title}\n\n" + markdown_table(headers, cells)


def attention_maps_command(
    checkpoint: str | os.PathLike,
    out: Path,
    index: int,
    query: tuple[int, int] | str | None,
    data: str | None = None,
    root: str | None = None,
    split: str | None = None,
    device: str = "auto",
) -> tuple[Path, str]:
    """``pixelvit attention-maps``: the PNG grid for image ``index`` of the split, and ``.md``/``.json`` beside it;
    returns the PNG's path and the line for the command to print.
    ``query``: a pixel (row, col), ``"centre"`` (the image's centre pixel) or None (the class token)."""
    from ..engine.device import resolve_device
    from ..engine.loading import config_for_model
    from .samples import load_images, load_vit

    model, cfg = load_vit(checkpoint)
    if query == "centre":
        query = (model.img_size[0] // 2, model.img_size[1] // 2)
    cfg = config_for_model(model, cfg, checkpoint, data, root, resize=True)
    images, targets = load_images(model, cfg, split, indices=[index])
    maps = query_attention(model.to(resolve_device(device)), images[0], query)
    where = "class token" if query is None else f"pixel ({query[0]}, {query[1]})"
    split = split or cfg.data.eval_split
    tokens = maps.shape[2] * maps.shape[3]
    title = (f"ViT/{model.patch_size} ({tokens} tokens): {cfg.data.name}/{split} image {index} (label {int(targets[0])}), "
             f"query {where}")  # fmt: skip
    summary = attention_summary(maps, model.patch_size, query)
    record = {"checkpoint": str(checkpoint), "patch_size": model.patch_size, "img_size": list(model.img_size),
              "tokens": tokens, "data": cfg.data.name, "split": split, "index": index, "label": int(targets[0]),
              "query": None if query is None else list(query), "summary": summary,
              "maps": maps.numpy().round(6).tolist()}  # fmt: skip
    path = save_figure(figure_attention_maps(images[0], maps, model.patch_size, query, title), out)
    write_json_atomic(out.with_suffix(".json"), record)
    write_text_atomic(out.with_suffix(".md"), format_summary(summary, title) + "\n")
    return path, f"wrote {path}, {out.with_suffix('.md').name} and {out.with_suffix('.json').name}"
