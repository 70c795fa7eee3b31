"""Image classification: a ViT of any patch size on a labelled image dataset (Acc@1 / Acc@5)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
import torch.nn.functional as F
from timm.data import Mixup
from timm.data.random_erasing import RandomErasing
from torch import nn

from ..analysis.permutation import permute_pixels, swap_permutation
from ..config import Config, ConfigError
from ..data import ArrayDataset, get_dataset_spec, load_arrays
from ..data.imageio import resize_array
from ..data.transforms import batch_augment, build_train_transform
from ..metrics.classification import AccuracyMeter
from ..models.registry import create_model
from .base import Task

ACCURACY_KS = (1, 5)


def model_overrides(cfg: Config) -> dict[str, Any]:
    """Constructor arguments from ``cfg.model`` that are set (None means: keep the preset's)."""
    m = cfg.model
    keys = ("patch_size", "embed_dim", "depth", "num_heads")
    fixed = ("mlp_ratio", "tokenizer", "pos_embed", "pos_embed_std", "global_pool", "class_token", "drop_rate", "drop_path_rate")
    out = {k: getattr(m, k) for k in keys if getattr(m, k) is not None}
    out.update({k: getattr(m, k) for k in fixed})
    return out


def load_split(cfg: Config, split: str, limit: int | None):
    """Arrays of one split at ``data.img_size``, refusing a size the dataset does not have (unless
    ``data.resize``); pixel-permuted when ``data.permute_pairs`` > 0 (see analysis.permutation)."""
    d = cfg.data
    spec = get_dataset_spec(d.name)
    size = tuple(d.img_size)
    resize = spec.native_size is not None and tuple(spec.native_size) != size
    if resize and not d.resize:
        raise ConfigError(
            f"data.img_size={list(size)} does not match {d.name}'s images, which are "
            f"{spec.native_size[0]}x{spec.native_size[1]}; set data.img_size={list(spec.native_size)} "
            "(or data.resize=true to resize them)"
        )
    arrays = load_arrays(d.name, d.root, split, tuple(spec.native_size) if resize else size, download=d.download)
    if resize:
        arrays.images = resize_array(arrays.images, size)
    if arrays.image_size != size:
        raise ConfigError(f"{d.name}/{split} gave {arrays.image_size} images but data.img_size is {list(size)}")
    if limit is not None:
        arrays.images, arrays.targets = arrays.images[:limit], arrays.targets[:limit]
    if d.permute_pairs > 0:
        perm = swap_permutation(size, d.permute_pairs, d.permute_delta, d.permute_seed)
        arrays.images = permute_pixels(arrays.images, perm)
    return spec, arrays


def build_classifier(cfg: Config, spec, channels: int, num_classes: int) -> nn.Module:
    """The model ``cfg.model`` describes, for the dataset ``spec`` (channels and statistics)."""
    return create_model(
        cfg.model.name,
        img_size=tuple(cfg.data.img_size),
        in_chans=channels,
        num_classes=num_classes,
        pixel_mean=tuple(spec.mean),
        pixel_std=tuple(spec.std),
        **model_overrides(cfg),
    )


def classification_sums(model: nn.Module, batches: Iterable[Any], device: torch.device) -> torch.Tensor:
    """(hits@1, hits@5, count, summed cross-entropy) over the batches, float64."""
    meter = AccuracyMeter(ACCURACY_KS)
    loss_sum = 0.0
    for images, targets in batches:
        images, targets = images.to(device, non_blocking=True), targets.to(device, non_blocking=True)
        logits = model(images).float()
        loss_sum += float(F.cross_entropy(logits, targets, reduction="sum"))
        meter.update(logits.cpu(), targets.cpu())
    return torch.cat([meter.totals(), torch.tensor([loss_sum], dtype=torch.float64)])


def classification_metrics(totals: torch.Tensor) -> dict[str, float]:
    """Sums from :func:`classification_sums` -> {"acc1", "acc5", "loss"}."""
    metrics = AccuracyMeter.percentages(totals[:-1], ACCURACY_KS)
    metrics["loss"] = float(totals[-1] / totals[-2])
    return metrics


class ClassifyTask(Task):
    main_metric = "acc1"
    higher_is_better = True

    def __init__(self, cfg: Config):
        a = cfg.augment
        spec, train = load_split(cfg, cfg.data.train_split, cfg.data.limit_train)
        _, test = load_split(cfg, cfg.data.eval_split, cfg.data.limit_eval)
        self.num_classes = len(train.classes)
        self.model = build_classifier(cfg, spec, train.channels, self.num_classes)
        from ..models.init_from import finetune_setup

        self.lr_scale = finetune_setup(self.model, cfg)  # model.init_from weights; optim.layer_decay lr scales
        self.train_set = ArrayDataset(train, build_train_transform(a, tuple(cfg.data.img_size), train.channels))
        self.eval_set = ArrayDataset(test)
        self.mixup = None
        if a.mixup > 0 or a.cutmix > 0:
            self.mixup = Mixup(
                mixup_alpha=a.mixup, cutmix_alpha=a.cutmix, label_smoothing=a.label_smoothing, num_classes=self.num_classes
            )
        self.augment = a
        self.token_keep = cfg.model.token_keep
        self.label_smoothing = a.label_smoothing
        self.erasing = RandomErasing(a.random_erasing, mode="pixel", device="cpu") if a.random_erasing > 0 else None

    def _inputs(self, model: nn.Module, images: torch.Tensor) -> torch.Tensor:
        """uint8 images -> what the model eats: normalised float for the linear tokenizer (so mixup and
        erasing can mix values), raw integers for the dictionary tokenizer."""
        tokenizer = getattr(model, "module", model).patch_embed
        return tokenizer.normalize(images) if hasattr(tokenizer, "normalize") else images

    def loss(self, model: nn.Module, batch: Any, device: torch.device) -> torch.Tensor:
        images, targets = (t.to(device, non_blocking=True) for t in batch)
        x = self._inputs(model, batch_augment(self.augment, images))
        if self.mixup is not None:
            if len(x) % 2:
                raise ValueError("mixup/cutmix need an even train.batch_size")
            x, soft = self.mixup(x, targets)
        if self.erasing is not None:
            self.erasing.device = device
            x = self.erasing(x)
        logits = (model(x, token_keep=self.token_keep) if self.token_keep < 1 else model(x)).float()
        if self.mixup is not None:
            return torch.sum(-soft * F.log_softmax(logits, dim=-1), dim=-1).mean()
        return F.cross_entropy(logits, targets, label_smoothing=self.label_smoothing)

    def evaluate(self, model: nn.Module, batches: Iterable[Any], device: torch.device) -> torch.Tensor:
        return classification_sums(model, batches, device)

    def summarize(self, totals: torch.Tensor) -> dict[str, float]:
        return classification_metrics(totals)


def build(cfg: Config) -> ClassifyTask:
    return ClassifyTask(cfg)


def evaluate_model(cfg: Config, model: nn.Module, split: str, batch_size: int, device: torch.device) -> dict[str, float]:
    """Acc@1 / Acc@5 / loss of ``model`` on ``split`` of ``cfg.data`` (whose img_size must match the model)."""
    from ..engine.sampler import EpochBatchSampler

    _, arrays = load_split(cfg, split, None)
    if arrays.channels != model.in_chans:
        raise ConfigError(f"the model takes {model.in_chans}-channel images; {cfg.data.name} has {arrays.channels}")
    dataset = ArrayDataset(arrays)
    sampler = EpochBatchSampler(len(dataset), batch_size, shuffle=False, drop_last=False)
    model = model.to(device).eval()
    with torch.no_grad():
        return classification_metrics(
            classification_sums(model, torch.utils.data.DataLoader(dataset, batch_sampler=sampler), device)
        )
