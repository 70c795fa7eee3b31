"""Image classification: a ViT of any patch size on a labelled image dataset (Acc@1 / Acc@5)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
import torch.nn.functional as F
from timm.data import Mixup
from timm.data.random_erasing import RandomErasing
from torch import nn

from ..config import MODEL_FIELDS, Config, ConfigError, TaskSchema
from ..data import ArrayDataset, ImageArrays
from ..data.batch_transforms import BatchDraws
from ..data.permutation import swap_permutation
from ..data.source_crop import CropThenPermute, SourceRandomResizedCrop
from ..data.splits import load_split, train_and_validation
from ..data.transforms import batch_augment, build_train_transform
from ..engine.evaluation import Evaluation
from ..engine.task import Task
from ..metrics.classification import AccuracyMeter
from ..models.registry import create_model, decode_variant
from .common import check_model_name, model_kwargs
from .registry import TaskEntry, register_task

ACCURACY_KS = (1, 5)


def patch_and_tokens(cfg: Config) -> tuple[int, int]:
    """The model's patch size (``model.patch_size`` or its preset's) and its patch tokens at ``data.img_size``."""
    patch = cfg.model.patch_size or decode_variant(cfg.model.name)[1]["patch_size"]
    return patch, (cfg.data.img_size[0] // patch) * (cfg.data.img_size[1] // patch)


def validate_classify(cfg: Config) -> None:
    """The classification task's checks: its model family, staged training, context parallelism, pixel dropout."""
    check_model_name(cfg)
    m = cfg.model
    check_stages(cfg)
    if cfg.train.context_parallel > 1:
        check_context_parallel(cfg)
    if m.token_keep < 1:
        _, tokens = patch_and_tokens(cfg)
        if round(tokens * m.token_keep) < 1:
            raise ConfigError(
                f"model.token_keep={m.token_keep} keeps round({tokens} x {m.token_keep}) = 0 of the {tokens} tokens; "
                f"keep at least one: model.token_keep >= {1 / tokens:.3g}"
            )
        if round(tokens * m.token_keep) >= tokens:
            raise ConfigError(
                f"model.token_keep={m.token_keep} keeps all {tokens} tokens: set 1.0 (no pixel dropout) or lower it"
            )


def check_stages(cfg: Config) -> None:
    """Each of ``train.stages``: a patch size that divides the input, whole epochs, its own lr and warm-up if set."""
    img_size, min_lr = cfg.data.img_size, cfg.optim.min_lr
    for i, stage in enumerate(cfg.train.stages):
        if stage.patch_size < 1 or stage.epochs < 1:
            raise ConfigError(f"train.stages[{i}]: patch_size and epochs must be >= 1, got {stage.patch_size} and {stage.epochs}")
        if img_size[0] % stage.patch_size or img_size[1] % stage.patch_size:
            raise ConfigError(f"train.stages[{i}].patch_size={stage.patch_size} does not divide data.img_size={img_size}")
        if not (stage.lr is None or 0 < stage.lr >= min_lr):
            raise ConfigError(f"train.stages[{i}].lr={stage.lr} must be > 0 and not below optim.min_lr={min_lr}, or null")
        if not (stage.warmup_epochs is None or stage.warmup_epochs >= 0):
            raise ConfigError(f"train.stages[{i}].warmup_epochs must be >= 0 or null")


def check_context_parallel(cfg: Config) -> None:
    """What a context-parallel classifier needs: every token split across processes, none on one alone, one
    process group form (DDP) and eager execution."""
    m, cp = cfg.model, cfg.train.context_parallel
    if cfg.train.fsdp:
        raise ConfigError("train.context_parallel with train.fsdp is not supported yet: set train.fsdp=false (DDP)")
    if cfg.train.compile is True:
        raise ConfigError("train.context_parallel runs eagerly: set train.compile=auto or false")
    patch, tokens = patch_and_tokens(cfg)
    if m.class_token or m.global_pool != "avg":
        raise ConfigError(
            "train.context_parallel splits the patch tokens across processes and has no place for a class token: "
            "set model.class_token=false and model.global_pool=avg"
        )
    if m.token_keep < 1:
        raise ConfigError("train.context_parallel and pixel dropout (model.token_keep < 1) do not combine: set one of them")
    if tokens % cp:
        raise ConfigError(f"train.context_parallel={cp} does not divide the {tokens} tokens of a {cfg.data.img_size} "
                          f"input at patch size {patch}: pick a divisor")  # fmt: skip


