"""Pixel-permutation study: one fixed permutation made of T disjoint swaps of pixel pairs within δ.

The paper (slides, "Study on ViT: Patchification") swaps T pixel pairs whose distance is at most δ
and reports accuracy against T ("% is the percentage among all pixel pairs": on 224×224, 25K pairs
are 99.6% of the 25,088 disjoint pairs). Here:

- **T counts disjoint swaps**: each pixel moves at most once, so T ≤ H·W / 2.
- **Distance is Chebyshev** (max(|Δrow|, |Δcol|) ≤ δ), i.e. the partner lies in the (2δ+1)×(2δ+1)
  window around the pixel. The paper's definition is not known (docs/paper.md; one review says "Hamming
  distance threshold"); the slides draw "within δ distance" as a window around a pixel, and a
  square window matches what patchification groups (a 16×16 patch spans Chebyshev distance 15).
  ``metric="euclidean"`` is available from Python. δ = None (or ≥ the image side) is ∞: any pair.
- **Sampling**: δ = ∞ takes a uniformly random matching of size T (a random shuffle, paired up).
  A finite δ draws pairs one at a time: a random pixel not yet moved, then a random unmoved partner
  within δ. When that greedy pass stops short of T, length-3 augmenting paths re-pair pixels to
  make room; if T swaps still cannot be found, a :class:`~pixelvit.config.ConfigError` says how
  many could be.
- **The same permutation for every image of every split**, fixed by ``data.permute_seed``: it is
  a property of the dataset, as the paper's reading ("this hurts translation equivariance") needs.
  It is applied to the whole uint8 array once at load (lazily, per image, for memory-mapped arrays
  too large to copy).
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

METRICS = ("chebyshev", "euclidean")


def window_offsets(delta: float, metric: str = "chebyshev") -> np.ndarray:
    """(K, 2) integer (Δrow, Δcol) offsets at distance in (0, δ] under ``metric``."""
    if metric not in METRICS:
        raise ValueError(f"unknown distance {metric!r}; choose one of {METRICS}")
    r = math.floor(delta)
    dr, dc = np.meshgrid(np.arange(-r, r + 1), np.arange(-r, r + 1), indexing="ij")
    dr, dc = dr.ravel(), dc.ravel()
    keep = (dr != 0) | (dc != 0)
    if metric == "euclidean":
        keep &= dr * dr + dc * dc <= delta * delta
    return np.stack([dr[keep], dc[keep]], axis=1)


def pixel_distance(a: np.ndarray, b: np.ndarray, width: int, metric: str = "chebyshev") -> np.ndarray:
    """Distance in pixels between flat pixel indices ``a`` and ``b`` of a row-major grid ``width`` wide."""
    dr = np.abs(a // width - b // width)
    dc = np.abs(a % width - b % width)
    return np.maximum(dr, dc) if metric == "chebyshev" else np.sqrt(dr * dr + dc * dc)


def _is_unbounded(size: tuple[int, int], delta: float | None, metric: str) -> bool:
    if delta is None or math.isinf(delta):
        return True
    far = max(size) - 1 if metric == "chebyshev" else math.hypot(size[0] - 1, size[1] - 1)
    return delta >= far


@functools.lru_cache(maxsize=8)
def pixel_swaps(size: tuple[int, int], pairs: int, delta: float | None, seed: int, metric: str = "chebyshev") -> np.ndarray:
    """T disjoint pixel pairs within δ: (T, 2) int64 flat indices (row-major) of an (H, W) image.

    Deterministic in ``seed``. Raises :class:`ConfigError` when T swaps within δ cannot be found.
    """
    from ..config import ConfigError

    height, width = size
    n = height * width
    if pairs < 0 or 2 * pairs > n:
        raise ConfigError(
            f"{pairs} disjoint pixel swaps need {2 * pairs} pixels, but a {height}x{width} image has {n} "
            f"(at most {n // 2} disjoint pairs); lower data.permute_pairs"
        )
    if delta is not None and delta < 1:
        raise ConfigError(f"no two pixels lie within distance {delta} < 1; set data.permute_delta >= 1 or null (any pair)")
    rng = np.random.default_rng(seed)
    if _is_unbounded(size, delta, metric):
        out = rng.permutation(n)[: 2 * pairs].reshape(pairs, 2)
    else:
        out = _local_swaps(size, pairs, float(delta), rng, metric)
    out = out.astype(np.int64)
    out.flags.writeable = False
    return out


def _local_swaps(size: tuple[int, int], pairs: int, delta: float, rng: np.random.Generator, metric: str) -> np.ndarray:
    """Greedy random matching on the "within δ" graph, then augmenting paths if it falls short of T."""
    from ..config import ConfigError

    height, width = size
    offsets = window_offsets(delta, metric)
    partner = np.full(height * width, -1, dtype=np.int64)

    def neighbours(u: int) -> np.ndarray:
        rows, cols = u // width + offsets[:, 0], u % width + offsets[:, 1]
        inside = (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)
        return rows[inside] * width + cols[inside]

    count = 0
    for u in rng.permutation(height * width):
        if count == pairs:
            break
        if partner[u] >= 0:
            continue
        free = neighbours(u)
        free = free[partner[free] < 0]
        if len(free):
            v = free[rng.integers(len(free))]
            partner[u], partner[v] = v, u
            count += 1
    improved = True
    while count < pairs and improved:  # alternating paths from each still-free pixel, until none is found
        improved = False
        for u in rng.permutation(np.flatnonzero(partner < 0)):
            if count == pairs:
                break
            if partner[u] < 0 and _augment(int(u), partner, neighbours, rng):
                count, improved = count + 1, True
    if count < pairs:
        raise ConfigError(
            f"found only {count} disjoint pixel swaps within distance {delta:g} ({metric}) on a {height}x{width} image "
            f"(greedy search with augmenting paths), not data.permute_pairs={pairs}; lower data.permute_pairs or raise "
            "data.permute_delta"
        )
    first = np.flatnonzero(partner > np.arange(len(partner)))
    return np.stack([first, partner[first]], axis=1)


def _augment(u: int, partner: np.ndarray, neighbours, rng: np.random.Generator, max_visits: int = 4096) -> bool:
    """Breadth-first search for an alternating path u - v1 = w1 - ... - x from free ``u`` to another free
    pixel ``x`` (= marks current pairs); flipping it pairs every pixel on it, one pair more. Bounded."""
    prev: dict[int, tuple[int, int] | None] = {u: None}  # outer pixel -> (previous outer pixel, its old partner)
    seen, queue = {u}, [u]
    for a in queue:
        for v in rng.permutation(neighbours(a)).tolist():
            if v in seen:
                continue
            seen.add(v)
            w = int(partner[v])
            if w < 0:  # found: pair a-x, then walk back re-pairing each outer pixel with the one before it
                link: tuple[int, int] | None = (a, v)
                while link is not None:
                    a, x = link
                    link = prev[a]
                    partner[a], partner[x] = x, a
                return True
            if w not in seen:
                seen.add(w)
                prev[w] = (a, v)
                queue.append(w)
        if len(seen) > max_visits:
            return False
    return False


def swap_permutation(size: tuple[int, int], pairs: int, delta: float | None, seed: int, metric: str = "chebyshev") -> np.ndarray:
    """(H·W,) int64 source index per output pixel: ``out.flat[k] = image.flat[perm[k]]`` (an involution)."""
    swaps = pixel_swaps(tuple(size), pairs, delta, seed, metric)
    perm = np.arange(size[0] * size[1], dtype=np.int64)
    perm[swaps[:, 0]], perm[swaps[:, 1]] = swaps[:, 1], swaps[:, 0]
    return perm


def permute_pixels(images: np.ndarray, perm: np.ndarray) -> np.ndarray | PermutedImages:
    """Apply one pixel permutation to every image of uint8 (N, C, H, W) ``images`` (all channels alike).

    In-memory arrays are permuted once, here; a memory-mapped array gives a lazy
    :class:`PermutedImages` view that permutes each image as it is read.
    """
    if isinstance(images, np.memmap):
        return PermutedImages(images, perm)
    n, c, h, w = images.shape
    return np.ascontiguousarray(images.reshape(n, c, h * w)[:, :, perm].reshape(n, c, h, w))


class PermutedImages:
    """Read-only (N, C, H, W) view of ``base`` whose images come out pixel-permuted.

    Supports what the data pipeline uses: ``len``, ``shape``/``dtype``/``ndim``, an integer index
    (one (C, H, W) image), a slice (another view), an index array, and ``np.asarray``.
    """

    def __init__(self, base: Any, perm: np.ndarray):
        self.base, self.perm = base, perm
        self.shape, self.dtype, self.ndim = tuple(base.shape), base.dtype, base.ndim

    def __len__(self) -> int:
        return self.shape[0]

    def _permute(self, images: np.ndarray) -> np.ndarray:
        *lead, h, w = images.shape
        return images.reshape(*lead, h * w)[..., self.perm].reshape(*lead, h, w)

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, slice):
            return PermutedImages(self.base[key], self.perm)
        if isinstance(key, tuple):
            raise IndexError("PermutedImages takes an index along the first axis only")
        return self._permute(np.asarray(self.base[key]))

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out = self._permute(np.asarray(self.base))
        return out if dtype is None else out.astype(dtype)
