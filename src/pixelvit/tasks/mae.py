"""Masked-autoencoder pre-training (task: mae): reconstruct masked tokens' pixels from the visible ones.

``cfg.model`` describes the encoder (a preset plus overrides, as for classification), ``cfg.mae``
the masking, the target and the decoder. Training uses the images of ``cfg.data`` without labels,
with the per-sample and batched augmentation of ``cfg.augment`` (crops, flips, colour). Evaluation
is the masked reconstruction loss on the eval split, with masks drawn from a fixed seed so that two
evaluations of the same weights agree exactly. Fine-tune the encoder with task: classify and
``model.init_from`` (see :mod:`pixelvit.models.init_from`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from ..config import Config, ConfigError
from ..data import ArrayDataset
from ..data.transforms import batch_augment, build_train_transform
from ..models.mae import MaskedAutoencoder, masked_mse_per_sample
from ..models.mae_targets import check_target
from ..models.masking import num_visible
from ..models.registry import decode_variant
from .base import Task
from .classify import load_split, model_overrides

EVAL_MASK_SEED = 0  # masks of the evaluation: the same for every evaluation of a run


def mae_kwargs(cfg: Config) -> dict[str, Any]:
    """``MaskedAutoencoder`` arguments from ``cfg.mae``."""
    return {f.name: getattr(cfg.mae, f.name) for f in dataclasses.fields(cfg.mae)}


def build_mae(cfg: Config, spec, channels: int) -> MaskedAutoencoder:
    """The MAE ``cfg`` describes, for a dataset with ``spec``'s statistics and ``channels`` channels."""
    _, preset = decode_variant(cfg.model.name)
    encoder = {
        **preset,
        **model_overrides(cfg),
        "img_size": tuple(cfg.data.img_size),
        "in_chans": channels,
        "pixel_mean": tuple(spec.mean),
        "pixel_std": tuple(spec.std),
    }
    return MaskedAutoencoder(encoder=encoder, **mae_kwargs(cfg))