def build_classifier(cfg: Config, spec, channels: int, num_classes: int) -> nn.Module:
    """The model ``cfg.model`` describes, for the dataset ``spec`` (channels and statistics)."""
    return create_model(
        cfg.model.name,
        img_size=tuple(cfg.data.img_size),
        in_chans=channels,
        num_classes=num_classes,
        pixel_mean=tuple(spec.mean),
        pixel_std=tuple(spec.std),
        **model_kwargs(cfg, MODEL_FIELDS),
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


def train_dataset(cfg: Config, train: ImageArrays, mean: tuple[float, ...]) -> ArrayDataset:
    """The training set with its per-sample augmentation: a crop from ``data.source_size`` sources when set
    (:class:`~pixelvit.data.source_crop.SourceRandomResizedCrop`), then :func:`build_train_transform`."""
    a, size = cfg.augment, tuple(cfg.data.img_size)
    crop = None
    if cfg.data.source_size is not None:
        if a.crop != "rrc":
            raise ConfigError(f"data.source_size cuts training crops from a larger source: set augment.crop=rrc, not {a.crop}")
        crop = SourceRandomResizedCrop(size, tuple(a.crop_scale))
        d = cfg.data
        if d.permute_pairs > 0:  # the permutation study: the same fixed permutation as the evaluation images get
            crop = CropThenPermute(crop, swap_permutation(size, d.permute_pairs, d.permute_delta, d.permute_seed))
    transform = build_train_transform(a, size, train.channels, mean, crop=crop is None)
    return ArrayDataset(train, transform, crop=crop)


class ClassifyTask(Task):
    main_metric = "acc1"
    higher_is_better = True

    def __init__(self, cfg: Config):
        a = cfg.augment
        spec, train, val = train_and_validation(cfg.data, train=True)
        _, test = load_split(cfg.data, cfg.data.eval_split, cfg.data.limit_eval)
        self.num_classes = len(train.classes)
        self.model = build_classifier(cfg, spec, train.channels, self.num_classes)
        from ..engine.init_from import finetune_setup

        self.lr_scale = finetune_setup(self.model, cfg)  # model.init_from weights; optim.layer_decay lr scales
        self.train_set = train_dataset(cfg, train, spec.mean)
        self.evaluation = classification_evaluation(test)
        self.selection = classification_evaluation(val) if val is not None else None
        self.mixup = None
        if a.mixup > 0 or a.cutmix > 0:
            self.mixup = Mixup(
                mixup_alpha=a.mixup, cutmix_alpha=a.cutmix, label_smoothing=a.label_smoothing, num_classes=self.num_classes
            )
        self.augment = a
        self.token_keep = cfg.model.token_keep
        self.token_keep_epochs = cfg.model.token_keep_epochs
        self.label_smoothing = a.label_smoothing
        self.erasing = RandomErasing(a.random_erasing, mode="pixel", device="cpu") if a.random_erasing > 0 else None

    def keep_fraction(self, draws: BatchDraws | None) -> float:
        """``model.token_keep``, or 1.0 from epoch ``model.token_keep_epochs`` on (0-based epochs)."""
        late = self.token_keep_epochs is not None and draws is not None and draws.epoch >= self.token_keep_epochs
        return 1.0 if late else self.token_keep

    def _inputs(self, model: nn.Module, images: torch.Tensor) -> torch.Tensor:
        """uint8 images -> what the model eats: normalised float for the linear tokenizer (so mixup and
        erasing can mix values), raw integers for the dictionary tokenizer."""
        tokenizer = getattr(model, "module", model).patch_embed
        return tokenizer.normalize(images) if hasattr(tokenizer, "normalize") else images

    def loss(self, model: nn.Module, batch: Any, device: torch.device, draws: BatchDraws | None = None) -> torch.Tensor:
        images, targets = (t.to(device, non_blocking=True) for t in batch)
        x = self._inputs(model, batch_augment(self.augment, images, draws))
        if self.erasing is not None:  # each image on its own, before mixup: as MAE's per-image dataset transform
            self.erasing.device = device
            x = self.erasing(x)
        if self.mixup is not None:
            if len(x) % 2:
                raise ValueError("mixup/cutmix need an even train.batch_size")
            x, soft = self.mixup(x, targets)
        keep = self.keep_fraction(draws)
        logits = (model(x, token_keep=keep) if keep < 1 else model(x)).float()
        if self.mixup is not None:
            return torch.sum(-soft * F.log_softmax(logits, dim=-1), dim=-1).mean()
        return F.cross_entropy(logits, targets, label_smoothing=self.label_smoothing)


def classification_evaluation(arrays: ImageArrays) -> Evaluation:
    """Acc@1 / Acc@5 / loss on labelled images."""
    return Evaluation(ArrayDataset(arrays), classification_sums, classification_metrics)


def evaluation(cfg: Config, model: nn.Module, split: str) -> Evaluation:
    """The classification metrics of ``model`` on ``split`` of ``cfg.data`` (its first ``data.limit_eval`` images;
    ``data.img_size`` must match the model)."""
    _, arrays = load_split(cfg.data, split, cfg.data.limit_eval)
    if arrays.channels != model.in_chans:
        raise ConfigError(f"the model takes {model.in_chans}-channel images; {cfg.data.name} has {arrays.channels}")
    return classification_evaluation(arrays)


register_task(
    TaskEntry("classify", ClassifyTask, evaluation, architecture="vit"),
    TaskSchema("classify", model_fields=MODEL_FIELDS, model_family="vit", validate=validate_classify, stages=True,
               context_parallel=True),
)  # fmt: skip
