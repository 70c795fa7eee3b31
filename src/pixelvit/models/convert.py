"""State-dict conversion between pixelvit's ``VisionTransformer`` and timm's.

Differences handled here (everything else has the same key and shape):

* patch projection: ours is ``nn.Linear(C·p·p, D)``, timm's a ``Conv2d(C, D, p, stride=p)``;
  the weights are the same numbers, reshaped (D, C·p·p) <-> (D, C, p, p).
* position embedding: ours covers the L patch tokens only and the class token carries its own
  position, which is timm's ``no_embed_class=True`` layout: :func:`timm_kwargs` builds that, so
  parameter counts and keys agree exactly. timm's default (``no_embed_class=False``, also MAE's
  and the official ViT checkpoints') stores (1, 1 + L, D) with the class token's position
  first; :func:`from_timm` folds that row into ``cls_token`` (exact: both are added to the same
  token). Fixed sin-cos tables export as a learned timm embedding with the same values.
"""

from __future__ import annotations

from typing import Any

import torch

from .vit import VisionTransformer


def timm_kwargs(model: VisionTransformer) -> dict[str, Any]:
    """Keyword arguments for ``timm.models.vision_transformer.VisionTransformer`` matching ``model``."""
    cfg = model.config
    if cfg["tokenizer"] != "linear":
        raise ValueError("timm has no dictionary tokenizer; only tokenizer='linear' models convert")
    return dict(
        img_size=model.img_size, patch_size=cfg["patch_size"], in_chans=cfg["in_chans"],
        num_classes=cfg["num_classes"], global_pool=cfg["global_pool"], embed_dim=cfg["embed_dim"],
        depth=cfg["depth"], num_heads=cfg["num_heads"], mlp_ratio=cfg["mlp_ratio"], qkv_bias=cfg["qkv_bias"],
        class_token=cfg["class_token"], no_embed_class=True,
        pos_embed="none" if cfg["pos_embed"] == "none" else "learn",
        drop_rate=cfg["drop_rate"], attn_drop_rate=cfg["attn_drop_rate"], drop_path_rate=cfg["drop_path_rate"],
    )  # fmt: skip


def to_timm(state: dict[str, torch.Tensor], model: VisionTransformer) -> dict[str, torch.Tensor]:
    """Our state dict -> a state dict for ``timm...VisionTransformer(**timm_kwargs(model))``."""
    c, p = model.in_chans, model.patch_size
    out = {k: v for k, v in state.items() if not k.startswith(("patch_embed.", "pos_embed."))}
    out["patch_embed.proj.weight"] = state["patch_embed.proj.weight"].reshape(-1, c, p, p)
    out["patch_embed.proj.bias"] = state["patch_embed.proj.bias"]
    if "pos_embed.weight" in state:
        out["pos_embed"] = state["pos_embed.weight"]
    return out


def from_timm(state: dict[str, torch.Tensor], model: VisionTransformer, resizable: bool = False) -> dict[str, torch.Tensor]:
    """A timm ViT state dict (``no_embed_class`` either way) -> our state dict for ``model``.

    ``resizable``: accept a source of another patch size or token grid (same width and channels); its patch
    projection and position embedding are converted as they are, for :func:`pixelvit.models.resize.resize_vit_state`
    to resize. Raises a ``ValueError`` naming the key when shapes or the position-embedding kind disagree.
    """
    state = dict(state)
    out: dict[str, torch.Tensor] = {}
    proj = state.pop("patch_embed.proj.weight")
    expected = (model.embed_dim, model.in_chans, model.patch_size, model.patch_size)
    other_patch = resizable and proj.ndim == 4 and tuple(proj.shape[:2]) == expected[:2] and proj.shape[2] == proj.shape[3]
    if tuple(proj.shape) != expected and not other_patch:
        raise ValueError(f"patch_embed.proj.weight has shape {tuple(proj.shape)}, the model expects {expected}")
    out["patch_embed.proj.weight"] = proj.reshape(proj.shape[0], -1)
    if "patch_embed.proj.bias" in state:  # else the loader names it among the missing tensors
        out["patch_embed.proj.bias"] = state.pop("patch_embed.proj.bias")
    pos = state.pop("pos_embed", None)
    if pos is not None and pos.ndim != 3:
        raise ValueError(f"pos_embed has shape {tuple(pos.shape)}; a timm position embedding is (1, tokens, width)")
    kind = model.config["pos_embed"]
    if pos is not None:
        if kind == "none":
            raise ValueError("the timm checkpoint has a position embedding but the model was built with pos_embed='none'")
        extra = pos.shape[1] - model.num_patches
        if extra not in (0, model.num_prefix_tokens) and resizable:
            extra = class_position_rows(pos.shape[1], model, proj.shape[-1])
        elif extra not in (0, model.num_prefix_tokens):
            raise ValueError(
                f"pos_embed covers {pos.shape[1]} tokens; the model has {model.num_patches} patches "
                f"(+{model.num_prefix_tokens} class token); resize the embedding or build a matching model"
            )
        if extra and "cls_token" not in state:
            raise ValueError("pos_embed has a class-token row but the checkpoint has no cls_token")
        if extra:
            state["cls_token"] = state["cls_token"] + pos[:, :extra]
            pos = pos[:, extra:]
        out["pos_embed.weight"] = pos
    elif kind != "none":
        raise ValueError(f"the timm checkpoint has no position embedding but the model uses pos_embed={kind!r}")
    out.update(state)
    return out


def class_position_rows(rows: int, model: VisionTransformer, patch_size: int) -> int:
    """How many of a source position embedding's ``rows`` belong to the class token (0 or 1) when its token grid
    differs from ``model``'s: 1 if the model has a class token and ``rows - 1`` (not ``rows``) is a token grid."""
    from .resize import infer_grid

    def is_grid(n: int) -> bool:
        try:
            infer_grid(n, model.img_size, patch_size)
        except ValueError:
            return False
        return n > 0

    return 1 if model.num_prefix_tokens and is_grid(rows - 1) and not is_grid(rows) else 0
