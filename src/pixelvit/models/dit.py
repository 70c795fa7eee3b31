"""Diffusion Transformer (DiT, Peebles & Xie 2023) for any patch size; patch size 1 is the paper's DiT-L/1.

The network follows the reference implementation (facebookresearch/DiT ``models.py``): tokens from
a linear patch projection plus a fixed 2-D sin-cos position table, a conditioning vector
c = timestep embedding + class embedding, adaLN-Zero blocks (LayerNorm without affine, shift/scale
from c, a gate from c on each residual branch, all zero-initialised so every block starts as the
identity) and a final adaLN layer that predicts, per token, the noise ε (and, with ``learn_sigma``,
C more channels that interpolate the log variance). With the reference's settings the parameter
count and the outputs equal the reference's (tested); :func:`from_reference_state_dict` converts its
released checkpoints.

Differences in layout from the reference, handled by the converter:

* the patch projection is an ``nn.Linear(C·p·p, D)`` (``x_embedder.proj``), the reference's a
  ``Conv2d(C, D, p, stride=p)``: the same numbers, reshaped;
* the final layer writes each token's p×p×C' values in (C', p, p) order (the order of
  :func:`~pixelvit.models.tokenizers.unpatchify`), the reference's in (p, p, C') order: its rows are
  permuted.
"""

from __future__ import annotations

import math
import os
from typing import Any

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from ..errors import first_line
from .base import block_indices, capture_config, to_2tuple
from .layers import Attention, Mlp
from .pos_embed import sincos_2d
from .registry import Example, register_family
from .tokenizers import LinearTokenizer, unpatchify

# size letter -> (width, depth, heads), as the reference's DiT-S/B/L/XL.
DIT_SIZES: dict[str, tuple[int, int, int]] = {
    "s": (384, 12, 6),
    "b": (768, 12, 12),
    "l": (1024, 24, 16),
    "xl": (1152, 28, 16),
}
FREQUENCY_DIM = 256


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """adaLN: (B, L, D) tokens, (B, D) shift and scale -> x · (1 + scale) + shift."""
    return x * (1 + scale.unsqueeze(1)) + shift.unsqueeze(1)


def timestep_embedding(t: torch.Tensor, dim: int = FREQUENCY_DIM, max_period: float = 10000.0) -> torch.Tensor:
    """(N,) timesteps (may be fractional) -> (N, dim) [cos(t·f_k), sin(t·f_k)], f_k = max_period^(-k/half)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t[:, None].float() * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    return torch.cat([emb, torch.zeros_like(emb[:, :1])], dim=-1) if dim % 2 else emb


class TimestepEmbedder(nn.Module):
    """(N,) timesteps -> (N, D): sinusoidal features (256) through Linear-SiLU-Linear."""

    def __init__(self, dim: int, frequency_dim: int = FREQUENCY_DIM):
        super().__init__()
        self.frequency_dim = frequency_dim
        self.mlp = nn.Sequential(nn.Linear(frequency_dim, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return self.mlp(timestep_embedding(t, self.frequency_dim).to(self.mlp[0].weight.dtype))


class LabelEmbedder(nn.Module):
    """(N,) class indices -> (N, D). Index ``num_classes`` is the null class (classifier-free guidance);
    in training, each label is replaced by it with probability ``dropout_prob``."""

    def __init__(self, num_classes: int, dim: int, dropout_prob: float):
        super().__init__()
        self.num_classes = num_classes
        self.dropout_prob = dropout_prob
        self.embedding_table = nn.Embedding(num_classes + int(dropout_prob > 0), dim)

    def forward(self, labels: torch.Tensor, train: bool) -> torch.Tensor:
        if train and self.dropout_prob > 0:
            drop = torch.rand(labels.shape[0], device=labels.device) < self.dropout_prob
            labels = torch.where(drop, torch.full_like(labels, self.num_classes), labels)
        return self.embedding_table(labels)


class DiTBlock(nn.Module):
    """adaLN-Zero block: (B, L, D) tokens, (B, D) condition -> (B, L, D)."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.attn = Attention(dim, num_heads, qkv_bias=True)
        self.norm2 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), approximate="tanh")
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(dim, 6 * dim))

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        shift1, scale1, gate1, shift2, scale2, gate2 = self.adaLN_modulation(c).chunk(6, dim=1)
        x = x + gate1.unsqueeze(1) * self.attn(modulate(self.norm1(x), shift1, scale1))
        return x + gate2.unsqueeze(1) * self.mlp(modulate(self.norm2(x), shift2, scale2))


