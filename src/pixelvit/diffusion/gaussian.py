"""Gaussian diffusion: the forward process, its posterior, and the improved-DDPM training loss.

Follows the DDPM / improved-DDPM / ADM formulation that DiT uses (facebookresearch/DiT
``diffusion/gaussian_diffusion.py``): ε-prediction, and with ``learn_sigma`` a second set of C
output channels v ∈ [-1, 1] that interpolates the log variance between the posterior variance β̃_t
and β_t ("learned range"). The training loss is the hybrid loss of improved DDPM: MSE on ε plus
the variational-bound term of the learned variance, computed with the predicted mean
stop-gradiented so that the bound trains only the variance.

Schedules are float64 (as the reference's numpy arrays) and are cast to float32 when gathered at
timesteps. Timesteps t are 0-based: t = 0 is one step of noise. ``timestep_map`` (respacing, see
:mod:`pixelvit.diffusion.respace`) maps this process's steps to the original steps the model was
trained with; models are always called with mapped steps (:meth:`GaussianDiffusion.model_timesteps`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch

LOG2 = math.log(2.0)


def linear_betas(num_timesteps: int) -> torch.Tensor:
    """Ho et al.'s linear schedule, scaled so any T behaves like T = 1000: β from 1e-4·1000/T to 0.02·1000/T (float64)."""
    scale = 1000.0 / num_timesteps
    return torch.linspace(1e-4 * scale, 0.02 * scale, num_timesteps, dtype=torch.float64)


def mean_flat(x: torch.Tensor) -> torch.Tensor:
    """(B, ...) -> (B,): mean over all but the batch axis."""
    return x.mean(dim=tuple(range(1, x.ndim)))


def normal_kl(mean1: torch.Tensor, logvar1: torch.Tensor, mean2: torch.Tensor, logvar2: torch.Tensor) -> torch.Tensor:
    """Elementwise KL(N(mean1, e^logvar1) || N(mean2, e^logvar2)) in nats (broadcasting)."""
    return 0.5 * (-1.0 + logvar2 - logvar1 + torch.exp(logvar1 - logvar2) + (mean1 - mean2) ** 2 * torch.exp(-logvar2))


def approx_standard_normal_cdf(x: torch.Tensor) -> torch.Tensor:
    """Φ(x) through the tanh approximation that the reference (and GELU-tanh) uses."""
    return 0.5 * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x.pow(3))))


def discretized_gaussian_log_likelihood(x: torch.Tensor, means: torch.Tensor, log_scales: torch.Tensor) -> torch.Tensor:
    """log P(x) in nats, elementwise, of data that were uint8 values scaled to [-1, 1] (bins of width 2/255)
    under N(means, e^(2·log_scales)); the end bins extend to ±∞."""
    centered = x - means
    inv_std = torch.exp(-log_scales)
    cdf_plus = approx_standard_normal_cdf(inv_std * (centered + 1.0 / 255.0))
    cdf_min = approx_standard_normal_cdf(inv_std * (centered - 1.0 / 255.0))
    log_cdf_plus = torch.log(cdf_plus.clamp(min=1e-12))
    log_one_minus_cdf_min = torch.log((1.0 - cdf_min).clamp(min=1e-12))
    log_delta = torch.log((cdf_plus - cdf_min).clamp(min=1e-12))
    return torch.where(x < -0.999, log_cdf_plus, torch.where(x > 0.999, log_one_minus_cdf_min, log_delta))


