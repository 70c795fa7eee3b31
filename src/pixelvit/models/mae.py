"""Masked autoencoder (He et al., 2022) around a :class:`VisionTransformer` of any patch size.

The encoder is a plain ``VisionTransformer`` (``num_classes=0``, class token, final LayerNorm): it
embeds all tokens, keeps a random 25 % of them (per sample) and runs on those only. A light
Transformer decoder puts mask tokens back at the masked positions, adds its own position embedding
and predicts each token's p·p·C target values (see :mod:`.mae_targets`); the loss is the mean
squared error over masked tokens only. ``model.encoder.state_dict()`` is what fine-tuning loads.

The layout follows the reference ``models_mae.py`` (``random_masking``, ``forward_encoder``,
``forward_decoder``, ``forward_loss``), with two changes that matter at p = 1: targets are laid out
in the tokenizer's (C, p, p) order, and the per-patch normalised target is refused at p = 1 in
favour of a neighbourhood-normalised one.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from .base import capture_config
from .layers import Block
from .mae_targets import check_target, compute_target, normalize_images, target_to_pixels
from .masking import keep_tokens, num_visible, random_masking
from .pos_embed import PosEmbed
from .registry import VIT_SIZES, Example, register_family
from .tokenizers import unpatchify
from .vit import VisionTransformer

DECODER_POS_EMBED_KINDS = ("sincos", "learned")


class MAEOutput(NamedTuple):
    """loss: scalar. pred, target: (B, L, C·p·p). mask: (B, L), 1 = masked."""

    loss: torch.Tensor
    pred: torch.Tensor
    target: torch.Tensor
    mask: torch.Tensor


def masked_mse_per_sample(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Each sample's mean over its masked tokens of the per-token mean squared error:
    pred, target (B, L, K), mask (B, L) with 1 = masked -> (B,). Visible tokens do not count."""
    per_token = (pred.float() - target.float()).pow(2).mean(dim=-1)  # (B, L)
    return (per_token * mask).sum(dim=1) / mask.sum(dim=1)


