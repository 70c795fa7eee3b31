"""Masked-autoencoder pre-training (task: mae): reconstruct masked tokens' pixels from the visible ones.

``cfg.model`` describes the encoder (a preset plus overrides, as for classification), ``cfg.mae``
the masking, the target and the decoder. Training uses the images of ``cfg.data`` without labels,
with the per-sample and batched augmentation of ``cfg.augment`` (crops, flips, colour). Evaluation
is the masked reconstruction loss on the eval split, with masks drawn from a fixed seed so that two
evaluations of the same weights agree exactly. Fine-tune the encoder with task: classify and
``model.init_from`` (see :mod:`pixelvit.engine.init_from`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

from ..config import MODEL_FIELDS, Config, ConfigError, TaskSchema
from ..data import ArrayDataset, ImageArrays
from ..data.batch_transforms import BatchDraws
from ..data.splits import load_split, train_and_validation
from ..data.transforms import batch_augment, build_train_transform
from ..engine.evaluation import Evaluation
from ..engine.task import Task
from ..models.mae import MaskedAutoencoder, masked_mse_per_sample
from ..models.mae_targets import check_target
from ..models.masking import num_visible
from ..models.registry import create_model, decode_variant, with_family
from .common import check_model_name, model_kwargs
from .registry import TaskEntry, register_task

MAE_MODEL_FIELDS = tuple(f for f in MODEL_FIELDS if f not in ("token_keep", "token_keep_epochs"))  # MAE masks its own
EVAL_MASK_SEED = 0  # masks of the evaluation: the same for every evaluation of a run


@dataclass
class MAEConfig:
    """Masked-autoencoder pre-training (task: mae) and fine-tuning from it (task: classify).

    target: "pixels" (normalised with the dataset statistics), "local_norm" (each pixel normalised
    by the mean/variance of its local_norm_window × local_norm_window neighbourhood, per channel) or
    "patch_norm" (the reference MAE's norm_pix_loss; patch size >= 2 only). See models/mae_targets.py.
    mask_block: mask k×k blocks of tokens together (1 = plain token masking).
    """

    mask_ratio: float = 0.75
    mask_block: int = 1
    target: Literal["pixels", "local_norm", "patch_norm"] = "pixels"
    local_norm_window: int = 3
    decoder_embed_dim: int = 128
    decoder_depth: int = 4
    decoder_num_heads: int = 4
    decoder_pos_embed: Literal["sincos", "learned"] = "sincos"


def mae_kwargs(cfg: Config) -> dict[str, Any]:
    """``MaskedAutoencoder`` arguments from ``cfg.mae``."""
    return {f.name: getattr(cfg.mae, f.name) for f in dataclasses.fields(cfg.mae)}


def build_mae(cfg: Config, spec, channels: int) -> MaskedAutoencoder:
    """The MAE ``cfg`` describes (``model.name`` vit_t/1 or mae_vit_t/1 ...), for a dataset with ``spec``'s
    statistics and ``channels`` channels."""
    return create_model(
        with_family(cfg.model.name, "mae"),
        **model_kwargs(cfg, MAE_MODEL_FIELDS),
        img_size=tuple(cfg.data.img_size),
        in_chans=channels,
        pixel_mean=tuple(spec.mean),
        pixel_std=tuple(spec.std),
        **mae_kwargs(cfg),
    )


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
    check_model_name(cfg, ("vit", "mae"))
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
        spec, train, val = train_and_validation(cfg.data)
        _, test = load_split(cfg.data, cfg.data.eval_split, cfg.data.limit_eval)
        self.model = build_mae(cfg, spec, train.channels)
        if cfg.model.init_from:
            from ..engine.init_from import init_encoder_from

            init_encoder_from(self.model.encoder, cfg.model.init_from)
        self.train_set = ArrayDataset(train, build_train_transform(a, tuple(cfg.data.img_size), train.channels))
        self.evaluation = reconstruction_evaluation(test)
        self.selection = reconstruction_evaluation(val) if val is not None else None
        self.augment = a

    def loss(self, model: nn.Module, batch: Any, device: torch.device, draws: BatchDraws | None = None) -> torch.Tensor:
        images = batch[0].to(device, non_blocking=True)
        return model(batch_augment(self.augment, images, draws)).loss


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


def reconstruction_loss(totals: torch.Tensor) -> dict[str, float]:
    """Sums of :func:`reconstruction_sums` -> {"loss": mean masked-token MSE}."""
    return {"loss": float(totals[0] / totals[1])}


def reconstruction_evaluation(arrays: ImageArrays) -> Evaluation:
    """The masked reconstruction loss on images, with the fixed evaluation masks."""
    return Evaluation(ArrayDataset(arrays), reconstruction_sums, reconstruction_loss)


def evaluation(cfg: Config, model: nn.Module, split: str) -> Evaluation:
    """Masked reconstruction loss of an MAE on ``split`` of ``cfg.data`` (fixed evaluation masks)."""
    if not isinstance(model, MaskedAutoencoder):
        raise ConfigError(f"task mae evaluates a MaskedAutoencoder, got a {type(model).__name__}")
    _, arrays = load_split(cfg.data, split, cfg.data.limit_eval)
    if arrays.channels != model.in_chans:
        raise ConfigError(f"the model takes {model.in_chans}-channel images; {cfg.data.name} has {arrays.channels}")
    return reconstruction_evaluation(arrays)


register_task(
    TaskEntry("mae", MAETask, evaluation, architecture="mae"),
    TaskSchema(
        "mae",
        sections={"mae": MAEConfig},
        model_fields=MAE_MODEL_FIELDS,
        model_family="mae",
        validate=validate_mae,
    ),
)