class GaussianDiffusion:
    """The process q(x_t | x_0) = N(√ᾱ_t x_0, (1 − ᾱ_t) I) for a schedule β_0..β_{T-1}.

    Args:
        betas: (T,) noise schedule.
        learn_sigma: the model outputs 2C channels (ε, v) and the variance is learned (range
            interpolation); else C channels and the variance is fixed to β_t ("fixed large",
            with β̃_1 at t = 0, the reference's choice without learned sigmas).
        timestep_map: (T,) original step of each step here (respaced processes); identity by default.
    """

    def __init__(
        self, betas: torch.Tensor | Sequence[float], learn_sigma: bool = True, timestep_map: Sequence[int] | None = None
    ):
        b = torch.as_tensor(betas, dtype=torch.float64)
        if b.ndim != 1 or len(b) < 2 or not bool(((b > 0) & (b <= 1)).all()):
            raise ValueError("betas must be a 1-D schedule of at least 2 values in (0, 1]")
        self.betas = b
        self.learn_sigma = learn_sigma
        self.num_timesteps = len(b)
        self.timestep_map = torch.arange(len(b)) if timestep_map is None else torch.as_tensor(timestep_map, dtype=torch.long)
        alphas = 1.0 - b
        self.alphas_cumprod = torch.cumprod(alphas, 0)
        self.alphas_cumprod_prev = torch.cat([torch.ones(1, dtype=torch.float64), self.alphas_cumprod[:-1]])
        self.sqrt_alphas_cumprod = self.alphas_cumprod.sqrt()
        self.sqrt_one_minus_alphas_cumprod = (1.0 - self.alphas_cumprod).sqrt()
        self.log_one_minus_alphas_cumprod = torch.log(1.0 - self.alphas_cumprod)
        self.sqrt_recip_alphas_cumprod = (1.0 / self.alphas_cumprod).sqrt()
        self.sqrt_recipm1_alphas_cumprod = (1.0 / self.alphas_cumprod - 1.0).sqrt()
        # q(x_{t-1} | x_t, x_0) = N(coef1·x_0 + coef2·x_t, β̃_t); β̃_0 = 0, so its log is clipped to β̃_1.
        self.posterior_variance = b * (1.0 - self.alphas_cumprod_prev) / (1.0 - self.alphas_cumprod)
        self.posterior_log_variance_clipped = torch.log(torch.cat([self.posterior_variance[1:2], self.posterior_variance[1:]]))
        self.posterior_mean_coef1 = b * self.alphas_cumprod_prev.sqrt() / (1.0 - self.alphas_cumprod)
        self.posterior_mean_coef2 = (1.0 - self.alphas_cumprod_prev) * alphas.sqrt() / (1.0 - self.alphas_cumprod)

    # ---- helpers ---------------------------------------------------------------------------------

    @staticmethod
    def _at(values: torch.Tensor, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """values[t] as float32 shaped (B, 1, ..., 1) to broadcast against ``like``."""
        out = values.to(t.device)[t].float()
        return out.view(-1, *([1] * (like.ndim - 1)))

    def model_timesteps(self, t: torch.Tensor) -> torch.Tensor:
        """Steps of this process -> the original steps the model takes (identity unless respaced)."""
        return self.timestep_map.to(t.device)[t]

    # ---- forward process and posterior -------------------------------------------------------------

    def q_mean_variance(self, x0: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Mean, variance and log variance of q(x_t | x_0), each shaped like x0."""
        mean = self._at(self.sqrt_alphas_cumprod, t, x0) * x0
        var = self._at(1.0 - self.alphas_cumprod, t, x0).expand_as(x0)
        return mean, var, self._at(self.log_one_minus_alphas_cumprod, t, x0).expand_as(x0)

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε."""
        return self._at(self.sqrt_alphas_cumprod, t, x0) * x0 + self._at(self.sqrt_one_minus_alphas_cumprod, t, x0) * noise

    def q_posterior_mean_variance(
        self, x0: torch.Tensor, xt: torch.Tensor, t: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Mean, variance and clipped log variance of q(x_{t-1} | x_t, x_0)."""
        mean = self._at(self.posterior_mean_coef1, t, xt) * x0 + self._at(self.posterior_mean_coef2, t, xt) * xt
        var = self._at(self.posterior_variance, t, xt).expand_as(xt)
        return mean, var, self._at(self.posterior_log_variance_clipped, t, xt).expand_as(xt)

    def predict_xstart_from_eps(self, xt: torch.Tensor, t: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """x̂_0 = (x_t − √(1 − ᾱ_t) ε) / √ᾱ_t."""
        return self._at(self.sqrt_recip_alphas_cumprod, t, xt) * xt - self._at(self.sqrt_recipm1_alphas_cumprod, t, xt) * eps

    def predict_eps_from_xstart(self, xt: torch.Tensor, t: torch.Tensor, x0: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`predict_xstart_from_eps` for ε."""
        return (self._at(self.sqrt_recip_alphas_cumprod, t, xt) * xt - x0) / self._at(self.sqrt_recipm1_alphas_cumprod, t, xt)

    # ---- the model's reverse step ----------------------------------------------------------------

    def p_mean_variance(
        self, model_output: torch.Tensor, xt: torch.Tensor, t: torch.Tensor, clip_denoised: bool = False
    ) -> dict[str, torch.Tensor]:
        """p(x_{t-1} | x_t) from the model's output at (x_t, t): {"mean", "variance", "log_variance", "pred_xstart", "eps"}.

        model_output: (B, 2C, ...) = (ε, v) with ``learn_sigma`` (log σ² = ((v+1)/2)·log β_t + (1 − (v+1)/2)·log β̃_t),
        else (B, C, ...) = ε. ``clip_denoised`` clamps x̂_0 to [-1, 1] (pixel space).
        """
        c = xt.shape[1]
        if self.learn_sigma:
            if model_output.shape[1] != 2 * c:
                raise ValueError(f"learn_sigma needs {2 * c} output channels (ε and v), got {model_output.shape[1]}")
            eps, v = model_output.split(c, dim=1)
            min_log = self._at(self.posterior_log_variance_clipped, t, xt)
            max_log = self._at(torch.log(self.betas), t, xt)
            frac = (v + 1) / 2
            log_variance = frac * max_log + (1 - frac) * min_log
        else:
            eps = model_output
            fixed = torch.cat([self.posterior_variance[1:2], self.betas[1:]])
            log_variance = self._at(torch.log(fixed), t, xt).expand_as(xt)
        pred_xstart = self.predict_xstart_from_eps(xt, t, eps)
        if clip_denoised:
            pred_xstart = pred_xstart.clamp(-1, 1)
        mean, _, _ = self.q_posterior_mean_variance(pred_xstart, xt, t)
        return {
            "mean": mean,
            "variance": log_variance.exp(),
            "log_variance": log_variance,
            "pred_xstart": pred_xstart,
            "eps": eps,
        }

    # ---- losses ------------------------------------------------------------------------------------

    def vb_terms_bpd(
        self, model_output: torch.Tensor, x0: torch.Tensor, xt: torch.Tensor, t: torch.Tensor, clip_denoised: bool = False
    ) -> torch.Tensor:
        """(B,) bits per dimension: KL(q(x_{t-1}|x_t,x_0) || p(x_{t-1}|x_t)) for t > 0, the decoder NLL
        −log p(x_0|x_1) at t = 0."""
        true_mean, _, true_log_var = self.q_posterior_mean_variance(x0, xt, t)
        out = self.p_mean_variance(model_output, xt, t, clip_denoised)
        kl = mean_flat(normal_kl(true_mean, true_log_var, out["mean"], out["log_variance"])) / LOG2
        nll = -mean_flat(discretized_gaussian_log_likelihood(x0, out["mean"], 0.5 * out["log_variance"])) / LOG2
        return torch.where(t == 0, nll, kl)

    def training_losses(
        self,
        model_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
        x0: torch.Tensor,
        t: torch.Tensor,
        noise: torch.Tensor,
    ) -> dict[str, torch.Tensor]:
        """Per-sample losses {"loss", "mse", "vb"} (each (B,)) of ``model_fn(x_t, model_t)`` at steps t.

        loss = MSE(ε̂, ε) + vb, where vb is the variational bound of the learned variance with the mean's
        output detached (improved DDPM's hybrid loss; vb = 0 without ``learn_sigma``). The reference's optional
        rescaling of vb by T/1000 is 1 at its T = 1000 and is not applied for other T.
        """
        xt = self.q_sample(x0, t, noise)
        output = model_fn(xt, self.model_timesteps(t)).float()
        c = x0.shape[1]
        eps = output[:, :c]
        mse = mean_flat((noise - eps) ** 2)
        if self.learn_sigma:
            frozen = torch.cat([eps.detach(), output[:, c:]], dim=1)
            vb = self.vb_terms_bpd(frozen, x0, xt, t)
        else:
            vb = torch.zeros_like(mse)
        return {"loss": mse + vb, "mse": mse, "vb": vb}