def masked_mse(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The MAE loss: mean squared error over masked tokens only -> scalar. Every sample masks the same
    number of tokens, so this is the mean of :func:`masked_mse_per_sample`."""
    return masked_mse_per_sample(pred, target, mask).mean()


def _example_shape(model: MaskedAutoencoder, batch: int) -> tuple[int, ...]:
    """Predictions (B, L, C·p·p)."""
    return batch, model.grid_size[0] * model.grid_size[1], model.in_chans * model.patch_size**2


def _example_output(model: MaskedAutoencoder, inputs: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """The predictions under masks from a fixed seed (each sample draws its mask in turn: sample 0 alone draws the same)."""
    return model(*inputs, generator=torch.Generator().manual_seed(2)).pred


EXAMPLE = Example(_example_shape, dict(decoder_embed_dim=16, decoder_depth=1, decoder_num_heads=2), output=_example_output)


@register_family("mae", sizes=VIT_SIZES, example=EXAMPLE, prefix="mae_vit")
class MaskedAutoencoder(nn.Module):
    """MAE pre-training model.

    Args:
        img_size, patch_size, in_chans, embed_dim, depth, num_heads, mlp_ratio: the encoder's, as for
            :class:`VisionTransformer`.
        mask_ratio: fraction of tokens masked per sample (0.75 in MAE and in the paper).
        mask_block: mask k×k blocks of tokens together (1 = independent tokens); k divides the grid.
        target: "pixels", "local_norm" or "patch_norm" (p >= 2 only); see :mod:`.mae_targets`.
        local_norm_window: k of the "local_norm" neighbourhood.
        decoder_embed_dim, decoder_depth, decoder_num_heads, decoder_mlp_ratio: the decoder's shape.
        decoder_pos_embed: "sincos" (fixed 2-D, as in MAE) or "learned".
        **encoder_kwargs: any other :class:`VisionTransformer` argument (tokenizer, pos_embed,
            pos_embed_std, drop_path_rate, pixel_mean, pixel_std, ...) except ``num_classes`` (the
            encoder has no classifier). It needs its class token and final LayerNorm, i.e.
            ``global_pool="token"`` and ``class_token=True`` (the defaults).
    """

    @capture_config(extends=VisionTransformer, exclude=("num_classes",))
    def __init__(
        self,
        img_size: int | tuple[int, int] = 32,
        patch_size: int = 1,
        in_chans: int = 3,
        embed_dim: int = 192,
        depth: int = 12,
        num_heads: int = 3,
        mlp_ratio: float = 4.0,
        mask_ratio: float = 0.75,
        mask_block: int = 1,
        target: str = "pixels",
        local_norm_window: int = 3,
        decoder_embed_dim: int = 128,
        decoder_depth: int = 4,
        decoder_num_heads: int = 4,
        decoder_mlp_ratio: float = 4.0,
        decoder_pos_embed: str = "sincos",
        **encoder_kwargs: Any,
    ):
        super().__init__()
        if "num_classes" in encoder_kwargs:
            raise ValueError("the MAE encoder has no classifier; do not pass num_classes")
        if encoder_kwargs.get("global_pool", "token") != "token" or not encoder_kwargs.get("class_token", True):
            raise ValueError(
                "MAE pre-training reads the encoder after its final LayerNorm: build the encoder with "
                "global_pool='token' and class_token=True (the fine-tuning model may still pool by average)"
            )
        if decoder_pos_embed not in DECODER_POS_EMBED_KINDS:
            raise ValueError(f"unknown decoder_pos_embed {decoder_pos_embed!r}; choose one of {DECODER_POS_EMBED_KINDS}")
        self.encoder = VisionTransformer(
            img_size=img_size, patch_size=patch_size, in_chans=in_chans, embed_dim=embed_dim, depth=depth,
            num_heads=num_heads, mlp_ratio=mlp_ratio, num_classes=0, **encoder_kwargs,
        )  # fmt: skip
        check_target(target, self.encoder.patch_size, local_norm_window)
        num_visible(self.encoder.grid_size, mask_ratio, mask_block)  # validates ratio and block size now
        self.mask_ratio, self.mask_block = mask_ratio, mask_block
        self.target, self.local_norm_window = target, local_norm_window
        enc = self.encoder
        self.register_buffer("pixel_mean", torch.tensor(enc.pixel_mean).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("pixel_std", torch.tensor(enc.pixel_std).view(1, -1, 1, 1), persistent=False)

        self.decoder_embed = nn.Linear(enc.embed_dim, decoder_embed_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, decoder_embed_dim))
        self.decoder_pos_embed = PosEmbed(decoder_pos_embed, enc.grid_size, decoder_embed_dim, init_std=0.02)
        self.decoder_blocks = nn.ModuleList(
            Block(decoder_embed_dim, decoder_num_heads, decoder_mlp_ratio, qkv_bias=True) for _ in range(decoder_depth)
        )
        self.decoder_norm = nn.LayerNorm(decoder_embed_dim, eps=1e-6)
        self.decoder_pred = nn.Linear(decoder_embed_dim, enc.in_chans * enc.patch_size**2)
        self.grad_checkpointing = False
        self.init_weights()

    def init_weights(self) -> None:
        """The reference MAE's initialisation: xavier-uniform linear layers (encoder and decoder), zero
        biases, unit LayerNorms, class and mask tokens N(0, 0.02); position embeddings keep their own init."""
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        self.encoder.patch_embed.reset_parameters()
        nn.init.normal_(self.encoder.cls_token, std=0.02)
        nn.init.normal_(self.mask_token, std=0.02)

    # ---- surface ------------------------------------------------------------------------------

    @property
    def img_size(self) -> tuple[int, int]:
        return self.encoder.img_size

    @property
    def patch_size(self) -> int:
        return self.encoder.patch_size

    @property
    def in_chans(self) -> int:
        return self.encoder.in_chans

    @property
    def grid_size(self) -> tuple[int, int]:
        return self.encoder.grid_size

    @property
    def embed_dim(self) -> int:
        return self.encoder.embed_dim

    @torch.jit.ignore
    def no_weight_decay(self) -> set[str]:
        """Position embeddings are not decayed (biases and norms neither, by shape). The class and mask tokens are,
        as in the reference's pre-training (timm 0.3.2 ``add_weight_decay``: every tensor of dimension > 1; its
        position embeddings are frozen sin-cos, ours of the encoder is learned and kept out of decay)."""
        names = {f"encoder.{n}" for n in self.encoder.no_weight_decay()} - {"encoder.cls_token"}
        if self.decoder_pos_embed.kind == "learned":
            names.add("decoder_pos_embed.weight")
        return names

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """Recompute encoder and decoder block activations in the backward pass."""
        self.encoder.set_grad_checkpointing(enable)
        self.grad_checkpointing = enable

    # ---- forward pieces -----------------------------------------------------------------------

    def forward_features(self, images: torch.Tensor) -> torch.Tensor:
        """The encoder on every token (no masking): images (B, C, H, W) -> (B, 1 + L, D)."""
        return self.encoder.forward_features(images)

    def forward_intermediates(self, images: torch.Tensor, indices: list[int] | None = None) -> dict[str, Any]:
        """The encoder's :meth:`VisionTransformer.forward_intermediates` on every token (no masking)."""
        return self.encoder.forward_intermediates(images, indices)

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (B, C, H, W) -> normalised float32 with the dataset statistics; float passes through."""
        return normalize_images(images, self.pixel_mean, self.pixel_std)

    def targets(self, images: torch.Tensor) -> torch.Tensor:
        """Images (B, C, H, W) -> targets (B, L, C·p·p), (C, p, p) order."""
        return compute_target(self.target, self.normalize(images), self.patch_size, self.local_norm_window)

    def forward_encoder(
        self, images: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Images -> (latent (B, 1 + K, D) of the visible tokens, mask (B, L), ids_restore (B, L))."""
        tokens = self.encoder.embed(images)  # (B, L, D) with position embedding
        m = random_masking(tokens.shape[0], self.grid_size, self.mask_ratio, self.mask_block, generator, tokens.device)
        latent = self.encoder.forward_tokens(keep_tokens(tokens, m.ids_keep))  # (B, 1 + K, D)
        return latent, m.mask, m.ids_restore

    def forward_decoder(self, latent: torch.Tensor, ids_restore: torch.Tensor) -> torch.Tensor:
        """Latent (B, 1 + K, D), ids_restore (B, L) -> predictions (B, L, C·p·p) for every token."""
        prefix = self.encoder.num_prefix_tokens
        x = self.decoder_embed(latent)  # (B, 1 + K, Dd)
        b, length = ids_restore.shape
        visible = x[:, prefix:]
        filler = self.mask_token.to(x.dtype).expand(b, length - visible.shape[1], -1)
        seq = torch.cat([visible, filler], dim=1)  # (B, L, Dd), shuffled order
        seq = torch.gather(seq, 1, ids_restore[..., None].expand(-1, -1, seq.shape[-1]))  # original order
        x = torch.cat([x[:, :prefix], self.decoder_pos_embed(seq)], dim=1)
        for block in self.decoder_blocks:
            x = checkpoint(block, x, use_reentrant=False) if self.grad_checkpointing and torch.is_grad_enabled() else block(x)
        return self.decoder_pred(self.decoder_norm(x))[:, prefix:]

    def forward(self, images: torch.Tensor, generator: torch.Generator | None = None) -> MAEOutput:
        """Images (B, C, H, W) (uint8, or float already normalised) -> loss, predictions, targets, mask.

        ``generator`` (on the images' device) fixes the masks, e.g. for a deterministic evaluation.
        """
        latent, mask, ids_restore = self.forward_encoder(images, generator)
        pred = self.forward_decoder(latent, ids_restore)
        target = self.targets(images)
        return MAEOutput(masked_mse(pred, target, mask), pred, target, mask)

    @torch.no_grad()
    def reconstruct(self, images: torch.Tensor, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """For display: normalised float images (B, C, H, W) of the input, the masked input (masked
        pixels 0, i.e. the dataset mean), the raw reconstruction and the reconstruction with the
        visible patches pasted back; plus ``pixel_mask`` (B, 1, H, W), 1 where masked."""
        out = self.forward(images, generator)
        x = self.normalize(images)
        p, grid, c = self.patch_size, self.grid_size, self.in_chans
        recon = unpatchify(target_to_pixels(self.target, out.pred, x, p, self.local_norm_window), p, grid, c)
        pixel_mask = unpatchify(out.mask[..., None].expand(-1, -1, p * p), p, grid, 1)
        return {
            "input": x,
            "masked": x * (1 - pixel_mask),
            "reconstruction": recon,
            "pasted": x * (1 - pixel_mask) + recon * pixel_mask,
            "pixel_mask": pixel_mask,
        }
