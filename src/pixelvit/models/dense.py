"""Dense prediction with a ViT of any patch size: one linear read-out per token, unpatchified.

:class:`DenseViT` = the :class:`~pixelvit.models.vit.VisionTransformer` encoder (no classifier,
no pooling) + LayerNorm + ``Linear(D, p·p·out_channels)`` on every patch token. Token (i, j)
predicts the p×p block of the output map at rows i·p .. i·p+p-1 and columns j·p .. j·p+p-1 (its
p·p·out values read in (out, p, p) order, the inverse of the tokenizer's patch layout; see
:func:`~pixelvit.models.tokenizers.unpatchify`). At p = 1 every pixel token predicts its own
pixel, so pixel and patch models differ only in the tokens, as in the paper's comparison.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .base import capture_config
from .registry import VIT_SIZES, Example, register_family
from .tokenizers import unpatchify
from .vit import VisionTransformer

OUT_ACTIVATIONS = ("none", "exp")
NOT_FOR_THE_BACKBONE = ("num_classes", "global_pool")


EXAMPLE = Example(lambda model, batch: (batch, model.out_channels, *model.img_size))  # maps (B, out_channels, H, W)


@register_family("dense_vit", sizes=VIT_SIZES, example=EXAMPLE)
class DenseViT(nn.Module):
    """(B, C, H, W) images -> (B, out_channels, H, W) maps.

    Args:
        img_size, patch_size, in_chans, embed_dim, depth, num_heads, mlp_ratio: the encoder's, as for
            :class:`VisionTransformer`.
        out_channels: channels of the predicted map (1 for depth).
        out_activation: "none" (the linear read-out) or "exp" (the read-out is a log value, e.g.
            log-depth, so the output is positive; computed in fp32).
        **backbone_kwargs: any other :class:`VisionTransformer` argument (tokenizer, pos_embed,
            class_token, drop_path_rate, pixel_mean, pixel_std, ...) except ``num_classes`` and
            ``global_pool``: the encoder has no classifier and no pooling. A class token, if kept,
            attends like any token and is dropped before the read-out.
    """

    @capture_config(extends=VisionTransformer, exclude=NOT_FOR_THE_BACKBONE)
    def __init__(
        self,
        img_size: int | tuple[int, int] = 32,
        patch_size: int = 1,
        in_chans: int = 3,
        embed_dim: int = 192,
        depth: int = 12,
        num_heads: int = 3,
        mlp_ratio: float = 4.0,
        out_channels: int = 1,
        out_activation: str = "none",
        **backbone_kwargs: Any,
    ):
        super().__init__()
        clash = sorted(set(NOT_FOR_THE_BACKBONE) & set(backbone_kwargs))
        if clash:
            raise ValueError(f"DenseViT builds its encoder without a classifier or pooling; do not pass {', '.join(clash)}")
        if out_channels < 1:
            raise ValueError(f"out_channels={out_channels} must be >= 1")
        if out_activation not in OUT_ACTIVATIONS:
            raise ValueError(f"unknown out_activation {out_activation!r}; choose one of {OUT_ACTIVATIONS}")
        # global_pool="avg" leaves the encoder's final norm to the head (norm=Identity); the pooling
        # norm is removed so that every parameter gets a gradient (DDP needs that).
        self.backbone = VisionTransformer(
            img_size=img_size, patch_size=patch_size, in_chans=in_chans, embed_dim=embed_dim, depth=depth,
            num_heads=num_heads, mlp_ratio=mlp_ratio, num_classes=0, global_pool="avg", **backbone_kwargs,
        )  # fmt: skip
        self.backbone.fc_norm = nn.Identity()
        self.out_channels = out_channels
        self.out_activation = out_activation
        self.img_size = self.backbone.img_size
        self.in_chans = self.backbone.in_chans
        self.patch_size = self.backbone.patch_size
        self.grid_size = self.backbone.grid_size
        self.embed_dim = self.num_features = embed_dim
        d, p = embed_dim, patch_size
        self.norm = nn.LayerNorm(d, eps=1e-6)
        self.head = nn.Linear(d, p * p * out_channels)
        nn.init.trunc_normal_(self.head.weight, std=0.02)
        nn.init.zeros_(self.head.bias)

    @property
    def blocks(self) -> nn.ModuleList:
        """The encoder's Transformer blocks (the unit FSDP shards)."""
        return self.backbone.blocks

    @torch.jit.ignore
    def no_weight_decay(self) -> set[str]:
        return {f"backbone.{name}" for name in self.backbone.no_weight_decay()}

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        self.backbone.set_grad_checkpointing(enable)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Images (B, C, H, W) -> normalised patch tokens (B, L, D), prefix tokens dropped."""
        return self.norm(self.backbone.forward_features(x)[:, self.backbone.num_prefix_tokens :])

    def forward_intermediates(self, x: torch.Tensor, indices: list[int] | None = None) -> dict[str, Any]:
        """The backbone's: images -> {"blocks": {i: (B, L, D) patch tokens after block i}, "features": (B, prefix + L, D)}."""
        return self.backbone.forward_intermediates(x, indices)

    def forward_head(self, tokens: torch.Tensor) -> torch.Tensor:
        """Patch tokens (B, L, D) -> map (B, out_channels, H, W)."""
        y = unpatchify(self.head(tokens), self.patch_size, self.grid_size, self.out_channels)
        return y.float().exp() if self.out_activation == "exp" else y

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Images (B, C, H, W) (uint8, or float already normalised) -> (B, out_channels, H, W)."""
        return self.forward_head(self.forward_features(x))
