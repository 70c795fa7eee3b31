"""Samplers: DDPM (ancestral) and DDIM (η), the flow ODE samplers (:mod:`.flow`), and the one sampling spec;
classifier-free guidance and per-sample seeds.

Every random draw of sample i (its label, its starting noise, the noise of each step) comes from
a generator seeded by (seed, i) alone, so a sample does not depend on which batch or which rank
produced it: splitting the indices across ranks or batches gives the same images.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, fields
from typing import Literal

import numpy as np
import torch
from torch import nn

from .flow import ODE_METHODS, FlowMatching, guided_velocity, ode_sample
from .gaussian import GaussianDiffusion

SAMPLERS = ("ddpm", "ddim")
ModelFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def sample_seed(seed: int, index: int, stream: int = 0) -> int:
    """A 63-bit seed for sample ``index`` of a run seeded ``seed`` (stream 0: noise, 1: label)."""
    return int(np.random.SeedSequence([seed, index, stream]).generate_state(1, np.uint64)[0]) & (2**63 - 1)


class NoiseStreams:
    """One CPU generator per sample: :meth:`randn` gives (B, *shape) with row i from generator i."""

    def __init__(self, seeds: Sequence[int]):
        self.generators = [torch.Generator().manual_seed(s) for s in seeds]

    def randn(self, shape: Sequence[int], device: torch.device | str = "cpu") -> torch.Tensor:
        rows = [torch.randn(tuple(shape), generator=g) for g in self.generators]
        return torch.stack(rows).to(device)


def sample_labels(seed: int, indices: Sequence[int], num_classes: int) -> torch.Tensor:
    """(N,) class of each sample, uniform and drawn from (seed, index) only."""
    return torch.tensor(
        [int(torch.randint(num_classes, (1,), generator=torch.Generator().manual_seed(sample_seed(seed, i, 1)))) for i in indices]
    )


def guided(model: nn.Module, labels: torch.Tensor, cfg_scale: float, guidance_channels: int | None = None) -> ModelFn:
    """The model as a function of (x_t, model timesteps), conditioned on ``labels``, guided with scale ``cfg_scale``
    (1 = plain conditional)."""

    def fn(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return model.forward_with_cfg(x, t, labels, cfg_scale, guidance_channels)

    return fn


def ddpm_step(
    diffusion: GaussianDiffusion, output: torch.Tensor, x: torch.Tensor, t: torch.Tensor, noise: torch.Tensor, clip: bool
):
    """x_{t-1} ~ p(x_{t-1} | x_t) = mean + σ·z (no noise at t = 0)."""
    out = diffusion.p_mean_variance(output, x, t, clip)
    nonzero = (t != 0).float().view(-1, *([1] * (x.ndim - 1)))
    return out["mean"] + nonzero * torch.exp(0.5 * out["log_variance"]) * noise


def ddim_step(
    diffusion: GaussianDiffusion,
    output: torch.Tensor,
    x: torch.Tensor,
    t: torch.Tensor,
    noise: torch.Tensor,
    clip: bool,
    eta: float,
) -> torch.Tensor:
    """DDIM (Song et al., eq. 12): x_{t-1} = √ᾱ_{t-1} x̂_0 + √(1 − ᾱ_{t-1} − σ²) ε̂ + σ z,
    σ = η √((1 − ᾱ_{t-1}) / (1 − ᾱ_t)) √(1 − ᾱ_t / ᾱ_{t-1}); η = 0 is deterministic."""
    out = diffusion.p_mean_variance(output, x, t, clip)
    eps = diffusion.predict_eps_from_xstart(x, t, out["pred_xstart"])
    ab = diffusion._at(diffusion.alphas_cumprod, t, x)
    ab_prev = diffusion._at(diffusion.alphas_cumprod_prev, t, x)
    sigma = eta * torch.sqrt((1 - ab_prev) / (1 - ab)) * torch.sqrt(1 - ab / ab_prev)
    mean = out["pred_xstart"] * ab_prev.sqrt() + torch.sqrt(1 - ab_prev - sigma**2) * eps
    nonzero = (t != 0).float().view(-1, *([1] * (x.ndim - 1)))
    return mean + nonzero * sigma * noise


@torch.no_grad()
def sample_loop(
    model_fn: ModelFn,
    diffusion: GaussianDiffusion,
    noise: NoiseStreams,
    shape: Sequence[int],
    device: torch.device | str = "cpu",
    sampler: str = "ddpm",
    eta: float = 0.0,
    clip_denoised: bool = False,
    progress: bool = False,
) -> torch.Tensor:
    """Run the reverse process from x_T ~ N(0, I) (drawn from ``noise``) to x_0: (B, *shape) float32.

    ``shape`` is one sample's (C, H, W). Each step draws one noise tensor per sample (DDIM with η = 0
    draws but does not use it), so a sample's draws do not depend on its batch.
    """
    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}; choose one of {SAMPLERS}")
    x = noise.randn(shape, device)
    steps = range(diffusion.num_timesteps - 1, -1, -1)
    if progress:
        from tqdm.auto import tqdm

        steps = tqdm(steps, desc=f"{sampler} sampling", leave=False, disable=None)
    for i in steps:
        t = torch.full((x.shape[0],), i, device=device, dtype=torch.long)
        output = model_fn(x, diffusion.model_timesteps(t)).float()
        z = noise.randn(shape, device)
        if sampler == "ddpm":
            x = ddpm_step(diffusion, output, x, t, z, clip_denoised)
        else:
            x = ddim_step(diffusion, output, x, t, z, clip_denoised, eta)
    return x


@dataclass
class SamplingSpec:
    """How to sample a trained DiT: the one set of sampler options of the run config (``diffusion.sampling``),
    ``pixelvit sample`` and the ``fid`` evaluator. A field left None takes the layer below's value (evaluator
    or command over the run's config), then the default named here (:meth:`resolved`).

    sampler: ``ddpm`` / ``ddim`` (objective ddpm_eps) or ``euler`` / ``heun`` (flow objectives); None: ``ddim``
        when ``steps`` starts with "ddim", else ddpm for ddpm_eps and heun for flow objectives.
    steps: DDPM/DDIM respacing ("250", "ddim50"; default "250"), or the number of ODE steps of euler / heun
        ("50"; default "50"; Heun evaluates the model 2·steps − 1 times).
    cfg_scale: classifier-free guidance scale (1: none; default 1.5).
    guidance_interval: [t_min, t_max] of flow time (0 noise, 1 data) where guidance applies (JiT), outside
        it the plain conditional output; None: everywhere. Flow samplers only.
    ddim_eta: DDIM's η (default 0: deterministic).
    guidance_channels: guide only the first k channels (3: the reference DiT's released sampler); None: all.
    """

    sampler: Literal["ddpm", "ddim", "euler", "heun"] | None = None
    steps: str | None = None
    cfg_scale: float | None = None
    guidance_interval: list[float] | None = None
    ddim_eta: float | None = None
    guidance_channels: int | None = None

    def over(self, base: SamplingSpec) -> SamplingSpec:
        """This spec's set fields over ``base``'s."""
        return SamplingSpec(**{f.name: _first(getattr(self, f.name), getattr(base, f.name)) for f in fields(self)})

    def resolved(self, objective: str = "ddpm_eps") -> SamplingSpec:
        """Every field set (defaults filled in for ``objective``); ValueError naming a field that does not fit it."""
        flow = objective != "ddpm_eps"
        sampler = self.sampler
        if sampler is None:
            ddim = self.steps is not None and self.steps.startswith("ddim")
            sampler = "ddim" if ddim else ("heun" if flow else "ddpm")
        if flow != (sampler in ODE_METHODS):
            wanted = "euler or heun" if flow else "ddpm or ddim"
            raise ValueError(f"sampler {sampler!r} does not sample objective {objective!r}: use {wanted}")
        steps = self.steps if self.steps is not None else ("50" if flow else "250")
        if flow and not (steps.isdigit() and int(steps) >= 1):
            raise ValueError(f"sampler {sampler} takes steps as a number of ODE steps like '50', got {steps!r}")
        interval = self.guidance_interval
        if interval is not None:
            if not flow:
                raise ValueError("guidance_interval applies to the flow samplers (euler, heun); leave it null for ddpm/ddim")
            if len(interval) != 2 or not 0 <= interval[0] <= interval[1] <= 1:
                raise ValueError(f"guidance_interval must be [t_min, t_max] with 0 <= t_min <= t_max <= 1, got {interval}")
        cfg_scale, eta = _first(self.cfg_scale, DEFAULT_CFG_SCALE), _first(self.ddim_eta, 0.0)
        if cfg_scale < 0 or eta < 0:
            raise ValueError(f"cfg_scale and ddim_eta must be >= 0, got {cfg_scale} and {eta}")
        if self.guidance_channels is not None and self.guidance_channels < 1:
            raise ValueError(f"guidance_channels must be >= 1 or null, got {self.guidance_channels}")
        return SamplingSpec(sampler, steps, cfg_scale, interval, eta, self.guidance_channels)


DEFAULT_CFG_SCALE = 1.5


def _first(value, default):
    return default if value is None else value


@torch.no_grad()
def generate(
    model: nn.Module,
    process: GaussianDiffusion | FlowMatching,
    spec: SamplingSpec,
    indices: Sequence[int],
    seed: int = 0,
    labels: torch.Tensor | None = None,
    clip_denoised: bool = False,
    device: torch.device | str = "cpu",
    batch_size: int = 64,
    autocast: bool = False,
    progress: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Samples number ``indices`` of the run seeded ``seed``: ((N, C, H, W) float32 model-space samples, (N,) labels).

    ``process``: the (respaced) Gaussian diffusion for ddpm / ddim, the flow for euler / heun; ``spec``
    resolved (:meth:`SamplingSpec.resolved`). Labels are drawn per index from the seed unless given.
    ``clip_denoised``: clip DDPM/DDIM's x̂_0 to [-1, 1] (pixel space). ``autocast`` runs the model in bf16.
    """
    model = model.eval().to(device)
    indices = list(indices)
    if labels is None:
        labels = sample_labels(seed, indices, model.num_classes)
    shape = (model.in_chans, *model.img_size)
    out = []
    for lo in range(0, len(indices), batch_size):
        chunk = indices[lo : lo + batch_size]
        y = labels[lo : lo + batch_size].to(device)
        streams = NoiseStreams([sample_seed(seed, i) for i in chunk])
        with torch.autocast(torch.device(device).type, dtype=torch.bfloat16) if autocast else nullcontext():
            if isinstance(process, FlowMatching):
                fn = guided_velocity(model, process, y, spec.cfg_scale, spec.guidance_interval, spec.guidance_channels)
                x = ode_sample(fn, streams.randn(shape, device), int(spec.steps), spec.sampler)
            else:
                fn = guided(model, y, spec.cfg_scale, spec.guidance_channels)
                x = sample_loop(fn, process, streams, shape, device, spec.sampler, spec.ddim_eta, clip_denoised, progress)
        out.append(x.float().cpu())
    return torch.cat(out), labels.cpu()