def validate_mae(cfg: Config) -> None:
    """Checks on ``cfg.mae`` and ``optim.layer_decay`` (any task), and on task: mae configs."""
    m, o = cfg.mae, cfg.optim

    def check(ok: bool, message: str) -> None:
        if not ok:
            raise ConfigError(message)

    check(0.0 < m.mask_ratio < 1.0, f"mae.mask_ratio={m.mask_ratio} must be in (0, 1)")
    check(m.mask_block >= 1, f"mae.mask_block={m.mask_block} must be >= 1")
    check(m.local_norm_window >= 2, f"mae.local_norm_window={m.local_norm_window} must be >= 2")
    for key in ("decoder_embed_dim", "decoder_depth", "decoder_num_heads"):
        check(getattr(m, key) >= 1, f"mae.{key}={getattr(m, key)} must be >= 1")
    check(
        m.decoder_embed_dim % m.decoder_num_heads == 0,
        f"mae.decoder_embed_dim={m.decoder_embed_dim} must be divisible by mae.decoder_num_heads={m.decoder_num_heads}",
    )
    check(
        m.decoder_pos_embed != "sincos" or m.decoder_embed_dim % 4 == 0,
        f"mae.decoder_pos_embed=sincos needs mae.decoder_embed_dim divisible by 4, got {m.decoder_embed_dim}",
    )
    check(o.layer_decay is None or 0.0 < o.layer_decay <= 1.0, f"optim.layer_decay={o.layer_decay} must be in (0, 1] or null")
    if cfg.task != "mae":
        return
    check(o.layer_decay is None, "optim.layer_decay is for fine-tuning (task: classify); remove it from the mae config")
    a = cfg.augment
    check(
        a.mixup == 0 and a.cutmix == 0 and a.random_erasing == 0 and a.label_smoothing == 0,
        "augment.mixup, cutmix, random_erasing and label_smoothing are classification augmentations that task: mae "
        "does not apply; set them to 0",
    )
    check(
        cfg.model.global_pool == "token" and cfg.model.class_token,
        "task: mae needs the encoder's class token and final LayerNorm (model.global_pool=token, model.class_token=true); "
        "set model.global_pool=avg in the fine-tuning config instead",
    )
    _, preset = decode_variant(cfg.model.name)
    p = cfg.model.patch_size or preset["patch_size"]
    h, w = cfg.data.img_size
    try:
        check_target(m.target, p, m.local_norm_window)
        if h % p == 0 and w % p == 0:
            num_visible((h // p, w // p), m.mask_ratio, m.mask_block)
    except ValueError as e:
        raise ConfigError(f"mae: {e}") from None


class MAETask(Task):
    """Pre-training: loss = masked-token MSE; main metric = the eval split's masked loss (lower is better)."""

    main_metric = "loss"
    higher_is_better = False

    def __init__(self, cfg: Config):
        a = cfg.augment
        spec, train = load_split(cfg, cfg.data.train_split, cfg.data.limit_train)
        _, test = load_split(cfg, cfg.data.eval_split, cfg.data.limit_eval)
        self.model = build_mae(cfg, spec, train.channels)
        if cfg.model.init_from:
            from ..models.init_from import init_encoder_from

            init_encoder_from(self.model.encoder, cfg.model.init_from)
        self.train_set = ArrayDataset(train, build_train_transform(a, tuple(cfg.data.img_size), train.channels))
        self.eval_set = ArrayDataset(test)
        self.augment = a

    def loss(self, model: nn.Module, batch: Any, device: torch.device) -> torch.Tensor:
        images = batch[0].to(device, non_blocking=True)
        return model(batch_augment(self.augment, images)).loss

    def evaluate(self, model: nn.Module, batches: Iterable[Any], device: torch.device) -> torch.Tensor:
        return reconstruction_sums(model, batches, device)

    def summarize(self, totals: torch.Tensor) -> dict[str, float]:
        return {"loss": float(totals[0] / totals[1])}


def reconstruction_sums(model: nn.Module, batches: Iterable[Any], device: torch.device) -> torch.Tensor:
    """(sum over images of each image's masked-token MSE, image count), float64, masks from ``EVAL_MASK_SEED``.

    Every image has the same number of masked tokens, so the ratio is the mean over all masked tokens.
    """
    generator = torch.Generator(device=device).manual_seed(EVAL_MASK_SEED)
    loss_sum, count = 0.0, 0
    for batch in batches:
        images = batch[0].to(device, non_blocking=True)
        out = model(images, generator=generator)
        loss_sum += float(masked_mse_per_sample(out.pred, out.target, out.mask).double().sum())
        count += len(images)
    return torch.tensor([loss_sum, count], dtype=torch.float64)


def build(cfg: Config) -> MAETask:
    return MAETask(cfg)


def evaluate_model(cfg: Config, model: nn.Module, split: str, batch_size: int, device: torch.device) -> dict[str, float]:
    """Masked reconstruction loss of an MAE on ``split`` of ``cfg.data`` (fixed evaluation masks)."""
    from ..engine.sampler import EpochBatchSampler

    if not isinstance(model, MaskedAutoencoder):
        raise ConfigError(f"task mae evaluates a MaskedAutoencoder, got a {type(model).__name__}")
    _, arrays = load_split(cfg, split, None)
    if arrays.channels != model.in_chans:
        raise ConfigError(f"the model takes {model.in_chans}-channel images; {cfg.data.name} has {arrays.channels}")
    sampler = EpochBatchSampler(len(arrays.images), batch_size, shuffle=False, drop_last=False)
    loader = torch.utils.data.DataLoader(ArrayDataset(arrays), batch_sampler=sampler)
    model = model.to(device).eval()
    with torch.no_grad():
        totals = reconstruction_sums(model, loader, device)
    return {"loss": float(totals[0] / totals[1])}
