"""Flow matching against closed forms: Gaussian data, where the optimal velocity field and the exact ODE
transport are known, and loss values on hand-made inputs.

Data x ~ N(μ, s² I), ε ~ N(0, I), z_t = t·x + (1 − t)·ε. Then z_t ~ N(tμ, σ_t² I), σ_t² = t²s² + (1 − t)², and
    v*(z, t) = E[x − ε | z_t = z] = μ + (t s² − (1 − t)) / σ_t² · (z − tμ),
    x*(z, t) = E[x | z_t = z]     = μ + t s² / σ_t² · (z − tμ).
The ODE dz/dt = v*(z, t) from z_0 = ε₀ has the solution z_t = tμ + σ_t ε₀ (differentiate: σ_t' = (t s² − (1 − t))/σ_t),
so it carries N(0, I) to N(μ, s² I) with z_1 = μ + s ε₀ exactly.
"""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from pixelvit.diffusion.flow import FlowMatching, guided_velocity, interpolate, ode_sample, time_grid

MU, S = 0.7, 0.4


def sigma2(t: torch.Tensor) -> torch.Tensor:
    return t**2 * S**2 + (1 - t) ** 2


def v_star(z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    tt = t.view(-1, *([1] * (z.ndim - 1))).to(z.dtype)
    return MU + (tt * S**2 - (1 - tt)) / sigma2(tt) * (z - tt * MU)


def x_star(z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    tt = t.view(-1, *([1] * (z.ndim - 1))).to(z.dtype)
    return MU + tt * S**2 / sigma2(tt) * (z - tt * MU)


def endpoint_error(method: str, steps: int, x0: torch.Tensor, velocity=v_star) -> float:
    z1 = ode_sample(velocity, x0, steps, method)
    return float((z1 - (MU + S * x0)).abs().max())


@pytest.fixture
def x0() -> torch.Tensor:
    return torch.randn(4096, 1, 2, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)


def test_exact_field_carries_the_normal_to_the_target(x0):
    """Heun, 100 steps, with the exact field: each point lands within 5e-4 of its exact image μ + s·ε₀ (measured
    3.8e-4 worst of 16,384 values), and the samples have mean μ and std s within 3 standard errors."""
    z1 = ode_sample(v_star, x0, 100, "heun")
    assert float((z1 - (MU + S * x0)).abs().max()) < 5e-4
    n = z1.numel()
    assert abs(float(z1.mean()) - MU) < 3 * S / math.sqrt(n)
    assert abs(float(z1.std()) - S) < 3 * S / math.sqrt(2 * n)


def test_heun_converges_at_second_order_and_euler_at_first(x0):
    """Halving the step divides the endpoint error by ~4 (Heun) and ~2 (Euler). Measured worst-point errors at
    8/16/32/64 steps: Heun 0.070, 0.016, 0.0038, 0.00093; Euler 0.29, 0.15, 0.078, 0.039."""
    heun = [endpoint_error("heun", n, x0) for n in (8, 16, 32, 64)]
    euler = [endpoint_error("euler", n, x0) for n in (8, 16, 32, 64)]
    heun_ratios = [a / b for a, b in itertools.pairwise(heun)]
    euler_ratios = [a / b for a, b in itertools.pairwise(euler)]
    assert all(3.5 < r < 4.5 for r in heun_ratios[1:]), heun_ratios
    assert all(1.8 < r < 2.2 for r in euler_ratios[1:]), euler_ratios
    assert heun[-1] < euler[-1] / 20


def test_x_prediction_converts_to_the_optimal_velocity(x0):
    """(x*(z, t) − z)/(1 − t) = v*(z, t) for t < 1 − t_eps; sampling through the x-prediction form carries the
    normal to the target as the velocity form does (Heun's last step is Euler: t = 1 is never evaluated).
    JiT's t_eps = 0.05 clamps the last 5 % of the path (a bias there); with t_eps = 1e-3 no step is clamped."""
    flow = FlowMatching("flow_x")
    t = torch.tensor([0.0, 0.3, 0.6, 0.9], dtype=torch.float64)
    z = x0[:4]
    torch.testing.assert_close(flow.velocity(x_star(z, t), z, t), v_star(z, t), rtol=1e-12, atol=1e-12)
    # Near t = 1 the division is clamped at t_eps: v = (x̂ − z)/0.05.
    t1 = torch.full((4,), 0.99, dtype=torch.float64)
    torch.testing.assert_close(flow.velocity(x_star(z, t1), z, t1), (x_star(z, t1) - z) / 0.05)
    fine = FlowMatching("flow_x", t_eps=1e-3)
    through_x = endpoint_error("heun", 64, x0, lambda z, t: fine.velocity(x_star(z, t), z, t))
    assert through_x == pytest.approx(endpoint_error("heun", 64, x0), rel=1e-6)


def test_losses_on_hand_made_inputs():
    """x = 1, ε = 0 (v = 1) at t = 0.5: z = 0.5. A velocity model outputting 3 has loss (3 − 1)² = 4; an
    x-model outputting 3 has v̂ = (3 − 0.5)/0.5 = 5, loss 16; at t = 0.99 the x-model's 1 − t clamps to 0.05:
    z = 0.99, v̂ = (3 − 0.99)/0.05 = 40.2, loss 39.2²."""
    x, eps = torch.ones(2, 1, 2, 2), torch.zeros(2, 1, 2, 2)
    t = torch.tensor([0.5, 0.99])
    three = lambda z, tt: torch.full_like(z, 3.0)  # noqa: E731
    v_loss = FlowMatching("flow_v").training_losses(three, x, t, eps)["loss"]
    x_loss = FlowMatching("flow_x").training_losses(three, x, t, eps)["loss"]
    torch.testing.assert_close(v_loss, torch.tensor([4.0, 4.0]))
    torch.testing.assert_close(x_loss, torch.tensor([16.0, 39.2**2]), rtol=1e-5, atol=1e-4)
    # the optimal field's loss is the conditional variance of v = x − ε: for Gaussian data at t,
    # Var(x − ε | z) = (1 + s²) − (t s² − (1 − t))² / σ_t² (per element).
    g = torch.Generator().manual_seed(1)
    x, eps = MU + S * torch.randn(200_000, 1, 1, 1, generator=g), torch.randn(200_000, 1, 1, 1, generator=g)
    tt = torch.full((200_000,), 0.3)
    loss = float(FlowMatching("flow_v").training_losses(v_star, x, tt, eps)["loss"].mean())
    expected = (1 + S**2) - (0.3 * S**2 - 0.7) ** 2 / float(sigma2(torch.tensor(0.3)))
    assert loss == pytest.approx(expected, rel=0.01)


def test_time_sampling_laws():
    """Uniform: mean 1/2; logit-normal(P_mean, P_std): logit(t) has that mean and std. Seeded generators repeat."""
    g = lambda: torch.Generator().manual_seed(5)  # noqa: E731
    u = FlowMatching("flow_v").sample_time(100_000, generator=g())
    assert float(u.min()) >= 0 and float(u.max()) < 1 and float(u.mean()) == pytest.approx(0.5, abs=0.005)
    ln = FlowMatching("flow_x", "logit_normal", -0.8, 0.8).sample_time(100_000, generator=g())
    logit = torch.log(ln / (1 - ln))
    assert float(logit.mean()) == pytest.approx(-0.8, abs=0.01) and float(logit.std()) == pytest.approx(0.8, abs=0.01)
    assert torch.equal(ln, FlowMatching("flow_x", "logit_normal", -0.8, 0.8).sample_time(100_000, generator=g()))


def test_interpolant_ends_and_grid():
    x, eps = torch.full((2, 1, 1, 1), 2.0), torch.full((2, 1, 1, 1), -1.0)
    assert torch.equal(interpolate(x, eps, torch.tensor([0.0, 1.0])), torch.tensor([-1.0, 2.0]).view(2, 1, 1, 1))
    assert time_grid(4).tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]
    with pytest.raises(ValueError, match="at least 1 step"):
        time_grid(0)
    with pytest.raises(ValueError, match="unknown flow objective"):
        FlowMatching("flow_eps")


class CountingModel(torch.nn.Module):
    """A stand-in DiT: output = (label + 1)·x for the conditional, 0 for the null class; records each call's t."""

    num_classes = 3

    def __init__(self):
        super().__init__()
        self.calls: list[tuple[float, float]] = []

    def forward_with_cfg(self, x, t, y, cfg_scale, guidance_channels=None):
        self.calls.append((float(t[0]), cfg_scale))
        cond = (y + 1).view(-1, 1, 1, 1).to(x.dtype) * x
        return cond if cfg_scale == 1.0 else cfg_scale * cond  # uncond = 0: u + s(c − u) = s·c


def test_guidance_interval_applies_the_scale_only_inside():
    """JiT's interval: scale s for t in [t_min, t_max], the plain conditional output outside."""
    model = CountingModel()
    fn = guided_velocity(model, FlowMatching("flow_v"), torch.tensor([0, 1]), 3.0, interval=[0.25, 0.5])
    z = torch.ones(2, 1, 1, 1)
    ode_sample(fn, z, 4, "euler")
    assert model.calls == [(0.0, 1.0), (0.25, 3.0), (0.5, 3.0), (0.75, 1.0)]


# ---- agreement with SiT's transport (willisma/SiT, transport/), its formulas re-derived here ---------------
# SiT's linear path ("ICPlan"): x_t = α_t·x1 + σ_t·x0 with α_t = t, σ_t = 1 − t, x0 the noise and x1 the data,
# target u_t = α'_t·x1 + σ'_t·x0 = x1 − x0; velocity loss per sample = mean over elements of (model − u_t)²;
# the ODE drift of a velocity model is the model output; its fixed-grid solvers (torchdiffeq) step
# Euler: x + h·f(t, x) and Heun ("heun2", Butcher c = (0, 1), b = (½, ½)). Differences, stated:
# - steps: SiT's ``num_steps`` counts grid points (linspace(0, 1, num_steps): num_steps − 1 intervals); ours counts
#   intervals. SiT's default ODE solver is adaptive dopri5 (atol 1e-6, rtol 1e-3), not offered here.
# - our Heun's last step is an Euler step (JiT's choice, so x-prediction is never evaluated at t = 1); SiT's
#   Heun evaluates its velocity model at t = 1 too.
# - SiT's DiT keeps learn_sigma = True and drops the variance channels in forward; ours has no such channels.
# - SiT's guidance (forward_with_cfg) guides the first 3 channels; ours all (guidance_channels=3 for SiT's).


def sit_alpha_sigma(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(α_t, α'_t, σ_t, σ'_t) of SiT's linear path, shaped (B, 1, 1, 1)."""
    t = t.view(-1, 1, 1, 1)
    return t, torch.ones_like(t), 1 - t, -torch.ones_like(t)


def sit_loss(model, x1: torch.Tensor, x0: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    alpha, d_alpha, sigma, d_sigma = sit_alpha_sigma(t)
    xt, ut = alpha * x1 + sigma * x0, d_alpha * x1 + d_sigma * x0
    return ((model(xt, t) - ut) ** 2).mean(dim=(1, 2, 3))


def test_loss_and_steps_agree_with_sits_formulas():
    g = torch.Generator().manual_seed(3)
    x1, x0, t = torch.randn(5, 2, 3, 3, generator=g), torch.randn(5, 2, 3, 3, generator=g), torch.rand(5, generator=g)
    w = torch.randn(2, 2, generator=g)

    def model(z, tt):  # any function of (z, t) will do: a channel mix scaled by t
        return torch.einsum("oc,bchw->bohw", w, z) * (1 + tt.view(-1, 1, 1, 1))

    ours = FlowMatching("flow_v").training_losses(model, x1, t, x0)["loss"]
    torch.testing.assert_close(ours, sit_loss(model, x1, x0, t), rtol=1e-6, atol=1e-6)
    # drift = model output; one Euler and one (non-final) Heun step from t = 0.25 to 0.5
    from pixelvit.diffusion.flow import ode_step

    z, h = torch.randn(5, 2, 3, 3, generator=g), 0.25
    ta, tb = torch.full((5,), 0.25), torch.full((5,), 0.5)
    sit_euler = z + h * model(z, ta)
    k1 = model(z, ta)
    sit_heun = z + h * 0.5 * (k1 + model(z + h * k1, tb))
    torch.testing.assert_close(ode_step("euler", model, z, 0.25, 0.5, last=False), sit_euler)
    torch.testing.assert_close(ode_step("heun", model, z, 0.25, 0.5, last=False), sit_heun)
