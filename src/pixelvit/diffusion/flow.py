"""Flow matching on the linear path: velocity prediction (SiT) and x-prediction with a velocity loss (JiT).

Convention (SiT's and JiT's): time runs from noise to data,

    z_t = t·x + (1 − t)·ε,   t ∈ [0, 1],   z_0 = ε ~ N(0, I),   z_1 = x (data),

and the velocity of the path is v = dz_t/dt = x − ε. Sampling integrates dz/dt = v(z, t) from t = 0
to t = 1. The model is called with t itself (a float in [0, 1]), as SiT and JiT call their DiTs.

Objectives:
- ``flow_v``: the model predicts v; loss = mean over elements of (v̂ − v)² (SiT's velocity loss).
- ``flow_x``: the model predicts x̂; its velocity is v̂ = (x̂ − z_t) / max(1 − t, t_eps) and the loss
  is the same mean (v̂ − v)² (JiT: x-prediction, v-loss; t_eps = 0.05 as JiT).

Training times are uniform on [0, 1] or logit-normal: t = sigmoid(P_mean + P_std·n), n ~ N(0, 1)
(JiT: P_mean = −0.8, P_std = 0.8; in this convention a negative P_mean favours noisier inputs).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from .gaussian import mean_flat

FLOW_OBJECTIVES = ("flow_v", "flow_x")
TIME_SAMPLINGS = ("uniform", "logit_normal")
ODE_METHODS = ("euler", "heun")
# (B, C, H, W) state, (B,) times in [0, 1] -> (B, C, H, W) velocity
VelocityFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def expand(t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """(B,) -> (B, 1, ..., 1) broadcastable against x (B, ...)."""
    return t.view(-1, *([1] * (x.ndim - 1))).to(x.dtype)


def interpolate(x: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """z_t = t·x + (1 − t)·ε: x, noise (B, ...), t (B,) -> (B, ...)."""
    tt = expand(t, x)
    return tt * x + (1 - tt) * noise


@dataclass(frozen=True)
class FlowMatching:
    """The linear-path flow of one objective (``flow_v`` or ``flow_x``) and its training-time law."""

    objective: str = "flow_v"
    time_sampling: str = "uniform"
    p_mean: float = 0.0
    p_std: float = 1.0
    t_eps: float = 0.05

    def __post_init__(self):
        if self.objective not in FLOW_OBJECTIVES:
            raise ValueError(f"unknown flow objective {self.objective!r}; choose one of {FLOW_OBJECTIVES}")
        if self.time_sampling not in TIME_SAMPLINGS:
            raise ValueError(f"unknown time sampling {self.time_sampling!r}; choose one of {TIME_SAMPLINGS}")
        if self.p_std <= 0 or not 0 < self.t_eps < 1:
            raise ValueError(f"need p_std > 0 and 0 < t_eps < 1, got p_std={self.p_std}, t_eps={self.t_eps}")

    def sample_time(self, n: int, device: torch.device | str = "cpu", generator: torch.Generator | None = None) -> torch.Tensor:
        """(n,) training times in [0, 1] (float32), drawn on the CPU from ``generator`` (None: torch's global one)."""
        if self.time_sampling == "uniform":
            t = torch.rand(n, generator=generator)
        else:
            t = torch.sigmoid(self.p_mean + self.p_std * torch.randn(n, generator=generator))
        return t.to(device)

    def velocity(self, output: torch.Tensor, z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """The velocity the model's ``output`` (B, C, H, W) stands for at (z_t, t): v̂ itself, or (x̂ − z_t)/max(1 − t, t_eps)."""
        if self.objective == "flow_v":
            return output
        return (output - z) / expand(1 - t, z).clamp_min(self.t_eps)

    def training_losses(
        self, model_fn: VelocityFn, x: torch.Tensor, t: torch.Tensor, noise: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """{"loss": (B,)} mean squared velocity error per sample, for data x, times t (B,) and noise ε."""
        z = interpolate(x, noise, t)
        v_hat = self.velocity(model_fn(z, t).float(), z, t)
        return {"loss": mean_flat((v_hat - (x - noise)) ** 2)}


def time_grid(steps: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """(steps + 1,) equally spaced times 0 = t_0 < ... < t_N = 1 (float64, then cast by the caller)."""
    if steps < 1:
        raise ValueError(f"an ODE sampler needs at least 1 step, got {steps}")
    return torch.linspace(0.0, 1.0, steps + 1, dtype=torch.float64, device=device)


def ode_step(method: str, velocity: VelocityFn, x: torch.Tensor, t: float, t_next: float, last: bool) -> torch.Tensor:
    """One step of dz/dt = v(z, t) from t to t_next: Euler, or Heun (trapezoid with an Euler predictor).

    Heun's last step (ending at t = 1) is an Euler step, as JiT does: x-prediction's velocity divides by
    1 − t, so it is never evaluated at t = 1. The global order stays 2 (one O(h²) step)."""
    h = t_next - t
    batch = x.shape[0]
    v = velocity(x, torch.full((batch,), t, device=x.device))
    if method == "euler" or last:
        return x + h * v
    x_euler = x + h * v
    v_next = velocity(x_euler, torch.full((batch,), t_next, device=x.device))
    return x + h * 0.5 * (v + v_next)


@torch.no_grad()
def ode_sample(velocity: VelocityFn, x0: torch.Tensor, steps: int, method: str = "heun") -> torch.Tensor:
    """Integrate from z_0 = ``x0`` (B, ...) at t = 0 to t = 1 in ``steps`` equal steps; returns z_1 (B, ...).

    Model evaluations: ``steps`` (Euler) or 2·steps − 1 (Heun)."""
    if method not in ODE_METHODS:
        raise ValueError(f"unknown ODE method {method!r}; choose one of {ODE_METHODS}")
    grid = time_grid(steps).tolist()
    x = x0
    for i in range(steps):
        x = ode_step(method, velocity, x, grid[i], grid[i + 1], last=i == steps - 1)
    return x


def guided_velocity(
    model: nn.Module,
    flow: FlowMatching,
    labels: torch.Tensor,
    cfg_scale: float,
    interval: Sequence[float] | None = None,
    guidance_channels: int | None = None,
) -> VelocityFn:
    """The model's velocity field conditioned on ``labels`` (B,), with classifier-free guidance of scale
    ``cfg_scale`` applied only for t in ``interval`` = [t_min, t_max] (JiT's guidance interval; None:
    everywhere); outside it the plain conditional output. Guidance acts on the model output (v̂ or x̂);
    since v̂(x̂) is affine in x̂ this equals guiding the velocity."""

    def fn(z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        t0 = float(t[0])
        inside = interval is None or interval[0] <= t0 <= interval[1]
        scale = cfg_scale if inside else 1.0
        out = model.forward_with_cfg(z, t, labels, scale, guidance_channels).float()
        return flow.velocity(out, z.float(), t)

    return fn