class FinalLayer(nn.Module):
    """(B, L, D), (B, D) -> (B, L, C'·p·p): adaLN then a linear map to each token's patch values."""

    def __init__(self, dim: int, patch_size: int, out_channels: int):
        super().__init__()
        self.norm_final = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.linear = nn.Linear(dim, patch_size * patch_size * out_channels)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(dim, 2 * dim))

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        shift, scale = self.adaLN_modulation(c).chunk(2, dim=1)
        return self.linear(modulate(self.norm_final(x), shift, scale))


def _example_inputs(model: DiT, batch: int, generator: torch.Generator) -> tuple[torch.Tensor, ...]:
    """Noisy inputs x (B, C, H, W), timesteps t (B,) in [0, 1000), labels y (B,)."""
    x = torch.randn(batch, model.in_chans, *model.img_size, generator=generator)
    t = torch.randint(0, 1000, (batch,), generator=generator)
    return x, t, torch.randint(0, model.num_classes, (batch,), generator=generator)


EXAMPLE = Example(lambda model, batch: (batch, model.out_channels, *model.img_size), {"num_classes": 3}, inputs=_example_inputs)


@register_family("dit", sizes=DIT_SIZES, example=EXAMPLE)
class DiT(nn.Module):
    """Class-conditional diffusion Transformer over p×p patches of a (C, H, W) input (latent or pixels).

    Args:
        img_size: H or (H, W) of the input (32 for 256×256 images through the SD VAE).
        patch_size: p; 1 gives one token per latent pixel (DiT-L/1), 2 the reference's DiT-L/2.
        in_chans: C (4 for SD-VAE latents).
        embed_dim, depth, num_heads, mlp_ratio: the Transformer's shape.
        class_dropout_prob: probability of replacing a label by the null class in training; > 0
            adds the null class (needed for classifier-free guidance).
        num_classes: number of real classes.
        learn_sigma: output 2·C channels (ε and the variance interpolation), else C (ε only).
    """

    @capture_config
    def __init__(
        self,
        img_size: int | tuple[int, int] = 32,
        patch_size: int = 2,
        in_chans: int = 4,
        embed_dim: int = 1152,
        depth: int = 28,
        num_heads: int = 16,
        mlp_ratio: float = 4.0,
        class_dropout_prob: float = 0.1,
        num_classes: int = 1000,
        learn_sigma: bool = True,
    ):
        super().__init__()
        size = to_2tuple(img_size)
        if patch_size < 1 or size[0] % patch_size or size[1] % patch_size:
            raise ValueError(f"image size {size[0]}x{size[1]} is not divisible by patch size {patch_size}")
        if not 0.0 <= class_dropout_prob < 1.0:
            raise ValueError(f"class_dropout_prob={class_dropout_prob} must be in [0, 1)")
        self.img_size = size
        self.patch_size = patch_size
        self.in_chans = in_chans
        self.out_channels = in_chans * 2 if learn_sigma else in_chans
        self.learn_sigma = learn_sigma
        self.num_classes = num_classes
        self.embed_dim = self.num_features = embed_dim
        self.grid_size = (size[0] // patch_size, size[1] // patch_size)
        self.grad_checkpointing = False

        self.x_embedder = LinearTokenizer(patch_size, in_chans, embed_dim, (0.5,) * in_chans, (0.5,) * in_chans)
        self.t_embedder = TimestepEmbedder(embed_dim)
        self.y_embedder = LabelEmbedder(num_classes, embed_dim, class_dropout_prob)
        # A frozen parameter, as in the reference: counted by parameters(), never trained.
        self.pos_embed = nn.Parameter(torch.zeros(1, self.grid_size[0] * self.grid_size[1], embed_dim), requires_grad=False)
        self.blocks = nn.ModuleList(DiTBlock(embed_dim, num_heads, mlp_ratio) for _ in range(depth))
        self.final_layer = FinalLayer(embed_dim, patch_size, self.out_channels)
        self.init_weights()

    def init_weights(self) -> None:
        """The reference's initialisation: xavier-uniform linears with zero biases, sin-cos positions,
        N(0, 0.02) label table and timestep MLP, and zeros for every adaLN modulation and the output layer."""
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
        with torch.no_grad():
            self.pos_embed.copy_(sincos_2d(self.pos_embed.shape[-1], self.grid_size)[None])
        self.x_embedder.reset_parameters()
        nn.init.normal_(self.y_embedder.embedding_table.weight, std=0.02)
        nn.init.normal_(self.t_embedder.mlp[0].weight, std=0.02)
        nn.init.normal_(self.t_embedder.mlp[2].weight, std=0.02)
        for layer in [
            *(b.adaLN_modulation[-1] for b in self.blocks),
            self.final_layer.adaLN_modulation[-1],
            self.final_layer.linear,
        ]:
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """Recompute each block's activations in the backward pass to save memory."""
        self.grad_checkpointing = enable

    @torch.jit.ignore
    def no_weight_decay(self) -> set[str]:
        return {"y_embedder.embedding_table.weight"}

    @property
    def null_class(self) -> int:
        """The label index of the unconditional (null) class."""
        if self.y_embedder.dropout_prob <= 0:
            raise ValueError("this DiT was built with class_dropout_prob=0: it has no null class, so guidance is impossible")
        return self.num_classes

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Noisy input (B, C, H, W) -> patch tokens with position embedding (B, L, D)."""
        if x.ndim != 4 or x.shape[1] != self.in_chans or tuple(x.shape[2:]) != self.img_size:
            raise ValueError(
                f"DiT expects (B, {self.in_chans}, {self.img_size[0]}, {self.img_size[1]}) inputs, got {tuple(x.shape)}"
            )
        return self.x_embedder(x) + self.pos_embed.to(x.dtype)

    def condition(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """t (B,) timesteps, y (B,) labels -> c (B, D); labels drop to the null class in training."""
        return self.t_embedder(t) + self.y_embedder(y, self.training)

    def forward_intermediates(
        self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor, indices: list[int] | None = None
    ) -> dict[str, Any]:
        """-> {"blocks": {i: (B, L, D) tokens after block i}, "features": (B, L, D) after the last block,
        "condition": c (B, D)}. ``indices`` picks blocks (negative counts from the end); None returns all."""
        wanted = block_indices(len(self.blocks), indices)
        tokens, c = self.embed(x), self.condition(t, y)
        out: dict[int, torch.Tensor] = {}
        for i, block in enumerate(self.blocks):
            if self.grad_checkpointing and torch.is_grad_enabled():
                tokens = checkpoint(block, tokens, c, use_reentrant=False)
            else:
                tokens = block(tokens, c)
            if i in wanted:
                out[i] = tokens
        return {"blocks": out, "features": tokens, "condition": c}

    def forward_features(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """x (B, C, H, W), t (B,), y (B,) -> tokens after the last block (B, L, D), before the final adaLN layer."""
        return self.forward_intermediates(x, t, y, indices=[])["features"]

    def forward_head(self, tokens: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """Tokens (B, L, D), condition (B, D) -> output (B, C', H, W)."""
        out = self.final_layer(tokens, c)  # (B, L, C'·p·p), (C', p, p) order per token
        return unpatchify(out, self.patch_size, self.grid_size, self.out_channels)

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """x (B, C, H, W) noisy input, t (B,) timesteps, y (B,) labels -> (B, C', H, W), C' = 2C with learn_sigma."""
        out = self.forward_intermediates(x, t, y, indices=[])
        return self.forward_head(out["features"], out["condition"])

    def forward_with_cfg(
        self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor, cfg_scale: float, guidance_channels: int | None = None
    ) -> torch.Tensor:
        """Classifier-free guidance: ε = ε_uncond + s·(ε_cond − ε_uncond), one batched pass of 2B.

        x (B, C, H, W), t (B,), y (B,) -> (B, C', H, W); the variance channels come from the conditional
        pass. ``guidance_channels`` (default: all C) guides only the first k channels: 3 reproduces the
        reference's released sampling code, which guides 3 of the 4 latent channels.
        """
        if cfg_scale == 1.0:
            return self.forward(x, t, y)
        k = self.in_chans if guidance_channels is None else guidance_channels
        if not 1 <= k <= self.in_chans:
            raise ValueError(f"guidance_channels={guidance_channels} must be in 1..{self.in_chans}")
        null = torch.full_like(y, self.null_class)
        out = self.forward(torch.cat([x, x]), torch.cat([t, t]), torch.cat([y, null]))
        cond, uncond = out.chunk(2)
        guided = uncond[:, :k] + cfg_scale * (cond[:, :k] - uncond[:, :k])
        return torch.cat([guided, cond[:, k:]], dim=1)


# ---- the reference's checkpoints ----------------------------------------------------------------


def from_reference_state_dict(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """facebookresearch/DiT state dict -> this module's (Conv2d patch weights flattened, output rows reordered)."""
    out = dict(state)
    w = state["x_embedder.proj.weight"]  # (D, C, p, p)
    out["x_embedder.proj.weight"] = w.reshape(w.shape[0], -1)
    p = w.shape[-1]
    lw, lb = state["final_layer.linear.weight"], state["final_layer.linear.bias"]  # rows in (p, p, C') order
    c = lw.shape[0] // (p * p)
    out["final_layer.linear.weight"] = lw.reshape(p, p, c, -1).permute(2, 0, 1, 3).reshape(lw.shape)
    out["final_layer.linear.bias"] = lb.reshape(p, p, c).permute(2, 0, 1).reshape(-1)
    return out


def to_reference_state_dict(state: dict[str, torch.Tensor], in_chans: int) -> dict[str, torch.Tensor]:
    """Inverse of :func:`from_reference_state_dict`."""
    out = dict(state)
    w = state["x_embedder.proj.weight"]  # (D, C·p·p)
    p = math.isqrt(w.shape[1] // in_chans)
    out["x_embedder.proj.weight"] = w.reshape(w.shape[0], in_chans, p, p)
    lw, lb = state["final_layer.linear.weight"], state["final_layer.linear.bias"]  # rows in (C', p, p) order
    c = lw.shape[0] // (p * p)
    out["final_layer.linear.weight"] = lw.reshape(c, p, p, -1).permute(1, 2, 0, 3).reshape(lw.shape)
    out["final_layer.linear.bias"] = lb.reshape(c, p, p).permute(1, 2, 0).reshape(-1)
    return out


def reference_config(state: dict[str, torch.Tensor], num_heads: int | None = None, num_classes: int = 1000) -> dict[str, Any]:
    """:class:`DiT` arguments (pixelvit's names) of a reference state dict, read from its shapes. Heads are not visible in
    the weights: the preset of the same width is used unless ``num_heads`` is given. A label table of
    ``num_classes`` + 1 rows has the null class (class dropout 0.1, the reference's)."""
    w = state["x_embedder.proj.weight"]
    dim, channels, p = w.shape[0], w.shape[1], w.shape[-1]
    side = math.isqrt(state["pos_embed"].shape[1])
    if num_heads is None:
        by_width = {width: heads for width, _, heads in DIT_SIZES.values()}
        if dim not in by_width:
            raise ValueError(f"width {dim} matches no DiT preset; pass num_heads")
        num_heads = by_width[dim]
    rows = state["y_embedder.embedding_table.weight"].shape[0]
    if rows not in (num_classes, num_classes + 1):
        raise ValueError(f"the label table has {rows} rows, not num_classes={num_classes} (+1 for the null class)")
    return dict(
        img_size=side * p, patch_size=p, in_chans=channels, embed_dim=dim,
        depth=len({k.split(".")[1] for k in state if k.startswith("blocks.")}), num_heads=num_heads,
        mlp_ratio=state["blocks.0.mlp.fc1.weight"].shape[0] / dim,
        class_dropout_prob=0.1 if rows == num_classes + 1 else 0.0, num_classes=num_classes,
        learn_sigma=state["final_layer.linear.weight"].shape[0] == 2 * channels * p * p,
    )  # fmt: skip


def load_reference_checkpoint(path: str | os.PathLike, num_heads: int | None = None, num_classes: int = 1000) -> DiT:
    """A released facebookresearch/DiT checkpoint (e.g. ``DiT-XL-2-256x256.pt``) as a :class:`DiT`.

    Read with ``torch.load(weights_only=True)``: a plain state dict, or a training checkpoint's
    ``"ema"`` entry. Files that hold other objects (the reference's training checkpoints pickle an
    argparse namespace) are refused rather than unpickled.
    """
    import pickle

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise ValueError(
            f"{path} holds objects besides tensors ({first_line(e)}); extract its 'ema' state dict with a "
            "trusted script (torch.save(ckpt['ema'], 'ema.pt')) and load that"
        ) from None
    if "ema" in state and isinstance(state["ema"], dict):
        state = state["ema"]
    model = DiT(**reference_config(state, num_heads, num_classes))
    model.load_state_dict(from_reference_state_dict(state), strict=True)
    return model
