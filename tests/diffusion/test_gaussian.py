"""Gaussian diffusion against closed forms: schedule, q(x_t|x_0), the posterior (Bayes' rule on a grid),
KL and discretized likelihood values, the VLB of an oracle, the stop-gradient, and respacing."""

import math

import pytest
import torch

from pixelvit.diffusion.gaussian import (
    GaussianDiffusion,
    discretized_gaussian_log_likelihood,
    linear_betas,
    normal_kl,
)
from pixelvit.diffusion.respace import create_diffusion, respace_betas, space_timesteps


def test_linear_schedule_scales_with_the_number_of_steps():
    b = linear_betas(1000)
    assert b.dtype == torch.float64 and len(b) == 1000
    assert b[0].item() == pytest.approx(1e-4) and b[-1].item() == pytest.approx(0.02)
    b500 = linear_betas(500)
    assert b500[0].item() == pytest.approx(2e-4) and b500[-1].item() == pytest.approx(0.04)


def test_q_mean_variance_uses_the_cumulative_product_computed_by_hand():
    diff = GaussianDiffusion(linear_betas(100))
    x0 = torch.randn(3, 2, 4, 4)
    t = torch.tensor([0, 37, 99])
    for row, step in enumerate(t.tolist()):
        abar = 1.0
        for s in range(step + 1):
            abar *= 1.0 - (1e-4 * 10 + (0.02 * 10 - 1e-4 * 10) * s / 99)
        mean, var, log_var = diff.q_mean_variance(x0, t)
        torch.testing.assert_close(mean[row], math.sqrt(abar) * x0[row])
        assert var[row].unique().item() == pytest.approx(1 - abar, rel=1e-5)
        assert log_var[row].unique().item() == pytest.approx(math.log(1 - abar), rel=1e-5)
    noise = torch.randn_like(x0)
    torch.testing.assert_close(diff.q_sample(x0, t, noise), mean + var.sqrt() * noise)


@pytest.mark.parametrize("step", [1, 10, 60])
def test_posterior_is_bayes_rule_on_a_grid(step):
    """q(x_{t-1}|x_t,x_0) ∝ q(x_{t-1}|x_0) q(x_t|x_{t-1}) for a 1-D point: numerical mean and variance."""
    diff = GaussianDiffusion(linear_betas(100))
    x0, xt = 0.7, -0.3
    abar_prev = diff.alphas_cumprod[step - 1].item()
    beta = diff.betas[step].item()
    grid = torch.linspace(-6, 6, 200001, dtype=torch.float64)
    log_prior = -((grid - math.sqrt(abar_prev) * x0) ** 2) / (2 * (1 - abar_prev))
    log_lik = -((xt - math.sqrt(1 - beta) * grid) ** 2) / (2 * beta)
    w = torch.softmax(log_prior + log_lik, 0)
    mean_num = (w * grid).sum().item()
    var_num = (w * (grid - mean_num) ** 2).sum().item()
    t = torch.tensor([step])
    mean, var, _ = diff.q_posterior_mean_variance(torch.full((1, 1), x0), torch.full((1, 1), xt), t)
    assert mean.item() == pytest.approx(mean_num, rel=1e-4, abs=1e-6)
    assert var.item() == pytest.approx(var_num, rel=1e-3)


def test_normal_kl_known_values():
    z = torch.zeros(1)
    assert normal_kl(z, z, z, z).item() == 0
    assert normal_kl(z + 1, z, z, z).item() == pytest.approx(0.5)
    logv = torch.tensor([math.log(3.0)])
    assert normal_kl(z, logv, z, z).item() == pytest.approx(0.5 * (3 - 1 - math.log(3)))
    m1, lv1, m2, lv2 = torch.randn(4), torch.randn(4), torch.randn(4), torch.randn(4)
    expected = torch.distributions.kl_divergence(
        torch.distributions.Normal(m1, (0.5 * lv1).exp()), torch.distributions.Normal(m2, (0.5 * lv2).exp())
    )
    torch.testing.assert_close(normal_kl(m1, lv1, m2, lv2), expected)


