"""Timestep respacing: sample with fewer steps than the model was trained with ("250", "ddim50").

A respaced process keeps a subset S of the original steps and sets its own betas so that its ᾱ at
each kept step equals the original ᾱ there: β'_i = 1 − ᾱ_{s_i} / ᾱ_{s_{i-1}}. The model is still
called with the original step numbers (``timestep_map``), as in the reference (improved DDPM's
``space_timesteps``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .gaussian import GaussianDiffusion, linear_betas

SCHEDULES = ("linear",)


def space_timesteps(num_timesteps: int, spec: str | Sequence[int]) -> list[int]:
    """Which of ``num_timesteps`` steps to keep, sorted.

    ``spec``: "250" (250 steps spread evenly, both ends kept), "10,15,20" (the process cut into equal
    sections, each strided to that many steps), or "ddimN" (DDIM's fixed integer stride giving exactly
    N steps, starting at 0). An empty spec keeps every step.
    """
    if isinstance(spec, str):
        spec = spec.strip()
        if not spec:
            return list(range(num_timesteps))
        if spec.startswith("ddim"):
            want = int(spec[4:])
            for stride in range(1, num_timesteps):
                if len(range(0, num_timesteps, stride)) == want:
                    return list(range(0, num_timesteps, stride))
            raise ValueError(f"cannot take exactly {want} steps of {num_timesteps} with an integer stride (DDIM spacing)")
        try:
            counts = [int(x) for x in spec.split(",")]
        except ValueError:
            raise ValueError(
                f"timestep respacing {spec!r}: use a step count like '250', counts like '10,15,20', or 'ddim50'"
            ) from None
    else:
        counts = list(spec)
    size_per, extra = divmod(num_timesteps, len(counts))
    start, steps = 0, []
    for i, count in enumerate(counts):
        size = size_per + (1 if i < extra else 0)
        if not 1 <= count <= size:
            raise ValueError(f"cannot take {count} steps from a section of {size} (of {num_timesteps} steps in all)")
        stride = 1 if count <= 1 else (size - 1) / (count - 1)
        position = 0.0
        for _ in range(count):  # accumulated, not j·stride: rounds exactly as the reference does
            steps.append(start + round(position))
            position += stride
        start += size
    return sorted(set(steps))


def respace_betas(betas: torch.Tensor, keep: Sequence[int]) -> torch.Tensor:
    """Betas of the process that visits only the steps ``keep`` with the same ᾱ there (float64)."""
    alphas_cumprod = torch.cumprod(1.0 - betas.to(torch.float64), 0)[list(keep)]
    previous = torch.cat([torch.ones(1, dtype=torch.float64), alphas_cumprod[:-1]])
    return 1.0 - alphas_cumprod / previous


def create_diffusion(
    respacing: str = "", num_timesteps: int = 1000, learn_sigma: bool = True, noise_schedule: str = "linear"
) -> GaussianDiffusion:
    """The reference's ``create_diffusion``: a linear schedule of ``num_timesteps`` steps, respaced by ``respacing``
    ("" keeps all: training; "250" or "ddim50": sampling)."""
    if noise_schedule not in SCHEDULES:
        raise ValueError(f"unknown noise schedule {noise_schedule!r}; choose one of {SCHEDULES}")
    betas = linear_betas(num_timesteps)
    keep = space_timesteps(num_timesteps, respacing)
    if len(keep) == num_timesteps:
        return GaussianDiffusion(betas, learn_sigma)
    return GaussianDiffusion(respace_betas(betas, keep), learn_sigma, timestep_map=keep)
