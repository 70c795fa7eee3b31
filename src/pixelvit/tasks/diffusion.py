"""Class-conditional diffusion with a DiT (task: diffusion), in pixel space or on cached VAE latents.

Objectives (``diffusion.objective``): ``ddpm_eps`` (default), improved DDPM's hybrid loss (ε-MSE + the
variational bound of the learned variance) at a uniformly drawn timestep, as the reference DiT;
``flow_v`` (SiT: linear path, velocity prediction) and ``flow_x`` (JiT: x-prediction, velocity loss),
see :mod:`pixelvit.diffusion.flow`, with times uniform or logit-normal (``time_sampling``, ``p_mean``,
``p_std``). A flow objective's DiT outputs C channels (no learned variance). Every draw of the training
loss (t, ε, the class dropout) comes from torch's global generator, which the trainer seeds from
train.seed and checkpoints, so a resumed run continues exactly. Evaluation: the same loss on a fixed
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
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import nn
from torch.utils.data import Dataset

from ..config import Config, ConfigError, TaskSchema
from ..data import ArrayDataset
from ..data.batch_transforms import BatchDraws
from ..data.latents import LatentDataset, to_unit_range
from ..data.transforms import build_train_transform
from ..diffusion.flow import FlowMatching
from ..diffusion.gaussian import GaussianDiffusion
from ..diffusion.respace import create_diffusion, space_timesteps
from ..diffusion.samplers import SamplingSpec, sample_seed
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
    when sampling. num_classes: null takes the dataset's.

    objective: ``ddpm_eps`` (reference DDPM), ``flow_v`` (SiT) or ``flow_x`` (JiT). ``learn_sigma``: the
    DiT's variance channels, ddpm_eps only (null: true for ddpm_eps, false for flow objectives).
    Flow objectives: ``time_sampling`` uniform or logit_normal (t = sigmoid(p_mean + p_std·n)), ``t_eps``
    (flow_x: the velocity divides by max(1 − t, t_eps)). ``num_timesteps`` and ``noise_schedule``: ddpm_eps.
    ``sampling``: the run's :class:`~pixelvit.diffusion.samplers.SamplingSpec` (``pixelvit sample``, ``fid``).
    """

    space: Literal["pixel", "latent"] = "pixel"
    latent_file: str | None = None
    eval_latent_file: str | None = None
    latent_scale: float = 0.18215
    vae: str | None = None
    num_timesteps: int = 1000
    noise_schedule: Literal["linear"] = "linear"
    learn_sigma: bool | None = None
    class_dropout: float = 0.1
    num_classes: int | None = None
    eval_seed: int = 0
    objective: Literal["ddpm_eps", "flow_v", "flow_x"] = "ddpm_eps"
    time_sampling: Literal["uniform", "logit_normal"] = "uniform"
    p_mean: float = 0.0
    p_std: float = 1.0
    t_eps: float = 0.05
    sampling: SamplingSpec = field(default_factory=SamplingSpec)


# diffusion.<key> of pixelvit before the sampling spec -> diffusion.sampling.<key>
FLAT_SAMPLING_KEYS = {"sampler": "sampler", "sample_steps": "steps", "cfg_scale": "cfg_scale", "ddim_eta": "ddim_eta",
                      "guidance_channels": "guidance_channels"}  # fmt: skip
FLAT_SAMPLING_DEFAULTS = {"sampler": "ddpm", "sample_steps": "250", "cfg_scale": 1.5, "ddim_eta": 0.0, "guidance_channels": None}


