"""Mean attention distance and mean attention offset, per layer and head.

- **Mean attention distance** (ViT paper, Dosovitskiy et al., App. D.7): for query i,
  Σ_j a_ij·‖pos_j − pos_i‖, the attention-weighted average distance to the attended positions
  (a "receptive field" size); averaged over queries and images.
- **Mean attention offset** (the slides' "offset between the attention center and the current
  location"): ‖Σ_j a_ij·pos_j − pos_i‖, the distance from the query to the attention's centre of
  mass. A head that looks evenly all around its query has a large distance and a zero offset; one
  that looks at a far-away spot has both large.

Positions are **pixels of the input image**: token (r, c) of a patch-p model sits at its patch's
centre (r·p + (p−1)/2, c·p + (p−1)/2), so /1 and /2 models of the same input are comparable.

**Class token**: not a query (it has no position), and its share of each query's attention is
removed and the rest renormalised to sum to 1 (so a head that parks attention on the class token
is measured by where its remaining attention goes). Keeping its mass with no position would
bias every distance towards 0 by an arbitrary amount.

Memory: layer by layer, in chunks of queries, so a 4,096-token model never holds all L×L maps;
``max_elements`` bounds one chunk's (B, heads, q, L). :func:`attention_rows` gives exactly what
``Block.attention_probs(x, queries=slice)`` gives for each chunk (tested), but projects q and k
once per layer: calling ``attention_probs`` per chunk would redo the whole sequence's qkv
projection for every chunk (3·D/q times the attention's own cost).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch import nn


def token_centres(grid_size: tuple[int, int], patch_size: int) -> torch.Tensor:
    """(L, 2) float64 (row, col) of each token's patch centre in input pixels, row-major."""
    rows, cols = torch.meshgrid(torch.arange(grid_size[0]), torch.arange(grid_size[1]), indexing="ij")
    centres = torch.stack([rows.reshape(-1), cols.reshape(-1)], dim=1).to(torch.float64)
    return centres * patch_size + (patch_size - 1) / 2


def drop_prefix(attn: torch.Tensor, prefix: int) -> torch.Tensor:
    """(..., prefix + L) attention rows -> (..., L) over patch keys only, renormalised to sum to 1."""
    if prefix == 0:
        return attn
    keys = attn[..., prefix:]
    return keys / keys.sum(dim=-1, keepdim=True).clamp_min(torch.finfo(keys.dtype).tiny)


def distance_and_offset(attn: torch.Tensor, query_pos: torch.Tensor, key_pos: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """attn (..., Lq, Lk), rows summing to 1; positions (Lq, 2), (Lk, 2) -> distance, offset (..., Lq)."""
    query_pos, key_pos = query_pos.to(attn), key_pos.to(attn)
    dist = (query_pos[:, None, :] - key_pos[None, :, :]).norm(dim=-1)  # (Lq, Lk)
    distance = (attn * dist).sum(dim=-1)
    centre = attn @ key_pos  # (..., Lq, 2)
    offset = (centre - query_pos).norm(dim=-1)
    return distance, offset


def attention_rows(block: nn.Module, x: torch.Tensor, start: int, stop: int, chunk: int) -> Iterator[tuple[int, torch.Tensor]]:
    """Softmax attention of queries ``start..stop`` of block input x (B, N, D), ``chunk`` queries at a
    time: yields (first query, (B, heads, q, N) float32), equal to ``block.attention_probs(x, queries=slice)``."""
    attn = block.attn
    q, k, _ = attn.qkv_heads(block.norm1(x))
    keys = k.float().transpose(-2, -1)
    for q0 in range(start, stop, chunk):
        yield q0, ((q[:, :, q0 : min(q0 + chunk, stop)].float() * attn.scale) @ keys).softmax(dim=-1)


@torch.no_grad()
def attention_statistics(
    model: nn.Module,
    images: torch.Tensor,
    batch_size: int = 16,
    max_elements: int = 2**24,
    device: torch.device | str = "cpu",
) -> dict[str, np.ndarray]:
    """Mean attention distance and offset of a ViT over ``images`` (uint8 or normalised float (N, C, H, W)).

    Returns {"distance": (depth, heads), "offset": (depth, heads)} float64 arrays, in input pixels,
    averaged over every patch-token query of every image.
    """
    model = model.to(device).eval()
    prefix = model.num_prefix_tokens
    pos = token_centres(model.grid_size, model.patch_size).to(device, torch.float32)
    tokens = pos.shape[0]
    depth, heads = len(model.blocks), model.blocks[0].attn.num_heads
    sums = {k: torch.zeros(depth, heads, dtype=torch.float64, device=device) for k in ("distance", "offset")}
    for lo in range(0, len(images), batch_size):
        batch = images[lo : lo + batch_size].to(device)
        chunk = max(1, max_elements // (len(batch) * heads * (prefix + tokens)))
        x = model.prepend_prefix(model.embed(batch))
        for layer, block in enumerate(model.blocks):
            for q0, probs in attention_rows(block, x, prefix, prefix + tokens, chunk):
                q0 -= prefix
                attn = drop_prefix(probs, prefix)  # (B, heads, q, L)
                distance, offset = distance_and_offset(attn, pos[q0 : q0 + attn.shape[2]], pos)  # (B, heads, q)
                sums["distance"][layer] += distance.sum(dim=(0, 2)).double()
                sums["offset"][layer] += offset.sum(dim=(0, 2)).double()
            x = block(x)
    count = len(images) * tokens
    return {k: (v / count).cpu().numpy() for k, v in sums.items()}