def test_discretized_likelihood_sums_to_one_and_matches_the_normal_cdf():
    bins = torch.arange(256, dtype=torch.float64) * 2 / 255 - 1  # uint8 values scaled to [-1, 1]
    means, log_scales = torch.full_like(bins, 0.1), torch.full_like(bins, math.log(0.3))
    logp = discretized_gaussian_log_likelihood(bins, means, log_scales)
    assert logp.exp().sum().item() == pytest.approx(1.0, abs=1e-9)  # the bins tile the real line
    # inner bin against the exact normal CDF (the tanh approximation is good to ~1e-3 absolute)
    exact = torch.special.ndtr((bins[128] + 1 / 255 - 0.1) / 0.3) - torch.special.ndtr((bins[128] - 1 / 255 - 0.1) / 0.3)
    assert logp[128].exp().item() == pytest.approx(exact.item(), rel=2e-3)
    edge = torch.special.ndtr(torch.tensor((-1 + 1 / 255 - 0.1) / 0.3))
    assert logp[0].exp().item() == pytest.approx(edge.item(), abs=1e-3)


def test_vlb_of_an_oracle_is_zero_and_the_mean_is_stop_gradiented():
    diff = GaussianDiffusion(linear_betas(50))
    x0 = torch.rand(4, 3, 4, 4) * 2 - 1
    noise = torch.randn_like(x0)
    t = torch.tensor([1, 5, 20, 49])
    # ε = the true noise and v = -1 (log σ² = log β̃_t, the true posterior variance)
    oracle = lambda xt, tt: torch.cat([noise, -torch.ones_like(noise)], 1)  # noqa: E731
    terms = diff.training_losses(oracle, x0, t, noise)
    assert terms["mse"].abs().max() < 1e-12
    assert terms["vb"].abs().max() < 1e-5
    eps = noise.clone().requires_grad_(True)
    v = torch.zeros_like(noise, requires_grad=True)
    terms = diff.training_losses(lambda xt, tt: torch.cat([eps * 1.5, v], 1), x0, t, noise)
    terms["vb"].sum().backward()
    assert eps.grad is None or eps.grad.abs().max() == 0  # the bound does not train the mean
    assert v.grad.abs().max() > 0


def test_fixed_variance_without_learned_sigma():
    diff = GaussianDiffusion(linear_betas(20), learn_sigma=False)
    x = torch.randn(2, 1, 2, 2)
    out = diff.p_mean_variance(torch.zeros_like(x), x, torch.tensor([0, 7]))
    assert out["variance"][0].unique().item() == pytest.approx(diff.posterior_variance[1].item(), rel=1e-5)
    assert out["variance"][1].unique().item() == pytest.approx(diff.betas[7].item(), rel=1e-5)
    with pytest.raises(ValueError, match="output channels"):
        GaussianDiffusion(linear_betas(20)).p_mean_variance(torch.zeros_like(x), x, torch.tensor([0, 1]))


def test_respacing_keeps_alpha_bar_at_the_kept_steps():
    base = linear_betas(1000)
    abar = torch.cumprod(1 - base, 0)
    for spec in ("250", "ddim50", "10,15,20", "7"):
        keep = space_timesteps(1000, spec)
        spaced = GaussianDiffusion(respace_betas(base, keep), timestep_map=keep)
        torch.testing.assert_close(spaced.alphas_cumprod, abar[keep], rtol=1e-12, atol=0)
        assert spaced.model_timesteps(torch.arange(len(keep))).tolist() == keep
    assert space_timesteps(1000, "ddim50") == list(range(0, 1000, 20))
    keep = space_timesteps(1000, "250")
    assert len(keep) == 250 and keep[0] == 0 and keep[-1] == 999
    keep = space_timesteps(300, "10,15,20")
    assert len(keep) == 45 and keep[0] == 0 and keep[9] == 99 and keep[10] == 100 and keep[-1] == 299
    assert create_diffusion("", 1000).num_timesteps == 1000 and create_diffusion("250", 1000).num_timesteps == 250
    with pytest.raises(ValueError, match="DDIM"):
        space_timesteps(1000, "ddim999")
    with pytest.raises(ValueError):
        space_timesteps(100, "fast")