def upgrade_sections(raw: dict[str, Any]) -> dict[str, Any]:
    """A config as earlier versions wrote it -> today's: the flat sampler keys move into ``diffusion.sampling``,
    and ``learn_sigma: true`` of a config without an objective (then always DDPM) becomes null (the same model)."""
    d = raw.get("diffusion")
    if not isinstance(d, dict) or "objective" in d or not any(k in d for k in FLAT_SAMPLING_KEYS):
        return raw
    d = dict(d)
    sampling = dict(d["sampling"]) if isinstance(d.get("sampling"), dict) else {}
    for old, new in FLAT_SAMPLING_KEYS.items():
        if old in d and d[old] != FLAT_SAMPLING_DEFAULTS[old]:  # a default then is today's default (None) too
            sampling.setdefault(new, d[old])
        d.pop(old, None)
    if d.get("learn_sigma") is True:
        d["learn_sigma"] = None
    return {**raw, "diffusion": {**d, "sampling": sampling}}


def learns_sigma(d: DiffusionConfig) -> bool:
    """Whether the DiT outputs the variance channels: diffusion.learn_sigma, by default only under ddpm_eps."""
    return d.objective == "ddpm_eps" if d.learn_sigma is None else d.learn_sigma


def flow_of(d: DiffusionConfig) -> FlowMatching | None:
    """The flow of a flow objective; None under ddpm_eps."""
    if d.objective == "ddpm_eps":
        return None
    return FlowMatching(d.objective, d.time_sampling, d.p_mean, d.p_std, d.t_eps)


def training_process(d: DiffusionConfig) -> GaussianDiffusion | FlowMatching:
    """What the loss draws from: the full Gaussian diffusion (ddpm_eps) or the flow."""
    return flow_of(d) or create_diffusion("", d.num_timesteps, learns_sigma(d), d.noise_schedule)


def sampling_process(d: DiffusionConfig, spec: SamplingSpec) -> GaussianDiffusion | FlowMatching:
    """What a resolved ``spec`` samples with: the Gaussian diffusion respaced to spec.steps, or the flow."""
    return flow_of(d) or create_diffusion(spec.steps, d.num_timesteps, learns_sigma(d), d.noise_schedule)


def resolve_sampling(d: DiffusionConfig, *layers: SamplingSpec | None) -> SamplingSpec:
    """The run's sampling spec under ``layers`` (last wins: e.g. an evaluator's, then a command's), resolved
    for the run's objective; ConfigError naming the problem."""
    spec = d.sampling
    for layer in layers:
        spec = layer.over(spec) if layer is not None else spec
    try:
        spec = spec.resolved(d.objective)
        if spec.sampler in ("ddpm", "ddim"):
            space_timesteps(d.num_timesteps, spec.steps)
    except ValueError as e:
        raise ConfigError(f"sampling: {e}") from None
    if spec.cfg_scale != 1.0 and d.class_dropout <= 0:
        raise ConfigError("sampling cfg_scale != 1 needs a null class: set diffusion.class_dropout > 0 (or cfg_scale 1)")
    return spec


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
    flow = d.objective != "ddpm_eps"
    check(
        not (flow and d.learn_sigma),
        f"diffusion.learn_sigma=true does not apply to objective {d.objective} (no learned variance): "
        "set diffusion.learn_sigma=false or leave it null",
    )
    check(d.p_std > 0, f"diffusion.p_std={d.p_std} must be > 0")
    check(0 < d.t_eps < 1, f"diffusion.t_eps={d.t_eps} must be in (0, 1)")
    check(
        flow or d.time_sampling == "uniform",
        "diffusion.time_sampling=logit_normal applies to the flow objectives (flow_v, flow_x); ddpm_eps draws uniform steps",
    )
    try:
        resolve_sampling(d)
    except ConfigError as e:
        raise ConfigError(f"diffusion.{e}") from None


class FixedNoiseDataset(Dataset):
    """Wraps a dataset of (x, label): item i -> (x, label, t, ε) with t and ε drawn from (seed, i) only:
    t an integer step of ``num_timesteps`` (ddpm_eps), or a time in [0, 1] from ``flow``'s law."""

    def __init__(self, base: Dataset, num_timesteps: int, seed: int, shape: tuple[int, ...], flow: FlowMatching | None = None):
        self.base, self.num_timesteps, self.seed, self.shape, self.flow = base, num_timesteps, seed, shape, flow

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, item: int | tuple[int, int]):
        i = item[0] if isinstance(item, tuple) else item
        x, y = self.base[i]
        g = torch.Generator().manual_seed(sample_seed(self.seed, i, 2))
        flow = self.flow
        t = torch.randint(self.num_timesteps, (), generator=g) if flow is None else flow.sample_time(1, generator=g)[0]
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
        learn_sigma=learns_sigma(d), class_dropout_prob=d.class_dropout, **model_kwargs(cfg, DIT_MODEL_FIELDS),
    )  # fmt: skip


