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
from typing import Any

import numpy as np
import torch
from torch import nn

from ..config import Config, ConfigError
from ..data import ImageArrays
from ..data.depth_dataset import DepthDataset
from ..data.transforms import build_train_transform
from ..metrics.depth import DepthMeter, depth_metrics, reference_mean
from ..models.dense import DenseViT
from ..models.registry import decode_variant
from .base import Task
from .classify import load_split, model_overrides
from .depth_losses import depth_loss

DEPTH_DATASETS_HINT = "use data.name=nyu_depth_v2 or data.name=depth_folder"


def validate_depth(cfg: Config) -> None:
    """Checks of the ``depth`` section, and (for task depth) of the options the task cannot honour."""
    dc = cfg.depth
    if not 0.0 <= dc.silog_lambda <= 1.0:
        raise ConfigError(f"depth.silog_lambda={dc.silog_lambda} must be in [0, 1] (Eigen et al. use 0.5)")
    if not 0.0 < dc.min_depth < dc.max_depth:
        raise ConfigError(f"depth.min_depth={dc.min_depth} and depth.max_depth={dc.max_depth} need 0 < min_depth < max_depth")
    if cfg.task != "depth":
        return
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
    spec, arrays = load_split(cfg, split, limit)
    if arrays.targets.ndim != 3:
        raise ConfigError(f"{cfg.data.name} has class labels, not depth maps; for task depth {DEPTH_DATASETS_HINT}")
    return spec, arrays


def build_dense_model(cfg: Config, spec, channels: int) -> DenseViT:
    """The DenseViT that ``cfg.model`` describes (preset + overrides), predicting log-depth (one channel)."""
    _, preset = decode_variant(cfg.model.name)
    overrides = {k: v for k, v in model_overrides(cfg).items() if k != "global_pool"}
    return DenseViT(
        out_channels=1,
        out_activation="exp",
        img_size=tuple(cfg.data.img_size),
        in_chans=channels,
        pixel_mean=tuple(spec.mean),
        pixel_std=tuple(spec.std),
        **{**preset, **overrides},
    )


def finetune_dense(model: DenseViT, cfg: Config) -> Callable[[str], float] | None:
    """Start the encoder from ``model.init_from`` (an MAE or ViT; the head starts fresh) and return the
    ``optim.layer_decay`` learning-rate scale (the head at the full rate), as for classification."""
    from ..models.init_from import finetune_setup

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
        spec, train = depth_split(cfg, cfg.data.train_split, cfg.data.limit_train)
        _, test = depth_split(cfg, cfg.data.eval_split, cfg.data.limit_eval)
        self.model = build_dense_model(cfg, spec, train.channels)
        self.lr_scale = finetune_dense(self.model, cfg)
        photometric = build_train_transform(cfg.augment, tuple(cfg.data.img_size), train.channels)
        self.train_set = DepthDataset(train, photometric, hflip=cfg.augment.hflip)
        self.eval_set = DepthDataset(test)
        self.eval_mean = eval_reference_mean(test, cfg)

    def loss(self, model: nn.Module, batch: Any, device: torch.device) -> torch.Tensor:
        images, depths = (t.to(device, non_blocking=True) for t in batch)
        return depth_loss(predict_depth(model, images), depths, self.cfg.depth.loss, self.cfg.depth.silog_lambda)

    def evaluate(self, model: nn.Module, batches: Iterable[Any], device: torch.device) -> torch.Tensor:
        return depth_eval_sums(model, batches, device, self.cfg, self.eval_mean)

    def summarize(self, totals: torch.Tensor) -> dict[str, float]:
        return depth_metrics(totals)


def build(cfg: Config) -> DepthTask:
    return DepthTask(cfg)


def check_dense_model(model: nn.Module, arrays: ImageArrays, data_name: str) -> None:
    """Refuse a model that is not a one-channel dense model for these images."""
    if not isinstance(model, DenseViT) or model.out_channels != 1:
        raise ConfigError(f"a depth model is a DenseViT with one output channel; got a {type(model).__name__}")
    if arrays.channels != model.in_chans:
        raise ConfigError(f"the model takes {model.in_chans}-channel images; {data_name} has {arrays.channels}")


def evaluate_model(cfg: Config, model: nn.Module, split: str, batch_size: int, device: torch.device) -> dict[str, float]:
    """Depth metrics (rmse, rae, abs_rel, log10, delta1-3, ...) of ``model`` on ``split`` of ``cfg.data``."""
    from ..engine.sampler import EpochBatchSampler

    _, arrays = depth_split(cfg, split, None)
    check_dense_model(model, arrays, cfg.data.name)
    dataset = DepthDataset(arrays)
    sampler = EpochBatchSampler(len(dataset), batch_size, shuffle=False, drop_last=False)
    model = model.to(device).eval()
    with torch.no_grad():
        loader = torch.utils.data.DataLoader(dataset, batch_sampler=sampler)
        return depth_metrics(depth_eval_sums(model, loader, device, cfg, eval_reference_mean(arrays, cfg)))
