"""Resize a trained ViT to another patch size or image size (FlexiViT, Beyer et al. 2023).

* The patch projection ``nn.Linear(C·p·p, D)`` is resized with FlexiViT's pseudo-inverse ("PI-resize",
  timm's :func:`~timm.layers.resample_patch_embed`): with ``B`` the (p'², p²) matrix that resizes one
  p×p patch channel to p'×p' (bicubic, anti-aliased), the new kernel is ``w' = pinv(Bᵀ) w``. Upsampling
  (p' > p) then keeps every token exactly: ``<B x, w'> = <x, w>`` for any patch ``x``, so a constant
  image's tokens keep their value. From /2 to /1 (``B`` is the mean of the 2×2 patch) ``w'`` is the sum of
  ``w`` over the 4 positions, which keeps them too; other downsizings are least-squares fits that need not.
* The learned position embedding (patch tokens only: pixelvit keeps no class-token entry in it) is
  interpolated (bilinear) over the token grid with timm's :func:`~timm.layers.resample_abs_pos_embed`
  (token centres aligned, ``align_corners=False``). A fixed sin-cos table is rebuilt for the new grid.
"""

from __future__ import annotations

import math

import torch
from timm.layers import resample_abs_pos_embed, resample_patch_embed

from .base import to_2tuple
from .vit import VisionTransformer

__all__ = ["infer_grid", "resize_patch_projection", "resize_pos_embed", "resize_vit", "resize_vit_state"]


def resize_patch_projection(
    weight: torch.Tensor, in_chans: int, patch_size: int, interpolation: str = "bicubic", antialias: bool = True
) -> torch.Tensor:
    """(D, C·p·p) projection in (C, p, p) order -> (D, C·p'·p') for ``patch_size`` p' (PI-resize)."""
    dim, fan_in = weight.shape
    old = math.isqrt(fan_in // in_chans)
    if in_chans * old * old != fan_in:
        raise ValueError(f"a ({dim}, {fan_in}) projection is not one of {in_chans}-channel square patches")
    conv = weight.reshape(dim, in_chans, old, old)  # timm's Conv2d layout (D, C, p, p)
    return resample_patch_embed(conv, [patch_size, patch_size], interpolation=interpolation, antialias=antialias).reshape(dim, -1)


def resize_pos_embed(
    weight: torch.Tensor,
    old_grid: tuple[int, int],
    new_grid: tuple[int, int],
    interpolation: str = "bilinear",
    antialias: bool = True,
) -> torch.Tensor:
    """(1, gh·gw, D) embedding of a row-major (gh, gw) grid -> (1, gh'·gw', D) for ``new_grid``.

    Bilinear by default (FlexiViT's choice): an embedding linear in (row, col) stays linear, evaluated at
    the new token centres and clamped to the old grid's outer centres. timm's bicubic default bends it near
    the borders, which on grids of 4-8 tokens is most of the grid.
    """
    if weight.shape[1] != old_grid[0] * old_grid[1]:
        raise ValueError(f"a position embedding of {weight.shape[1]} tokens is not a {old_grid[0]}x{old_grid[1]} grid")
    return resample_abs_pos_embed(
        weight, list(new_grid), list(old_grid), num_prefix_tokens=0, interpolation=interpolation, antialias=antialias
    )


def infer_grid(num_tokens: int, img_size: tuple[int, int], patch_size: int) -> tuple[int, int]:
    """The (gh, gw) grid of a stored embedding of ``num_tokens``: the model's image at the source's patch size
    ``patch_size``, else a square grid, else the model's aspect ratio."""
    h, w = img_size
    candidates = [(h // patch_size, w // patch_size), (math.isqrt(num_tokens),) * 2]
    side = math.sqrt(num_tokens * h / w)
    candidates.append((round(side), round(num_tokens / side) if side else 0))
    for grid in candidates:
        if grid[0] * grid[1] == num_tokens:
            return grid
    raise ValueError(
        f"cannot tell the token grid of a position embedding of {num_tokens} tokens for a {h}x{w} model; "
        "resize it with resize_pos_embed and an explicit grid"
    )


def resize_vit_state(state: dict[str, torch.Tensor], model: VisionTransformer) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Fit a ViT (encoder) state dict of another patch or image size to ``model``: its patch projection
    and position embedding resized, every other tensor as it was. Returns the state and what was resized."""
    state = dict(state)
    notes: list[str] = []
    c, p = model.in_chans, model.patch_size
    proj = state.get("patch_embed.proj.weight")
    src_patch = p
    if proj is not None and proj.ndim == 2 and proj.shape[0] == model.embed_dim and proj.shape[1] != c * p * p:
        if model.config["tokenizer"] != "linear":
            raise ValueError("only the linear tokenizer's patch projection can be resized to another patch size")
        src_patch = math.isqrt(proj.shape[1] // c)
        state["patch_embed.proj.weight"] = resize_patch_projection(proj, c, p)
        notes.append(f"patch projection /{src_patch} -> /{p}")
    pos = state.get("pos_embed.weight")
    kind = model.pos_embed.kind
    if pos is not None and kind != "none" and pos.ndim == 3 and pos.shape[1] != model.num_patches:
        if pos.shape[2] != model.embed_dim:
            return state, notes  # a width mismatch: load_encoder_weights names it
        old_grid = infer_grid(pos.shape[1], model.img_size, src_patch)
        new_grid = tuple(model.grid_size)
        resized = resize_pos_embed(pos, old_grid, new_grid) if kind == "learned" else model.pos_embed.weight.detach().clone()
        state["pos_embed.weight"] = resized.to(pos.dtype)
        notes.append(f"position embedding {old_grid[0]}x{old_grid[1]} -> {new_grid[0]}x{new_grid[1]} ({kind})")
    return state, notes


def resize_vit(
    model: VisionTransformer, patch_size: int | None = None, img_size: int | tuple[int, int] | None = None
) -> VisionTransformer:
    """A copy of ``model`` built for another ``patch_size`` and/or ``img_size``, every weight (head included)
    taken from ``model``, the patch projection and position embedding resized."""
    config = dict(model.config)
    if config["tokenizer"] != "linear" and patch_size not in (None, model.patch_size):
        raise ValueError("only the linear tokenizer's patch projection can be resized to another patch size")
    if patch_size is not None:
        config["patch_size"] = patch_size
    if img_size is not None:
        config["img_size"] = list(to_2tuple(img_size))
    resized = type(model)(**config).to(next(model.parameters()).device)
    state, _ = resize_vit_state(model.state_dict(), resized)
    resized.load_state_dict(state)
    resized.grad_checkpointing = model.grad_checkpointing
    return resized
