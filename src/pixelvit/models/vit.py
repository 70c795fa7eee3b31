"""The Vision Transformer for any patch size; patch size 1 is the paper's pixel transformer."""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.nn.functional import all_reduce
from torch.utils.checkpoint import checkpoint

from .base import block_indices, capture_config, to_2tuple
from .layers import Block
from .masking import keep_tokens, random_masking
from .pos_embed import POS_EMBED_KINDS, PosEmbed
from .registry import VIT_SIZES, Example, register_family
from .tokenizers import TOKENIZER_KINDS, DictionaryTokenizer, LinearTokenizer

__all__ = ["POOLING_KINDS", "VisionTransformer", "to_2tuple"]

POOLING_KINDS = ("token", "avg")


class TokenShard(NamedTuple):
    """Which patch tokens this process encodes under context parallelism: ``index`` (L / W,) positions in the
    sequence, and the process ``group`` that holds the rest."""

    index: torch.Tensor
    group: dist.ProcessGroup


EXAMPLE = Example(lambda model, batch: (batch, model.num_classes), {"num_classes": 3})  # logits (B, num_classes)


@register_family("vit", sizes=VIT_SIZES, example=EXAMPLE)
class VisionTransformer(nn.Module):
    """ViT over p×p patches of a (C, H, W) image; p = 1 gives one token per pixel.

    Args:
        img_size: H or (H, W); each must be divisible by ``patch_size``.
        patch_size: p. 1 is the pixel transformer (ViT-X/1), 2 its patch baseline (ViT-X/2).
        in_chans: C, the number of input channels.
        num_classes: classifier outputs; 0 keeps no head (features only).
        embed_dim, depth, num_heads, mlp_ratio, qkv_bias: the Transformer's shape.
        tokenizer: "linear" (patch projection) or "dictionary" (256-entry lookup tables per
            channel; uint8 input). See :mod:`pixelvit.models.tokenizers`.
        pos_embed: "learned" (random init, no 2-D prior: the paper's choice), "sincos" (fixed 2-D)
            or "none" (the encoder is then permutation-equivariant over patch tokens).
        pos_embed_std: init std of the learned embedding. 0.02 is the timm/MAE value.
        global_pool: "token" (class token, after the final LayerNorm) or "avg" (mean of the
            patch tokens, then ``fc_norm``), as in timm.
        class_token: prepend a class token (needed for "token" pooling).
        drop_rate, attn_drop_rate, drop_path_rate: dropout on head/MLP/projection, on attention
            weights, and the maximum stochastic depth (linearly increasing over blocks).
        pixel_mean, pixel_std: per-channel statistics that the linear tokenizer applies to uint8
            input (float input is taken as already normalised).
    """

    @capture_config
    def __init__(
        self,
        img_size: int | tuple[int, int] = 32,
        patch_size: int = 1,
        in_chans: int = 3,
        num_classes: int = 100,
        embed_dim: int = 192,
        depth: int = 12,
        num_heads: int = 3,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        tokenizer: str = "linear",
        pos_embed: str = "learned",
        pos_embed_std: float = 0.02,
        global_pool: str = "token",
        class_token: bool = True,
        drop_rate: float = 0.0,
        attn_drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        pixel_mean: tuple[float, ...] | None = None,
        pixel_std: tuple[float, ...] | None = None,
    ):
        super().__init__()
        img_size = to_2tuple(img_size)
        pixel_mean = tuple(pixel_mean) if pixel_mean is not None else (0.5,) * in_chans
        pixel_std = tuple(pixel_std) if pixel_std is not None else (0.5,) * in_chans
        self._check_args(img_size, patch_size, in_chans, tokenizer, pos_embed, global_pool, class_token, pixel_mean, pixel_std)
        self.img_size = img_size
        self.patch_size = patch_size
        self.in_chans = in_chans
        self.pixel_mean, self.pixel_std = pixel_mean, pixel_std  # resolved: one value per channel
        self.num_classes = num_classes
        self.embed_dim = self.num_features = embed_dim
        self.global_pool = global_pool
        self.grid_size = (img_size[0] // patch_size, img_size[1] // patch_size)
        self.num_patches = self.grid_size[0] * self.grid_size[1]
        self.num_prefix_tokens = 1 if class_token else 0
        self.grad_checkpointing = False
        self.token_shard: TokenShard | None = None  # set by the engine around a context-parallel training step

        if tokenizer == "linear":
            self.patch_embed = LinearTokenizer(patch_size, in_chans, embed_dim, pixel_mean, pixel_std)
        else:
            self.patch_embed = DictionaryTokenizer(patch_size, in_chans, embed_dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim)) if class_token else None
        self.pos_embed = PosEmbed(pos_embed, self.grid_size, embed_dim, init_std=pos_embed_std)
        rates = [drop_path_rate * i / max(depth - 1, 1) for i in range(depth)]
        self.blocks = nn.ModuleList(
            Block(embed_dim, num_heads, mlp_ratio, qkv_bias, drop=drop_rate, attn_drop=attn_drop_rate, drop_path=r) for r in rates
        )
        use_fc_norm = global_pool == "avg"
        self.norm = nn.Identity() if use_fc_norm else nn.LayerNorm(embed_dim, eps=1e-6)
        self.fc_norm = nn.LayerNorm(embed_dim, eps=1e-6) if use_fc_norm else nn.Identity()
        self.head_drop = nn.Dropout(drop_rate)
        self.head = nn.Linear(embed_dim, num_classes) if num_classes > 0 else nn.Identity()
        self.init_weights()

    @staticmethod
    def _check_args(img_size, patch_size, in_chans, tokenizer, pos_embed, global_pool, class_token, mean, std) -> None:
        if patch_size < 1 or img_size[0] % patch_size or img_size[1] % patch_size:
            raise ValueError(
                f"image size {img_size[0]}x{img_size[1]} is not divisible by patch size {patch_size}; "
                "choose a patch size that divides both height and width"
            )
        if tokenizer not in TOKENIZER_KINDS:
            raise ValueError(f"unknown tokenizer {tokenizer!r}; choose one of {TOKENIZER_KINDS}")
        if pos_embed not in POS_EMBED_KINDS:
            raise ValueError(f"unknown pos_embed {pos_embed!r}; choose one of {POS_EMBED_KINDS}")
        if global_pool not in POOLING_KINDS:
            raise ValueError(f"unknown global_pool {global_pool!r}; choose one of {POOLING_KINDS}")
        if global_pool == "token" and not class_token:
            raise ValueError("global_pool='token' needs class_token=True; use global_pool='avg' without a class token")
        if len(mean) != in_chans or len(std) != in_chans:
            raise ValueError(f"pixel_mean and pixel_std need {in_chans} values (one per channel), got {mean} and {std}")

    def init_weights(self) -> None:
        """All initialisation in one place: timm's trunc-normal(0.02) for linear layers, zero biases,
        unit LayerNorms, MAE's xavier for the patch projection, small class token."""
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        self.patch_embed.reset_parameters()
        self.pos_embed.reset_parameters()
        if self.cls_token is not None:
            nn.init.normal_(self.cls_token, std=1e-6)

    # ---- timm-style surface -------------------------------------------------------------------

    @torch.jit.ignore
    def no_weight_decay(self) -> set[str]:
        """Parameter names that an optimizer should not decay (besides norms and biases)."""
        names = {"cls_token", "pos_embed.weight"}
        if isinstance(self.patch_embed, DictionaryTokenizer):
            names.add("patch_embed.embed.weight")
        return names

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """Recompute each block's activations in the backward pass to save memory."""
        self.grad_checkpointing = enable

    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        """Replace the head with a fresh one (``num_classes`` = 0 removes it)."""
        if global_pool is not None and global_pool != self.global_pool:
            raise ValueError("changing global_pool after construction is not supported; build a new model")
        self.num_classes = self.config["num_classes"] = num_classes
        device = next(self.parameters()).device
        self.head = nn.Linear(self.embed_dim, num_classes, device=device) if num_classes > 0 else nn.Identity()
        if num_classes > 0:
            nn.init.trunc_normal_(self.head.weight, std=0.02)
            nn.init.zeros_(self.head.bias)

    # ---- forward pieces -----------------------------------------------------------------------

    def check_input(self, x: torch.Tensor) -> None:
        """Shape checks with messages that name the problem (no device sync)."""
        if x.ndim != 4:
            raise ValueError(f"expected images of shape (B, C, H, W), got a tensor of shape {tuple(x.shape)}")
        if x.shape[1] != self.in_chans:
            raise ValueError(
                f"the model takes {self.in_chans}-channel images, got {x.shape[1]} channels; "
                f"build it with in_chans={x.shape[1]} or convert the images"
            )
        if tuple(x.shape[2:]) != self.img_size:
            raise ValueError(
                f"the model was built for {self.img_size[0]}x{self.img_size[1]} images, got {x.shape[2]}x{x.shape[3]}; "
                "resize the input or build the model with the matching img_size"
            )

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Images (B, C, H, W) -> patch tokens with position embedding (B, L, D), no class token."""
        self.check_input(x)
        return self.pos_embed(self.patch_embed(x))

    def prepend_prefix(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, L, D) -> (B, prefix + L, D) with the class token first, if any."""
        if self.cls_token is None:
            return tokens
        return torch.cat([self.cls_token.expand(tokens.shape[0], -1, -1).to(tokens.dtype), tokens], dim=1)

    def run_block(self, block: nn.Module, x: torch.Tensor) -> torch.Tensor:
        if self.grad_checkpointing and torch.is_grad_enabled():
            return checkpoint(block, x, use_reentrant=False)
        return block(x)

    def forward_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        """Embedded patch tokens (B, L', D) (any subset of positions) -> normed sequence (B, prefix + L', D)."""
        x = self.prepend_prefix(tokens)
        for block in self.blocks:
            x = self.run_block(block, x)
        return self.norm(x)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Images (B, C, H, W) -> final token sequence (B, prefix + L, D)."""
        return self.forward_tokens(self.embed(x))

    def pool(self, x: torch.Tensor) -> torch.Tensor:
        """(B, prefix + L, D) -> (B, D): class token, or mean over patch tokens then ``fc_norm``."""
        if self.global_pool == "avg":
            return self.fc_norm(x[:, self.num_prefix_tokens :].mean(dim=1))
        return x[:, 0]

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """(B, prefix + L, D) -> logits (B, num_classes), or pooled features (B, D) if ``pre_logits``."""
        x = self.head_drop(self.pool(x))
        return x if pre_logits else self.head(x)

    def forward_sharded(self, x: torch.Tensor, shard: TokenShard) -> torch.Tensor:
        """Context parallelism: images (B, C, H, W), the same on every process of ``shard.group`` -> logits (B, classes).

        This process encodes only the tokens at ``shard.index`` (B, L / W, D); attention sees every token because
        the caller (:func:`pixelvit.engine.context_parallel.sharded_tokens`) runs this under ring attention or
        with each attention layer gathering the group's keys and values. The average pool sums over the group
        (a differentiable all-reduce). Avg pooling, no class token.
        """
        tokens = self.embed(x)
        local = self.forward_tokens(tokens[:, shard.index])
        pooled = all_reduce(local.sum(dim=1), op=dist.ReduceOp.SUM, group=shard.group) / tokens.shape[1]
        return self.head(self.head_drop(self.fc_norm(pooled)))

    def forward(self, x: torch.Tensor, token_keep: float = 1.0) -> torch.Tensor:
        """Images (B, C, H, W) -> logits (B, num_classes).

        ``token_keep`` < 1 in training mode is *pixel dropout*: each sample keeps a random
        round(L·token_keep) of its patch tokens (position embeddings added first, so kept tokens
        know where they are) and the encoder runs on those only, cutting the cost of long
        sequences. In eval mode every token is used.
        """
        if self.token_shard is not None and self.training:
            return self.forward_sharded(x, self.token_shard)
        if token_keep < 1.0 and self.training:
            tokens = self.embed(x)
            visible = random_masking(tokens.shape[0], self.grid_size, 1.0 - token_keep, device=tokens.device)
            return self.forward_head(self.forward_tokens(keep_tokens(tokens, visible.ids_keep)))
        return self.forward_head(self.forward_features(x))

    def forward_intermediates(self, x: torch.Tensor, indices: list[int] | None = None) -> dict[str, Any]:
        """Images -> {"blocks": {i: (B, L, D) patch tokens after block i}, "features": (B, prefix + L, D)}.

        ``indices`` picks blocks (negative counts from the end); None returns all. Intermediate
        tokens exclude the prefix and are not normalised (dense heads add their own norm).
        """
        wanted = block_indices(len(self.blocks), indices)
        x = self.prepend_prefix(self.embed(x))
        out: dict[int, torch.Tensor] = {}
        for i, block in enumerate(self.blocks):
            x = self.run_block(block, x)
            if i in wanted:
                out[i] = x[:, self.num_prefix_tokens :]
        return {"blocks": out, "features": self.norm(x)}

    @torch.no_grad()
    def attention_maps(self, x: torch.Tensor, indices: list[int] | None = None) -> dict[int, torch.Tensor]:
        """Analysis path: images -> {block i: attention weights (B, heads, prefix + L, prefix + L)}.

        Materialises full maps; for long sequences use :meth:`Block.attention_probs` with query chunks.
        """
        wanted = block_indices(len(self.blocks), indices)
        x = self.prepend_prefix(self.embed(x))
        maps: dict[int, torch.Tensor] = {}
        for i, block in enumerate(self.blocks):
            if i in wanted:
                maps[i] = block.attention_probs(x)
            x = block(x)
        return maps
