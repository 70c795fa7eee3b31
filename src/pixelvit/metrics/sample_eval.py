"""Evaluate a sample batch against a reference batch, both ``.npz`` files in the ADM layout.

An ``.npz`` holds ``arr_0``: uint8 (N, H, W, C) images (what ``pixelvit sample`` writes and what the
ADM evaluator reads). Arrays are streamed in batches, never loaded whole. A reference's statistics
and pool features are cached as an ``.npz`` keyed by the reference file's SHA-256 and the feature
network, written atomically. A reference that carries ``mu``/``sigma`` (and ``mu_s``/``sigma_s``),
as ADM's ImageNet reference batches do (statistics of the whole training set), is used as ADM uses
it, when the network is Inception and the sizes agree.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from ..io import atomic_path
from .features import ClassifierFeatures, Features, InceptionFeatures, file_digest
from .generation import feature_statistics, frechet_distance, inception_score, precision_recall

FeatureNet = InceptionFeatures | ClassifierFeatures


@contextlib.contextmanager
def _npy_member(path: Path, key: str) -> Iterator[tuple[object, tuple[int, ...], np.dtype]]:
    """Open ``key``.npy inside an .npz: (file object positioned at the data, shape, dtype)."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"{path} not found")
    with zipfile.ZipFile(path) as z:
        if f"{key}.npy" not in z.namelist():
            raise ValueError(f"{path} has no {key!r} array (it has {', '.join(n[:-4] for n in z.namelist())})")
        with z.open(f"{key}.npy") as f:
            version = np.lib.format.read_magic(f)
            readers = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
            if version not in readers:
                raise ValueError(f"{path}:{key} uses .npy format {version}, which is not supported; re-save it with numpy")
            shape, fortran, dtype = readers[version](f)
            if fortran or dtype.hasobject:
                raise ValueError(f"{path}:{key} must be a C-ordered numeric array")
            yield f, shape, dtype


def npz_shape(path: str | os.PathLike, key: str = "arr_0") -> tuple[int, ...]:
    with _npy_member(Path(path), key) as (_, shape, _dtype):
        return tuple(shape)


def iter_npz_batches(path: str | os.PathLike, key: str = "arr_0", batch_size: int = 64) -> Iterator[np.ndarray]:
    """Batches of ``path``'s ``key`` array along its first axis, read from the zip stream."""
    with _npy_member(Path(path), key) as (f, shape, dtype):
        row = int(np.prod(shape[1:])) * dtype.itemsize
        for lo in range(0, shape[0], batch_size):
            n = min(batch_size, shape[0] - lo)
            data = f.read(n * row)
            if len(data) != n * row:
                raise ValueError(f"{path}:{key} is truncated")
            yield np.frombuffer(data, dtype=dtype).reshape(n, *shape[1:])


