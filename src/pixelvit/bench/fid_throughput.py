"""The FID feature pass's throughput per variant of the Inception network, and the FID each gives
(``scripts/fid_throughput.py``; the GPU check's FID row).

Two fixed sets of scikit-learn's digits (8×8 grey, the first and next N training images; the network always
sees 299×299 RGB, so the pass costs what it costs on any image size) go through each ``NAME@BATCH`` variant:
``stored`` (the TorchScript file as stored), ``folded`` (frozen, batch norms folded), each optionally ``_cl``
(channels_last inputs; ``folded_cl`` is :class:`~pixelvit.metrics.features.InceptionFeatures`' default), and
``folded_mkldnn`` (``torch.jit.optimize_for_inference``, oneDNN layouts, layer by layer) and ``folded_bf16``
(under bf16 autocast: kept only if its FID is within 1e-3 of the stored network's).
"""

from __future__ import annotations

import contextlib
import time
import warnings

import numpy as np
import torch

from ..data.digits import load_digits_arrays
from ..metrics.features import InceptionFeatures
from ..metrics.generation import feature_statistics, frechet_distance
from ..metrics.sample_eval import array_features


def digits_sets(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Two disjoint uint8 (n, 8, 8, 1) sets from the digits' training split."""
    images = load_digits_arrays(None, "train").images  # (N, 1, 8, 8) uint8
    if 2 * n > len(images):
        raise ValueError(f"--images {n}: the digits hold {len(images)} training images, at most {len(images) // 2} per set")
    nhwc = np.ascontiguousarray(np.asarray(images).transpose(0, 2, 3, 1))
    return nhwc[:n], nhwc[n : 2 * n]


def measure(variant: str, inception: str, sets: tuple[np.ndarray, np.ndarray], device: str) -> dict:
    """img/s and FID of one ``NAME@BATCH`` variant."""
    name, batch = variant.split("@")
    fold, rest = name.split("_", 1) if "_" in name else (name, "")
    if fold not in ("stored", "folded") or rest not in ("", "cl", "mkldnn", "bf16"):
        raise ValueError(f"unknown variant {name!r}: stored or folded, then nothing, _cl, _mkldnn or _bf16")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net = InceptionFeatures(inception, device=device, fold=fold == "folded")
    net.memory_format = torch.channels_last if rest == "cl" else torch.contiguous_format
    if rest == "mkldnn":  # oneDNN layouts through torch.jit.optimize_for_inference, layer by layer
        if not fold == "folded":
            raise ValueError("_mkldnn needs a folded (frozen) network: folded_mkldnn")
        net.layers = [(n, torch.jit.optimize_for_inference(layer)) for n, layer in net.layers]
        net.spatial_conv = torch.jit.optimize_for_inference(net.spatial_conv)
    precision = torch.autocast(torch.device(device).type, torch.bfloat16) if rest == "bf16" else contextlib.nullcontext()
    with precision:
        net(sets[0][: int(batch)])  # warm-up: first-call costs (TorchScript profiling, allocations)
        start = time.perf_counter()
        feats = [array_features(net, s, int(batch)).pool for s in sets]
        seconds = time.perf_counter() - start
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # fewer samples than feature dimensions: the same bias for every variant
        fid = frechet_distance(*feature_statistics(feats[0]), *feature_statistics(feats[1]))
    return {"variant": variant, "images": sum(len(s) for s in sets), "seconds": seconds,
            "img_per_s": sum(len(s) for s in sets) / seconds, "fid": fid, "pool": feats}  # fmt: skip


def compare(rows: list[dict]) -> list[dict]:
    """Adds to each row its FID's relative difference from the first row's and the largest relative difference of
    its pool features (the bar for a variant: FID within 1e-3)."""
    base = rows[0]
    for r in rows:
        r["rel_fid"] = abs(r["fid"] - base["fid"]) / abs(base["fid"])
        r["rel_pool"] = max(float(np.abs(a - b).max() / np.abs(b).max()) for a, b in zip(r["pool"], base["pool"], strict=True))
    return rows


def format_rows(rows: list[dict]) -> str:
    """The Markdown table of :func:`compare`'s rows."""
    lines = ["| variant | img/s | speed-up | FID | FID rel. diff | max rel. pool diff |", "|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['variant']} | {r['img_per_s']:.2f} | {r['img_per_s'] / rows[0]['img_per_s']:.2f}× | "
                     f"{r['fid']:.4f} | {r['rel_fid']:.1e} | {r['rel_pool']:.1e} |")  # fmt: skip
    return "\n".join(lines)
