"""Generation metrics with the ADM evaluator's definitions (openai/guided-diffusion ``evaluations/evaluator.py``).

* FID: Fréchet distance between Gaussians fitted (mean, ``np.cov``) to pool features of samples and
  reference; ‖μ1 − μ2‖² + Tr(Σ1 + Σ2 − 2(Σ1Σ2)^½), with scipy's ``sqrtm``.
* sFID: the same on spatial features (ADM: the first 7 channels of Inception's ``mixed_6/conv``,
  17×17×7 = 2,023 values, flattened in HWC order).
* Inception Score: exp(E_x KL(p(y|x) || p(y))), averaged over splits of 5,000 samples.
* Precision / recall (Kynkäänniemi et al.): a point is in a set's manifold when its squared
  distance to some member is at most that member's squared distance to its k-th nearest other
  member (k = 3). Precision: fraction of samples inside the reference manifold; recall: fraction
  of reference points inside the sample manifold. Distances are computed in float32 (ADM tries
  float16 first).

The feature networks live in :mod:`pixelvit.metrics.features`; this module is pure numerics.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from scipy import linalg


def feature_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, D) features -> mean (D,) and covariance (D, D), float64 (unbiased, as ``np.cov``)."""
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or len(x) < 2:
        raise ValueError(f"statistics need at least 2 feature vectors of shape (N, D), got {x.shape}")
    n, d = x.shape
    if n <= d:
        warnings.warn(
            f"FID statistics from {n} samples of {d}-dim features: the covariance is singular (rank <= {n - 1}), so "
            f"the FID is strongly biased and comparable only with FIDs from the same number of samples (the paper's "
            f"use 50,000); use more than {d} samples for a usable estimate",
            stacklevel=2,
        )
    return x.mean(axis=0), np.cov(x, rowvar=False)


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray, eps: float = 1e-6) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2) (TTUR's / ADM's computation)."""
    mu1, mu2 = np.atleast_1d(mu1).astype(np.float64), np.atleast_1d(mu2).astype(np.float64)
    sigma1, sigma2 = np.atleast_2d(sigma1).astype(np.float64), np.atleast_2d(sigma2).astype(np.float64)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
        raise ValueError(f"statistics of different feature sizes: {mu1.shape} vs {mu2.shape}")
    diff = mu1 - mu2
    with warnings.catch_warnings():  # scipy's "singular matrix" warning: handled below, in words a user can act on
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        covmean = linalg.sqrtm(sigma1 @ sigma2)
        if not np.isfinite(covmean).all():
            offset = np.eye(len(sigma1)) * eps
            covmean = linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
            warnings.warn(
                f"FID: the covariance product is singular (too few samples for the feature size?); added {eps} to the diagonals",
                stacklevel=2,
            )
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise ValueError(f"FID: the matrix square root has a large imaginary part ({np.abs(covmean.imag).max():.3g})")
        covmean = covmean.real
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def inception_score(probs: np.ndarray, split_size: int = 5000) -> float:
    """(N, K) class probabilities -> exp(mean KL(p(y|x) || p(y))), averaged over splits of ``split_size``."""
    p = np.asarray(probs, dtype=np.float64)
    scores = []
    for lo in range(0, len(p), split_size):
        part = p[lo : lo + split_size]
        marginal = part.mean(axis=0, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            kl = np.where(part > 0, part * (np.log(part) - np.log(marginal)), 0.0)
        scores.append(np.exp(kl.sum(axis=1).mean()))
    return float(np.mean(scores))


def _sq_distances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(n, D), (m, D) -> (n, m) squared Euclidean distances, clamped at 0 (ADM's formula)."""
    return (a.pow(2).sum(1, keepdim=True) - 2 * a @ b.T + b.pow(2).sum(1)[None]).clamp_min(0)


def manifold_radii(features: np.ndarray, k: int = 3, chunk: int = 10000) -> np.ndarray:
    """(N, D) -> (N,) squared distance of each point to its k-th nearest other point."""
    x = torch.as_tensor(np.asarray(features, dtype=np.float32))
    if len(x) <= k:
        raise ValueError(f"precision/recall with k={k} needs more than {k} feature vectors per set, got {len(x)}")
    radii = [torch.kthvalue(_sq_distances(x[lo : lo + chunk], x), k + 1, dim=1).values for lo in range(0, len(x), chunk)]
    return torch.cat(radii).numpy()


def _inside(points: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor, chunk: int) -> torch.Tensor:
    """(n,) whether each point lies within some centre's radius."""
    return torch.cat(
        [(_sq_distances(points[lo : lo + chunk], centres) <= radii[None]).any(1) for lo in range(0, len(points), chunk)]
    )


def precision_recall(reference: np.ndarray, samples: np.ndarray, k: int = 3, chunk: int = 10000) -> tuple[float, float]:
    """Improved precision and recall of ``samples`` against ``reference`` (both (N, D) features)."""
    ref = torch.as_tensor(np.asarray(reference, dtype=np.float32))
    gen = torch.as_tensor(np.asarray(samples, dtype=np.float32))
    ref_radii = torch.as_tensor(manifold_radii(ref.numpy(), k, chunk))
    gen_radii = torch.as_tensor(manifold_radii(gen.numpy(), k, chunk))
    precision = _inside(gen, ref, ref_radii, chunk).double().mean()
    recall = _inside(ref, gen, gen_radii, chunk).double().mean()
    return float(precision), float(recall)
