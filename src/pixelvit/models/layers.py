"""Transformer building blocks shared by every model: attention, MLP, pre-norm block, drop path.

Parameter names follow timm's ``vision_transformer`` (``norm1``, ``attn.qkv``, ``attn.proj``,
``norm2``, ``mlp.fc1``, ``mlp.fc2``) so that state dicts map onto timm's one to one.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn


def drop_path(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Stochastic depth: zero whole samples of a residual branch with probability p, rescale the rest."""
    if p == 0.0 or not training:
        return x
    keep = 1.0 - p
    mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
    return x * mask / keep


class DropPath(nn.Module):
    """Module form of :func:`drop_path`."""

    def __init__(self, p: float = 0.0):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return drop_path(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Attention(nn.Module):
    """Multi-head self-attention.

    The training path calls ``scaled_dot_product_attention`` (flash / memory-efficient kernels),
    so no (L, L) tensor is materialised. :meth:`attention_probs` is the separate analysis path
    that returns softmax weights for a chunk of queries. ``kv_gather`` (set by the engine for context
    parallelism on a CPU) maps this process's keys and values (B, heads, L', head_dim) to the whole sequence's.
    """

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = True, attn_drop: float = 0.0, proj_drop: float = 0.0):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"width {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim**-0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.attn_drop = attn_drop
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)
        self.kv_gather: Callable[[torch.Tensor], torch.Tensor] | None = None

    def qkv_heads(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(B, L, D) -> q, k, v each (B, heads, L, head_dim)."""
        b, n, _ = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        return qkv.unbind(0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, L, D) -> (B, L, D)."""
        b, n, d = x.shape
        q, k, v = self.qkv_heads(x)
        if self.kv_gather is not None:
            k, v = self.kv_gather(k), self.kv_gather(v)
        x = F.scaled_dot_product_attention(q, k, v, dropout_p=self.attn_drop if self.training else 0.0)
        x = x.transpose(1, 2).reshape(b, n, d)
        return self.proj_drop(self.proj(x))

    def attention_probs(self, x: torch.Tensor, queries: slice | None = None) -> torch.Tensor:
        """Softmax attention weights, analysis only: (B, L, D) -> (B, heads, Lq, L).

        ``queries`` selects a range of query tokens so that callers can walk a long sequence
        in chunks and never hold the full (L, L) map.
        """
        q, k, _ = self.qkv_heads(x)
        if queries is not None:
            q = q[:, :, queries]
        logits = (q.float() * self.scale) @ k.float().transpose(-2, -1)
        return logits.softmax(dim=-1)


class Mlp(nn.Module):
    """Two-layer GELU MLP: (B, L, D) -> (B, L, D).

    ``approximate``: the GELU form, "none" (exact erf, ViT's) or "tanh" (DiT's approximation).
    """

    def __init__(self, dim: int, hidden_dim: int, drop: float = 0.0, approximate: str = "none"):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden_dim)
        self.act = nn.GELU(approximate=approximate)
        self.drop1 = nn.Dropout(drop)
        self.fc2 = nn.Linear(hidden_dim, dim)
        self.drop2 = nn.Dropout(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop2(self.fc2(self.drop1(self.act(self.fc1(x)))))


class Block(nn.Module):
    """Pre-norm Transformer block: x + DropPath(Attn(LN(x))), then x + DropPath(MLP(LN(x)))."""

    def __init__(
        self,
        dim: int,
        num_heads: int,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        drop: float = 0.0,
        attn_drop: float = 0.0,
        drop_path: float = 0.0,
    ):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, num_heads, qkv_bias=qkv_bias, attn_drop=attn_drop, proj_drop=drop)
        self.drop_path1 = DropPath(drop_path)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), drop=drop)
        self.drop_path2 = DropPath(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, L, D) -> (B, L, D)."""
        x = x + self.drop_path1(self.attn(self.norm1(x)))
        return x + self.drop_path2(self.mlp(self.norm2(x)))

    def attention_probs(self, x: torch.Tensor, queries: slice | None = None) -> torch.Tensor:
        """Attention weights of this block for block input x: (B, heads, Lq, L)."""
        return self.attn.attention_probs(self.norm1(x), queries)
