"""Image -> token tokenizers, for any patch size p (p = 1 is one pixel per token).

Both tokenizers read a (B, C, H, W) image and return (B, L, D) tokens with L = (H/p)(W/p),
in row-major order over the (H/p, W/p) grid.

* ``linear``: the ViT patch projection. Each p×p×C patch, flattened in (C, p, p) order, goes
  through one ``nn.Linear(C·p·p, D)``. At p = 1 this is a linear map of one pixel's channel values
  (the paper's pixel tokens). There is deliberately no LayerNorm before the projection: at p = 1
  it would normalise a pixel's 3 channel values and erase its colour.
* ``dictionary``: the paper's "dictionary-based tokens". Input must be raw 8-bit values 0..255.
  Every (channel, in-patch offset) slot k in 0..C·p·p-1 has its own learned 256×D table E_k, and a
  patch's token is ``sum_k E_k[value_k]``. At p = 1 with RGB that is three 256×D tables, one per
  channel, summed: the 256³ colours share 3·256 parameters, and channels stay distinguishable.
  It equals the linear tokenizer applied to one-hot encoded values.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

TOKENIZER_KINDS = ("linear", "dictionary")


def patchify(x: torch.Tensor, p: int) -> torch.Tensor:
    """(B, C, H, W) -> (B, L, C·p·p), each patch flattened in (C, p, p) order."""
    b, c, h, w = x.shape
    x = x.reshape(b, c, h // p, p, w // p, p).permute(0, 2, 4, 1, 3, 5)
    return x.reshape(b, (h // p) * (w // p), c * p * p)


def unpatchify(tokens: torch.Tensor, p: int, grid_size: tuple[int, int], channels: int) -> torch.Tensor:
    """Inverse of :func:`patchify`: (B, L, C·p·p) -> (B, C, gh·p, gw·p)."""
    b = tokens.shape[0]
    gh, gw = grid_size
    x = tokens.reshape(b, gh, gw, channels, p, p).permute(0, 3, 1, 4, 2, 5)
    return x.reshape(b, channels, gh * p, gw * p)


class LinearTokenizer(nn.Module):
    """Patch projection: (B, C, H, W) -> (B, L, D).

    Float input is used as given (already normalised, as timm expects). uint8 input is first
    scaled to [0, 1] and normalised with ``pixel_mean`` / ``pixel_std`` (one value per channel),
    so a data pipeline can ship raw uint8 tensors to the device.
    """

    def __init__(self, patch_size: int, in_chans: int, dim: int, pixel_mean: tuple, pixel_std: tuple):
        super().__init__()
        self.patch_size = patch_size
        self.proj = nn.Linear(in_chans * patch_size * patch_size, dim)
        self.register_buffer("pixel_mean", torch.tensor(pixel_mean, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("pixel_std", torch.tensor(pixel_std, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)

    def reset_parameters(self) -> None:
        # As in MAE: xavier-uniform on the projection seen as a (D, C·p·p) matrix.
        nn.init.xavier_uniform_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """uint8 (B, C, H, W) -> normalised float; float input passes through."""
        if x.dtype == torch.uint8:
            return (x.float() / 255.0 - self.pixel_mean) / self.pixel_std
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(patchify(self.normalize(x), self.patch_size))


class DictionaryTokenizer(nn.Module):
    """Lookup tokens: uint8 (B, C, H, W) -> (B, L, D) = sum over slots k of E_k[value_k] + bias.

    The C·p·p tables live in one ``nn.Embedding(C·p·p·256, D)``; slot k's table is rows
    [256k, 256k+256). Integer input of another dtype is accepted when every value is in 0..255.
    """

    def __init__(self, patch_size: int, in_chans: int, dim: int):
        super().__init__()
        self.patch_size = patch_size
        self.slots = in_chans * patch_size * patch_size
        self.embed = nn.Embedding(self.slots * 256, dim)
        self.bias = nn.Parameter(torch.zeros(dim))
        self.register_buffer("offsets", torch.arange(self.slots) * 256, persistent=False)

    def reset_parameters(self) -> None:
        # Each token sums `slots` rows; scale so the sum has roughly unit variance per feature.
        nn.init.normal_(self.embed.weight, std=self.slots**-0.5)
        nn.init.zeros_(self.bias)

    @staticmethod
    def check_values(x: torch.Tensor) -> None:
        if x.dtype == torch.uint8:
            return
        if x.is_floating_point() or x.is_complex():
            raise TypeError(
                f"the dictionary tokenizer takes raw 8-bit pixel values (uint8, 0..255), got a {x.dtype} tensor; "
                "pass the unnormalised uint8 image (e.g. torchvision.io.decode_image or torch.from_numpy(array))"
            )
        lo, hi = int(x.min()), int(x.max())
        if lo < 0 or hi > 255:
            raise ValueError(f"the dictionary tokenizer takes pixel values in 0..255, got values in {lo}..{hi}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_values(x)
        idx = patchify(x, self.patch_size).long() + self.offsets  # (B, L, slots)
        b, n, k = idx.shape
        tokens = F.embedding_bag(idx.reshape(b * n, k), self.embed.weight, mode="sum")
        return tokens.reshape(b, n, -1) + self.bias
