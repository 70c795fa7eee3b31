"""Per-sample random masking of a token grid (MAE's ``random_masking``), optionally in k×k blocks.

Each sample draws uniform noise, one value per token (or per k×k block of tokens); sorting it gives
``ids_shuffle``, a random permutation of the token indices. The first ``len_keep`` tokens of that
permutation stay visible, the rest are masked; ``ids_restore = argsort(ids_shuffle)`` puts a
(visible + masked) sequence back in the original row-major order.
"""

from __future__ import annotations

from typing import NamedTuple

import torch


class Masking(NamedTuple):
    """One draw of masks for a batch.

    ids_shuffle: (B, L) token indices, visible ones first. ids_restore: (B, L), its inverse
    permutation. mask: (B, L) float, 1 = masked, 0 = visible, in the original token order.
    len_keep: number of visible tokens per sample (the same for every sample).
    """

    ids_shuffle: torch.Tensor
    ids_restore: torch.Tensor
    mask: torch.Tensor
    len_keep: int

    @property
    def ids_keep(self) -> torch.Tensor:
        """(B, len_keep) indices of the visible tokens."""
        return self.ids_shuffle[:, : self.len_keep]


def num_visible(grid_size: tuple[int, int], mask_ratio: float, block: int = 1) -> int:
    """Visible tokens per sample: k²·round(L_blocks·(1 − ratio)) with L_blocks = L / k²
    (for k = 1: round(L·(1 − ratio))). Raises when that leaves no visible or no masked token."""
    gh, gw = grid_size
    if block < 1 or gh % block or gw % block:
        raise ValueError(
            f"mask_block={block} must divide the {gh}x{gw} token grid (image size / patch size); "
            "choose a block size that divides both"
        )
    blocks = (gh // block) * (gw // block)
    keep = round(blocks * (1.0 - mask_ratio))
    if not 0 < keep < blocks:
        raise ValueError(
            f"mask_ratio={mask_ratio} keeps {keep} of {blocks} {'blocks' if block > 1 else 'tokens'}: "
            "at least one must stay visible and one be masked; choose a ratio strictly between 0 and 1 "
            "that fits the grid"
        )
    return keep * block * block


def block_token_ids(grid_size: tuple[int, int], block: int, device: torch.device | None = None) -> torch.Tensor:
    """(L_blocks, k²): the row-major token indices of each k×k block, blocks in row-major order."""
    gh, gw = grid_size
    ids = torch.arange(gh * gw, device=device).reshape(gh // block, block, gw // block, block)
    return ids.permute(0, 2, 1, 3).reshape(-1, block * block)


def random_masking(
    batch: int,
    grid_size: tuple[int, int],
    mask_ratio: float,
    block: int = 1,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> Masking:
    """Draw independent masks for ``batch`` samples of a (gh, gw) token grid.

    With ``block`` = k > 1 whole k×k blocks are kept or masked together (the grid must be divisible
    by k). ``generator`` (on ``device``) makes the draw reproducible, e.g. for evaluation.
    """
    len_keep = num_visible(grid_size, mask_ratio, block)
    groups = block_token_ids(grid_size, block, device)  # (Lb, k²)
    noise = torch.rand(batch, groups.shape[0], generator=generator, device=device)  # (B, Lb)
    block_order = torch.argsort(noise, dim=1)  # ascending: small noise is kept
    ids_shuffle = groups[block_order].reshape(batch, -1)  # (B, L)
    ids_restore = torch.argsort(ids_shuffle, dim=1)
    mask = torch.ones(batch, ids_shuffle.shape[1], device=device)
    mask[:, :len_keep] = 0
    mask = torch.gather(mask, 1, ids_restore)
    return Masking(ids_shuffle, ids_restore, mask, len_keep)


def keep_tokens(tokens: torch.Tensor, ids_keep: torch.Tensor) -> torch.Tensor:
    """(B, L, D) tokens, (B, K) indices -> (B, K, D) visible tokens."""
    return torch.gather(tokens, 1, ids_keep[..., None].expand(-1, -1, tokens.shape[-1]))
