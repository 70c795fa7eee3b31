"""Position embeddings: learned (random init, no 2-D prior), fixed 2-D sin-cos, or none.

The paper's pixel transformer uses *learned* embeddings initialised at random, so that nothing
tells the model which pixels are neighbours. ``sincos`` is the fixed 2-D embedding of MAE/DiT
(a locality prior); ``none`` makes the encoder permutation-equivariant over tokens.
"""

from __future__ import annotations

import torch
from torch import nn

POS_EMBED_KINDS = ("learned", "sincos", "none")


def sincos_1d(dim: int, positions: torch.Tensor) -> torch.Tensor:
    """(N,) positions -> (N, dim) embedding: [sin(pos * w_k), cos(pos * w_k)], w_k = 10000^(-2k/dim)."""
    if dim % 2:
        raise ValueError(f"sin-cos embedding width must be even, got {dim}")
    omega = torch.arange(dim // 2, dtype=torch.float64) / (dim / 2.0)
    omega = 1.0 / 10000**omega
    angles = positions.to(torch.float64)[:, None] * omega[None, :]
    return torch.cat([angles.sin(), angles.cos()], dim=1)


def sincos_2d(dim: int, grid_size: tuple[int, int]) -> torch.Tensor:
    """Fixed 2-D sin-cos embedding of a (gh, gw) token grid -> (gh*gw, dim), row-major.

    Half of the channels encode the row, half the column (MAE's ``get_2d_sincos_pos_embed``
    layout: first half from the column index, second half from the row index).
    """
    if dim % 4:
        raise ValueError(f"2-D sin-cos embedding needs a width divisible by 4, got {dim}")
    gh, gw = grid_size
    rows, cols = torch.meshgrid(torch.arange(gh), torch.arange(gw), indexing="ij")
    emb_w = sincos_1d(dim // 2, cols.reshape(-1))
    emb_h = sincos_1d(dim // 2, rows.reshape(-1))
    return torch.cat([emb_w, emb_h], dim=1).float()


class PosEmbed(nn.Module):
    """Adds a position embedding to (B, L, D) tokens of a (gh, gw) grid.

    kind="learned": a (1, L, D) parameter, truncated-normal init with std ``init_std``.
    kind="sincos": a fixed (1, L, D) buffer from :func:`sincos_2d` (saved, not trained).
    kind="none": identity.
    """

    def __init__(self, kind: str, grid_size: tuple[int, int], dim: int, init_std: float = 0.02):
        super().__init__()
        if kind not in POS_EMBED_KINDS:
            raise ValueError(f"unknown pos_embed {kind!r}; choose one of {POS_EMBED_KINDS}")
        self.kind = kind
        self.grid_size = tuple(grid_size)
        self.init_std = init_std
        num_tokens = self.grid_size[0] * self.grid_size[1]
        if kind == "learned":
            self.weight = nn.Parameter(torch.zeros(1, num_tokens, dim))
        elif kind == "sincos":
            self.register_buffer("weight", sincos_2d(dim, self.grid_size)[None], persistent=True)
        else:
            self.weight = None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.kind == "learned":
            nn.init.trunc_normal_(self.weight, std=self.init_std, a=-2 * self.init_std, b=2 * self.init_std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, L, D) -> (B, L, D)."""
        if self.weight is None:
            return x
        return x + self.weight.to(x.dtype)
