"""Attention maps of one query (a pixel, or the class token), per layer and head, over the image.

The query pixel (row, col) selects the token that contains it. As in
:mod:`~pixelvit.analysis.attention_distance`, the class token's share of attention is removed and
the rest renormalised, so each map is a distribution over the image's tokens.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..config import ConfigError
from ..metrics.attention import drop_prefix
from ..plotting import pyplot, save_figure


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


def plot_attention_maps(
    image: torch.Tensor, maps: torch.Tensor, patch_size: int, query: tuple[int, int] | None, path: Path, title: str = ""
) -> Path:
    """A layers × heads grid of ``maps`` (depth, heads, gh, gw), each upsampled to the image and overlaid on it."""
    plt = pyplot()
    depth, heads = maps.shape[:2]
    picture = image.permute(1, 2, 0).numpy()
    picture = picture[..., 0] if picture.shape[-1] == 1 else picture
    fig, axes = plt.subplots(depth, heads, figsize=(1.6 * heads + 0.4, 1.6 * depth + 0.5), squeeze=False)
    for layer in range(depth):
        for head in range(heads):
            ax = axes[layer][head]
            heat = np.kron(maps[layer, head].numpy(), np.ones((patch_size, patch_size)))
            ax.imshow(picture, cmap="gray" if picture.ndim == 2 else None, interpolation="nearest")
            ax.imshow(heat, cmap="inferno", alpha=0.6, interpolation="nearest")
            if query is not None:
                ax.plot(query[1], query[0], marker="+", color="cyan", markersize=8, mew=1.5)
            ax.set_xticks([])
            ax.set_yticks([])
            if layer == 0:
                ax.set_title(f"head {head + 1}", fontsize=8)
            if head == 0:
                ax.set_ylabel(f"layer {layer + 1}", fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path)


def attention_maps_command(
    checkpoint: str | os.PathLike,
    out: Path,
    index: int,
    query: tuple[int, int] | str | None,
    data: str | None = None,
    root: str | None = None,
    split: str | None = None,
    device: str = "auto",
) -> Path:
    """``pixelvit attention-maps``: the PNG grid for image ``index`` of the split. ``query``: a pixel
    (row, col), ``"centre"`` (the image's centre pixel) or None (the class token)."""
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
    title = f"ViT/{model.patch_size}: {cfg.data.name} image {index} (label {int(targets[0])}), query {where}"
    path = plot_attention_maps(images[0], maps, model.patch_size, query, out, title)
    print(f"wrote {path}")
    return path
