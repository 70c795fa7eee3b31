"""Class-conditional diffusion with a DiT (task: diffusion), in pixel space or on cached VAE latents.

Training loss: improved DDPM's hybrid loss (ε-MSE + the variational bound of the learned
variance) at a uniformly drawn timestep, as the reference DiT. Evaluation: the same loss on a fixed
set of (x_0, t, ε) from the evaluation split, each drawn from a generator seeded by
(diffusion.eval_seed, index), so the number is deterministic and comparable across checkpoints.
The main metric is that loss (lower is better); sample quality (FID, ...) is measured separately with
``pixelvit sample`` and ``pixelvit fid``.

The DiT reads ``model.name`` / ``patch_size`` / ``embed_dim`` / ``depth`` / ``num_heads`` / ``mlp_ratio`` /
``grad_checkpointing``; the ViT-only fields of ``model`` (tokenizer, pos_embed, pooling, dropout, drop path, pixel
dropout, init_from) do not apply, and setting one is an error that names it (``DIT_MODEL_FIELDS``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn
from torch.utils.data import Dataset

from ..config import Config, ConfigError, TaskSchema
from ..data import ArrayDataset
from ..data.batch_transforms import BatchDraws
from ..data.latents import LatentDataset, to_unit_range
from ..data.transforms import build_train_transform
from ..diffusion.gaussian import GaussianDiffusion
from ..diffusion.respace import create_diffusion, space_timesteps
from ..diffusion.samplers import sample_seed
from ..engine.evaluation import Evaluation
from ..engine.task import Task
from ..models.registry import create_model
from .common import check_model_name, model_kwargs
from .registry import TaskEntry, register_task

EVAL_LATENTS = 1000  # evaluation items taken from the training latents when no eval_latent_file is given
DIT_MODEL_FIELDS = ("name", "patch_size", "embed_dim", "depth", "num_heads", "mlp_ratio", "grad_checkpointing")


@dataclass
class DiffusionConfig:
    """Diffusion-transformer training (task: diffusion); see pixelvit.tasks.diffusion.

    space: "pixel" (uint8 images of ``data.name`` scaled to [-1, 1]) or "latent" (a cached latent
    array from ``pixelvit prepare-latents``: ``latent_file`` to train on, ``eval_latent_file`` for
    the evaluation loss, default a fixed subset of the training file). ``latent_scale``: the factor
    the latents were multiplied by (SD VAE: 0.18215); ``vae``: the VAE directory that decodes them
    when sampling. num_classes: null takes the dataset's. Sampling defaults (``pixelvit sample``):
    sampler, sample_steps (respacing: "250", "ddim50"), cfg_scale (1 = no guidance), ddim_eta,
    guidance_channels (null: all; 3: the reference's released sampler).
    """

    space: Literal["pixel", "latent"] = "pixel"
    latent_file: str | None = None
    eval_latent_file: str | None = None
    latent_scale: float = 0.18215
    vae: str | None = None
    num_timesteps: int = 1000
    noise_schedule: Literal["linear"] = "linear"
    learn_sigma: bool = True
    class_dropout: float = 0.1
    num_classes: int | None = None
    eval_seed: int = 0
    sampler: Literal["ddpm", "ddim"] = "ddpm"
    sample_steps: str = "250"
    cfg_scale: float = 1.5
    ddim_eta: float = 0.0
    guidance_channels: int | None = None


def validate_diffusion(cfg: Config) -> None:
    """Cross-field checks of the diffusion section."""
    d = cfg.diffusion

    def check(ok: bool, message: str) -> None:
        if not ok:
            raise ConfigError(message)

    check_model_name(cfg, ("dit",))
    check(
        d.space != "latent" or bool(d.latent_file),
        "diffusion.space=latent needs diffusion.latent_file (see pixelvit prepare-latents)",
    )
    check(0.0 <= d.class_dropout < 1.0, f"diffusion.class_dropout={d.class_dropout} must be in [0, 1)")
    check(2 <= d.num_timesteps <= 100_000, f"diffusion.num_timesteps={d.num_timesteps} must be in 2..100000")
    check(d.latent_scale > 0, f"diffusion.latent_scale={d.latent_scale} must be > 0")
    check(d.num_classes is None or d.num_classes >= 1, f"diffusion.num_classes={d.num_classes} must be >= 1 or null")
    check(d.cfg_scale >= 0 and d.ddim_eta >= 0, "diffusion.cfg_scale and diffusion.ddim_eta must be >= 0")
    check(
        d.cfg_scale == 1.0 or d.class_dropout > 0, "diffusion.cfg_scale != 1 needs a null class: set diffusion.class_dropout > 0"
    )
    check(d.guidance_channels is None or d.guidance_channels >= 1, "diffusion.guidance_channels must be >= 1 or null")
    try:
        space_timesteps(d.num_timesteps, d.sample_steps)
    except ValueError as e:
        raise ConfigError(f"diffusion.sample_steps={d.sample_steps!r}: {e}") from None


class FixedNoiseDataset(Dataset):
    """Wraps a dataset of (x, label): item i -> (x, label, t, ε) with t and ε drawn from (seed, i) only."""

    def __init__(self, base: Dataset, num_timesteps: int, seed: int, shape: tuple[int, ...]):
        self.base, self.num_timesteps, self.seed, self.shape = base, num_timesteps, seed, shape

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, item: int | tuple[int, int]):
        i = item[0] if isinstance(item, tuple) else item
        x, y = self.base[i]
        g = torch.Generator().manual_seed(sample_seed(self.seed, i, 2))
        t = torch.randint(self.num_timesteps, (), generator=g)
        return x, y, t, torch.randn(self.shape, generator=g)


def build_datasets(cfg: Config, eval_split: str | None = None) -> tuple[Dataset, Dataset, tuple[int, int, int], int]:
    """(train set, eval base set, sample shape (C, H, W), number of classes) for cfg.diffusion.space."""
    d = cfg.diffusion
    if d.space == "latent":
        train = LatentDataset(d.latent_file, hflip=cfg.augment.hflip, limit=cfg.data.limit_train)
        use_train = eval_split == cfg.data.train_split or not d.eval_latent_file
        path = d.latent_file if use_train else d.eval_latent_file
        evaluation = LatentDataset(path, limit=cfg.data.limit_eval or (EVAL_LATENTS if use_train else None))
        return train, evaluation, train.sample_shape, train.num_classes
    from ..data.splits import load_split

    _, train_arrays = load_split(cfg.data, cfg.data.train_split, cfg.data.limit_train)
    _, eval_arrays = load_split(cfg.data, eval_split or cfg.data.eval_split, cfg.data.limit_eval)
    transform = build_train_transform(cfg.augment, tuple(cfg.data.img_size), train_arrays.channels)
    shape = (train_arrays.channels, *train_arrays.image_size)
    num_classes = len(train_arrays.classes) or int(train_arrays.targets.max()) + 1
    return ArrayDataset(train_arrays, transform), ArrayDataset(eval_arrays), shape, num_classes


def build_dit(cfg: Config, shape: tuple[int, int, int], num_classes: int) -> nn.Module:
    """The DiT ``cfg.model`` names, for samples of ``shape`` (C, H, W)."""
    d = cfg.diffusion
    return create_model(
        cfg.model.name, img_size=tuple(shape[1:]), in_chans=shape[0], num_classes=d.num_classes or num_classes,
        learn_sigma=d.learn_sigma, class_dropout_prob=d.class_dropout, **model_kwargs(cfg, DIT_MODEL_FIELDS),
    )  # fmt: skip


def to_model_space(x: torch.Tensor) -> torch.Tensor:
    """A batch as the diffusion sees it: uint8 images -> [-1, 1]; latents (float) unchanged."""
    return to_unit_range(x) if x.dtype == torch.uint8 else x.float()


@torch.no_grad()
def diffusion_sums(diffusion: GaussianDiffusion, model: nn.Module, batches: Iterable[Any], device: torch.device) -> torch.Tensor:
    """(Σ loss, Σ mse, Σ vb, count) over batches of (x, label, t, ε), float64."""
    sums = torch.zeros(4, dtype=torch.float64)
    for x, y, t, noise in batches:
        x0, y, t, noise = to_model_space(x.to(device)), y.to(device), t.to(device), noise.to(device)
        terms = diffusion.training_losses(lambda xt, tt, y=y: model(xt, tt, y), x0, t, noise)
        sums += torch.tensor([float(terms[k].sum()) for k in ("loss", "mse", "vb")] + [len(x0)], dtype=torch.float64)
    return sums


def diffusion_metrics(totals: torch.Tensor) -> dict[str, float]:
    n = max(float(totals[3]), 1.0)
    return {"loss": float(totals[0]) / n, "mse": float(totals[1]) / n, "vb": float(totals[2]) / n}


class DiffusionTask(Task):
    main_metric = "loss"
    higher_is_better = False

    def __init__(self, cfg: Config):
        d = cfg.diffusion
        self.train_set, eval_base, self.shape, num_classes = build_datasets(cfg)
        self.model = build_dit(cfg, self.shape, num_classes)
        self.diffusion = create_diffusion("", d.num_timesteps, d.learn_sigma, d.noise_schedule)
        self.evaluation = diffusion_evaluation(eval_base, self.shape, cfg)

    def loss(self, model: nn.Module, batch: Any, device: torch.device, draws: BatchDraws | None = None) -> torch.Tensor:
        x, y = batch
        x0, y = to_model_space(x.to(device, non_blocking=True)), y.to(device, non_blocking=True)
        t = torch.randint(0, self.diffusion.num_timesteps, (len(x0),), device=device)
        noise = torch.randn_like(x0)
        return self.diffusion.training_losses(lambda xt, tt: model(xt, tt, y), x0, t, noise)["loss"].mean()


def diffusion_evaluation(base: Dataset, shape: tuple[int, int, int], cfg: Config) -> Evaluation:
    """The diffusion loss on fixed (t, ε) per item of ``base`` (drawn from diffusion.eval_seed)."""
    d = cfg.diffusion
    diffusion = create_diffusion("", d.num_timesteps, d.learn_sigma, d.noise_schedule)
    dataset = FixedNoiseDataset(base, d.num_timesteps, d.eval_seed, shape)
    return Evaluation(
        dataset, lambda model, batches, device: diffusion_sums(diffusion, model, batches, device), diffusion_metrics
    )


def evaluation(cfg: Config, model: nn.Module, split: str) -> Evaluation:
    """The evaluation loss of ``model`` on ``split`` (fixed timesteps and noise from diffusion.eval_seed)."""
    _, base, shape, _ = build_datasets(cfg, eval_split=split)
    if tuple(shape) != (model.in_chans, *model.img_size):
        raise ConfigError(f"the model takes {(model.in_chans, *model.img_size)} inputs; the data gives {tuple(shape)}")
    return diffusion_evaluation(base, shape, cfg)


register_task(
    TaskEntry("diffusion", DiffusionTask, evaluation, architecture="dit"),
    TaskSchema(
        "diffusion", sections={"diffusion": DiffusionConfig}, model_fields=DIT_MODEL_FIELDS, model_family="dit",
        validate=validate_diffusion,
    ),
)  # fmt: skip