def compute_features(net: FeatureNet, path: str | os.PathLike, batch_size: int = 64, progress: bool = False) -> Features:
    """Features of every image in ``path`` (uint8 NHWC ``arr_0``)."""
    shape = npz_shape(path)
    if len(shape) != 4 or shape[-1] not in (1, 3):
        raise ValueError(f"{path}: arr_0 must be uint8 images (N, H, W, 1 or 3), got shape {shape}")
    batches = iter_npz_batches(path, "arr_0", batch_size)
    if progress:
        from tqdm.auto import tqdm

        batches = tqdm(
            batches, total=-(-shape[0] // batch_size), desc=f"features of {Path(path).name}", leave=False, disable=None
        )
    return concat_features([net(b) for b in batches])


def array_features(net: FeatureNet, images: np.ndarray, batch_size: int = 64) -> Features:
    """Features of in-memory uint8 (N, H, W, 1 or 3) images."""
    return concat_features([net(images[lo : lo + batch_size]) for lo in range(0, len(images), batch_size)])


def concat_features(parts: list[Features]) -> Features:
    """One :class:`Features` from per-batch ones."""

    def cat(name: str) -> np.ndarray | None:
        values = [getattr(p, name) for p in parts]
        return None if values[0] is None else np.concatenate(values)

    return Features(cat("pool"), cat("spatial"), cat("logits"))


def feature_set_statistics(feats: Features) -> dict[str, np.ndarray]:
    """{"pool", "mu", "sigma"} and, with spatial features, {"mu_s", "sigma_s"} of a feature set."""
    stats = {"pool": feats.pool}
    stats["mu"], stats["sigma"] = feature_statistics(feats.pool)
    if feats.spatial is not None:
        stats["mu_s"], stats["sigma_s"] = feature_statistics(feats.spatial)
    return stats


def _cached(cache: Path | None, compute: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """``compute()``'s statistics, read from ``cache`` when it exists and written there (atomically) when not."""
    if cache is not None and cache.is_file():
        with np.load(cache, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    stats = compute()
    if cache is not None:
        with atomic_path(cache) as tmp, open(tmp, "wb") as f:
            np.savez(f, **stats)
    return stats


def reference_statistics(
    net: FeatureNet, ref_path: str | os.PathLike, cache_dir: str | os.PathLike | None = None, batch_size: int = 64, progress=False
) -> dict[str, np.ndarray]:
    """:func:`feature_set_statistics` of a reference batch file (cached)."""
    ref_path = Path(ref_path)
    cache = None
    if cache_dir is not None:
        cache = Path(cache_dir) / f"{ref_path.stem}-{file_digest(ref_path)[:16]}-{net.fingerprint}.npz"

    def compute() -> dict[str, np.ndarray]:
        stats = feature_set_statistics(compute_features(net, ref_path, batch_size, progress))
        if isinstance(net, InceptionFeatures):
            with np.load(ref_path, allow_pickle=False) as z:
                for key in ("mu", "sigma", "mu_s", "sigma_s"):
                    if key in z.files and key in stats and z[key].shape == stats[key].shape:
                        stats[key] = z[key]  # ADM: the reference's own (whole training set) statistics
        return stats

    return _cached(cache, compute)


def array_statistics(
    net: FeatureNet, images: np.ndarray, name: str, cache_dir: str | os.PathLike | None = None, batch_size: int = 64
) -> dict[str, np.ndarray]:
    """:func:`feature_set_statistics` of uint8 (N, H, W, C) ``images`` (e.g. an evaluation split), cached in
    ``cache_dir`` under ``name`` (say, dataset-split-HxW), the images' SHA-256 and the network's fingerprint: a
    resumed run, or another run on the same split, reads them instead of running the network again."""
    cache = None
    if cache_dir is not None:
        digest = hashlib.sha256(np.ascontiguousarray(images).data).hexdigest()[:16]
        cache = Path(cache_dir).expanduser() / f"{name}-{digest}-{net.fingerprint}.npz"
    return _cached(cache, lambda: feature_set_statistics(array_features(net, images, batch_size)))


def score_samples(feats: Features, ref: dict[str, np.ndarray]) -> dict[str, float | int | None]:
    """FID, sFID, Inception Score, precision and recall of sample features against reference statistics."""
    mu, sigma = feature_statistics(feats.pool)
    result: dict[str, float | int | None] = {"fid": frechet_distance(mu, sigma, ref["mu"], ref["sigma"])}
    result["sfid"] = None
    if feats.spatial is not None and "mu_s" in ref:
        mu_s, sigma_s = feature_statistics(feats.spatial)
        result["sfid"] = frechet_distance(mu_s, sigma_s, ref["mu_s"], ref["sigma_s"])
    result["inception_score"] = None
    if feats.logits is not None:
        logits = feats.logits.astype(np.float64)
        probs = np.exp(logits - logits.max(axis=1, keepdims=True))
        result["inception_score"] = inception_score(probs / probs.sum(axis=1, keepdims=True))
    result["precision"], result["recall"] = precision_recall(ref["pool"], feats.pool)
    result.update(num_samples=len(feats.pool), num_reference=len(ref["pool"]))
    return result


def require_batches(samples_path: str | os.PathLike, ref_path: str | os.PathLike) -> None:
    """A FileNotFoundError naming the sample or reference batch that is missing."""
    for what, path in (("sample batch", samples_path), ("reference batch", ref_path)):
        if not Path(path).is_file():
            raise FileNotFoundError(f"{what} {path} does not exist (expected an .npz with arr_0: uint8 N x H x W x 3)")


def evaluate_samples(
    net: FeatureNet,
    samples_path: str | os.PathLike,
    ref_path: str | os.PathLike,
    cache_dir: str | os.PathLike | None = None,
    batch_size: int = 64,
    progress: bool = False,
) -> dict[str, float | int | str | None]:
    """FID, sFID, Inception Score, precision and recall of a sample batch against a reference batch."""
    require_batches(samples_path, ref_path)
    ref = reference_statistics(net, ref_path, cache_dir, batch_size, progress)
    return {**score_samples(compute_features(net, samples_path, batch_size, progress), ref), "features": net.name}


def format_metrics(result: dict) -> str:
    """One line per metric, and which network produced them."""
    lines = [f"features: {result['features']}", f"samples: {result['num_samples']}, reference: {result['num_reference']}"]
    for key, label in [
        ("fid", "FID"),
        ("sfid", "sFID"),
        ("inception_score", "IS"),
        ("precision", "precision"),
        ("recall", "recall"),
    ]:
        value = result.get(key)
        lines.append(f"{label}: {'n/a' if value is None else f'{value:.4f}'}")
    if result.get("sfid") is None:
        lines.append("(sFID needs spatial features; IS needs a classifier: see pixelvit fid --help)")
    return "\n".join(lines)