def to_model_space(x: torch.Tensor) -> torch.Tensor:
    """A batch as the diffusion sees it: uint8 images -> [-1, 1]; latents (float) unchanged."""
    return to_unit_range(x) if x.dtype == torch.uint8 else x.float()


def loss_terms(process: GaussianDiffusion | FlowMatching) -> tuple[str, ...]:
    """The per-sample terms the evaluation sums: loss, mse, vb (ddpm_eps) or the velocity loss (flow)."""
    return ("loss",) if isinstance(process, FlowMatching) else ("loss", "mse", "vb")


@torch.no_grad()
def diffusion_sums(
    diffusion: GaussianDiffusion | FlowMatching, model: nn.Module, batches: Iterable[Any], device: torch.device
) -> torch.Tensor:
    """(Σ term for each of :func:`loss_terms`, count) over batches of (x, label, t, ε), float64."""
    keys = loss_terms(diffusion)
    sums = torch.zeros(len(keys) + 1, dtype=torch.float64)
    for x, y, t, noise in batches:
        x0, y, t, noise = to_model_space(x.to(device)), y.to(device), t.to(device), noise.to(device)
        terms = diffusion.training_losses(lambda xt, tt, y=y: model(xt, tt, y), x0, t, noise)
        sums += torch.tensor([float(terms[k].sum()) for k in keys] + [len(x0)], dtype=torch.float64)
    return sums


def diffusion_metrics(totals: torch.Tensor, keys: tuple[str, ...] = ("loss", "mse", "vb")) -> dict[str, float]:
    n = max(float(totals[-1]), 1.0)
    return {k: float(totals[i]) / n for i, k in enumerate(keys)}


class DiffusionTask(Task):
    main_metric = "loss"
    higher_is_better = False

    def __init__(self, cfg: Config):
        d = cfg.diffusion
        self.train_set, eval_base, self.shape, num_classes = build_datasets(cfg)
        self.model = build_dit(cfg, self.shape, num_classes)
        self.diffusion = training_process(d)
        self.evaluation = diffusion_evaluation(eval_base, self.shape, cfg)

    def loss(self, model: nn.Module, batch: Any, device: torch.device, draws: BatchDraws | None = None) -> torch.Tensor:
        x, y = batch
        x0, y = to_model_space(x.to(device, non_blocking=True)), y.to(device, non_blocking=True)
        if isinstance(self.diffusion, FlowMatching):
            t = self.diffusion.sample_time(len(x0), device)
        else:
            t = torch.randint(0, self.diffusion.num_timesteps, (len(x0),), device=device)
        noise = torch.randn_like(x0)
        return self.diffusion.training_losses(lambda xt, tt: model(xt, tt, y), x0, t, noise)["loss"].mean()


def diffusion_evaluation(base: Dataset, shape: tuple[int, int, int], cfg: Config) -> Evaluation:
    """The diffusion loss on fixed (t, ε) per item of ``base`` (drawn from diffusion.eval_seed)."""
    d = cfg.diffusion
    process = training_process(d)
    dataset = FixedNoiseDataset(base, d.num_timesteps, d.eval_seed, shape, flow_of(d))
    keys = loss_terms(process)
    return Evaluation(
        dataset,
        lambda model, batches, device: diffusion_sums(process, model, batches, device),
        lambda totals: diffusion_metrics(totals, keys),
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
        validate=validate_diffusion, upgrade=upgrade_sections,
    ),
)  # fmt: skip
