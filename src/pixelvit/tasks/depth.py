"""Monocular depth estimation: a ViT of any patch size with a per-token dense read-out (RMSE, lower is better).

The paper's NYU-v2 row (48×64 input; ViT-S/1 vs ViT-S/2) gives neither the head, the loss nor the
recipe. Ours: :class:`~pixelvit.models.dense.DenseViT` predicts log-depth per pixel
(``out_activation="exp"``, so depths are positive and the SILog loss is well defined), trained
with ``depth.loss`` over valid pixels (:mod:`.depth_losses`); augmentation is a joint horizontal
flip (``augment.hflip``) and image-only colour jitter / grayscale. Metrics:
:mod:`pixelvit.metrics.depth` (pixel-weighted sums over the evaluation set).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from ..config import MODEL_FIELDS, Config, ConfigError, TaskSchema
from ..data import ImageArrays
from ..data.batch_transforms import BatchDraws
from ..data.depth_dataset import DepthDataset
from ..data.splits import load_split, train_and_validation
from ..data.transforms import build_train_transform
from ..engine.evaluation import Evaluation
from ..engine.task import Task
from ..metrics.depth import DepthMeter, depth_metrics, reference_mean
from ..models.dense import DenseViT
from ..models.registry import create_model, with_family
from .common import check_model_name, model_kwargs
from .depth_losses import depth_loss
from .registry import TaskEntry, register_task

DEPTH_DATASETS_HINT = "use data.name=nyu_depth_v2 or data.name=depth_folder"
# the model.* fields a DenseViT reads: a dense head has no pooling, and every pixel is predicted (no pixel dropout)
DEPTH_MODEL_FIELDS = tuple(f for f in MODEL_FIELDS if f not in ("global_pool", "token_keep", "token_keep_epochs"))


@dataclass
class DepthConfig:
    """Dense depth regression (task: depth); see pixelvit.tasks.depth. Depths are metres.

    ``loss``: l1 / l2 over valid pixels, or Eigen et al.'s scale-invariant log loss with weight
    ``silog_lambda`` (0: mean squared log error, 1: fully scale-invariant). Evaluation counts ground
    truth in [min_depth, max_depth] and clamps predictions to it (NYU-v2: 1e-3 to 10).
    """

    loss: Literal["l1", "l2", "silog"] = "silog"
    silog_lambda: float = 0.5
    min_depth: float = 1e-3
    max_depth: float = 10.0


def validate_depth(cfg: Config) -> None:
    """Checks of the ``depth`` section, and (for task depth) of the options the task cannot honour."""
    dc = cfg.depth
    if not 0.0 <= dc.silog_lambda <= 1.0:
        raise ConfigError(f"depth.silog_lambda={dc.silog_lambda} must be in [0, 1] (Eigen et al. use 0.5)")
    if not 0.0 < dc.min_depth < dc.max_depth:
        raise ConfigError(f"depth.min_depth={dc.min_depth} and depth.max_depth={dc.max_depth} need 0 < min_depth < max_depth")
    check_model_name(cfg, ("vit", "dense_vit"))
    a = cfg.augment
    unsupported = {
        "augment.crop": (a.crop, "none"),
        "augment.randaugment_ops": (a.randaugment_ops, 0),
        "augment.mixup": (a.mixup, 0.0),
        "augment.cutmix": (a.cutmix, 0.0),
        "augment.random_erasing": (a.random_erasing, 0.0),
        "augment.label_smoothing": (a.label_smoothing, 0.0),
        "data.permute_pairs": (cfg.data.permute_pairs, 0),
    }
    for key, (value, default) in unsupported.items():
        if value != default:
            raise ConfigError(
                f"{key}={value!r} is not supported by task depth (it would move pixels of the image but not of the depth map, "
                f"or mix targets); set {key}={default!r}. Depth augmentation: augment.hflip "
                "(image and depth together), augment.color_jitter and augment.grayscale (image only)"
            )


def depth_split(cfg: Config, split: str, limit: int | None):
    """(spec, arrays) of a depth dataset split at ``data.img_size``; an error for class-labelled data."""
    spec, arrays = load_split(cfg.data, split, limit)
    if arrays.targets.ndim != 3:
        raise ConfigError(f"{cfg.data.name} has class labels, not depth maps; for task depth {DEPTH_DATASETS_HINT}")
    return spec, arrays


def build_dense_model(cfg: Config, spec, channels: int) -> DenseViT:
    """The DenseViT that ``cfg.model`` describes (preset vit_s/1 or dense_vit_s/1 ... + overrides),
    predicting log-depth (one channel)."""
    return create_model(
        with_family(cfg.model.name, "dense_vit"),
        out_channels=1,
        out_activation="exp",
        img_size=tuple(cfg.data.img_size),
        in_chans=channels,
        pixel_mean=tuple(spec.mean),
        pixel_std=tuple(spec.std),
        **model_kwargs(cfg, DEPTH_MODEL_FIELDS),
    )


def finetune_dense(model: DenseViT, cfg: Config) -> Callable[[str], float] | None:
    """Start the encoder from ``model.init_from`` (an MAE or ViT; the head starts fresh) and return the
    ``optim.layer_decay`` learning-rate scale (the head at the full rate), as for classification."""
    from ..engine.init_from import finetune_setup

    encoder_scale = finetune_setup(model.backbone, cfg)
    if encoder_scale is None:
        return None
    return lambda name: encoder_scale(name.removeprefix("backbone."))


def eval_reference_mean(arrays: ImageArrays, cfg: Config) -> float:
    """d̄ of the ``rae`` metric: the mean valid ground truth of the evaluated split."""
    return reference_mean(torch.from_numpy(np.asarray(arrays.targets)), cfg.depth.min_depth, cfg.depth.max_depth)


def predict_depth(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """uint8 (B, C, H, W) images -> predicted depth (B, H, W), metres, fp32."""
    return model(images)[:, 0].float()


def depth_eval_sums(model: nn.Module, batches: Iterable[Any], device: torch.device, cfg: Config, mean: float) -> torch.Tensor:
    """Summed depth metrics (see :func:`pixelvit.metrics.depth.depth_sums`) over (images, depths) batches, float64."""
    meter = DepthMeter(cfg.depth.min_depth, cfg.depth.max_depth, mean)
    for images, depths in batches:
        images, depths = images.to(device, non_blocking=True), depths.to(device, non_blocking=True)
        meter.update(predict_depth(model, images), depths)
    return meter.totals()


class DepthTask(Task):
    main_metric = "rmse"
    higher_is_better = False

    def __init__(self, cfg: Config):
        self.cfg = cfg
        spec, train, val = train_and_validation(cfg.data)
        _, test = depth_split(cfg, cfg.data.eval_split, cfg.data.limit_eval)
        self.model = build_dense_model(cfg, spec, train.channels)
        self.lr_scale = finetune_dense(self.model, cfg)
        photometric = build_train_transform(cfg.augment, tuple(cfg.data.img_size), train.channels)
        self.train_set = DepthDataset(train, photometric, hflip=cfg.augment.hflip)
        self.evaluation = depth_evaluation(test, cfg)
        self.selection = depth_evaluation(val, cfg) if val is not None else None

    def loss(self, model: nn.Module, batch: Any, device: torch.device, draws: BatchDraws | None = None) -> torch.Tensor:
        images, depths = (t.to(device, non_blocking=True) for t in batch)
        return depth_loss(predict_depth(model, images), depths, self.cfg.depth.loss, self.cfg.depth.silog_lambda)


def check_dense_model(model: nn.Module, arrays: ImageArrays, data_name: str) -> None:
    """Refuse a model that is not a one-channel dense model for these images."""
    if not isinstance(model, DenseViT) or model.out_channels != 1:
        raise ConfigError(f"a depth model is a DenseViT with one output channel; got a {type(model).__name__}")
    if arrays.channels != model.in_chans:
        raise ConfigError(f"the model takes {model.in_chans}-channel images; {data_name} has {arrays.channels}")


def depth_evaluation(arrays: ImageArrays, cfg: Config) -> Evaluation:
    """Depth metrics on images with depth maps (``rae``'s reference mean: these maps' valid mean)."""
    mean = eval_reference_mean(arrays, cfg)
    return Evaluation(
        DepthDataset(arrays), lambda model, batches, device: depth_eval_sums(model, batches, device, cfg, mean), depth_metrics
    )


def evaluation(cfg: Config, model: nn.Module, split: str) -> Evaluation:
    """Depth metrics (rmse, rae, abs_rel, log10, delta1-3, ...) of ``model`` on ``split`` of ``cfg.data``."""
    _, arrays = depth_split(cfg, split, cfg.data.limit_eval)
    check_dense_model(model, arrays, cfg.data.name)
    return depth_evaluation(arrays, cfg)


register_task(
    TaskEntry("depth", DepthTask, evaluation, architecture="dense_vit"),
    TaskSchema(
        "depth",
        sections={"depth": DepthConfig},
        model_fields=DEPTH_MODEL_FIELDS,
        model_family="dense_vit",
        validate=validate_depth,
    ),
)
