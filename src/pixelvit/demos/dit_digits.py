"""``pixelvit dit-demo``: the image-generation pipeline end to end on a CPU, on the bundled 8×8 digits.

1. a small ViT classifier trained on the digits' train split: the feature network (the digits have
   no Inception; its numbers are not comparable with the paper's);
2. a tiny pixel-space DiT/1 (one token per pixel) trained with the reference's diffusion recipe,
   with an ``fid`` evaluator that logs a quick FID (360 samples, 25 DDIM steps) every 20 epochs;
3. as many samples as the test split has images, class labels cycling 0..9, DDPM with guidance;
4. FID, sFID (last-block tokens, 7 channels), IS, precision and recall of the samples against the
   test split, beside the same metrics of the real train split against the test split (the floor
   a perfect generator would reach with this feature network and these set sizes).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..io import write_json_atomic

DIT_OVERRIDES = [
    "task=diffusion", "model.name=dit_s/1", "model.embed_dim=64", "model.depth=4", "model.num_heads=4",
    "data.name=digits", "data.img_size=[8,8]", "diffusion.space=pixel", "diffusion.learn_sigma=true",
    "diffusion.sampling.sampler=ddpm", "diffusion.sampling.steps=250", "diffusion.sampling.cfg_scale=1.5",
    "optim.lr=1e-3", "optim.min_lr=1e-3",
    "optim.weight_decay=0.0", "train.epochs=60", "train.batch_size=64", "train.precision=fp32",
    "train.ema_decay=0.99", "train.eval_every=20", "train.log_every_steps=50",
]  # fmt: skip
FEATURE_OVERRIDES = ["model.patch_size=2", "train.epochs=30", "train.eval_every=30"]
# The evaluator during training: 360 samples (the test split's size), 25 DDIM steps, every 20 epochs.
FID_DURING_TRAINING = (
    "{{type: fid, every: 20, num_samples: 360, sampling: {{sampler: ddim, steps: ddim25}}, features: {features}, "
    "cache_dir: {cache}}}"
)


def digits_npz(split: str, path: Path) -> Path:
    """The digits split as an ADM-layout reference batch (uint8 (N, 8, 8, 3))."""
    from ..data import load_arrays
    from ..generation.sample import save_npz

    arrays = load_arrays("digits", None, split)
    images = np.repeat(arrays.images.transpose(0, 2, 3, 1), 3, axis=-1)
    save_npz(path, images, arrays.targets)
    return path


def run_dit_demo(out: Path, overrides: list[str] | tuple[str, ...] = ()) -> tuple[dict, str]:
    """Train the feature network and the DiT, sample, evaluate; writes ``results.json`` and ``samples/grid.png``.
    Returns the headline numbers and the text to print (metrics, FID during training, the files written)."""
    from ..generation.sample import SampleOptions, sample_checkpoint
    from ..metrics.features import ClassifierFeatures
    from ..metrics.sample_eval import evaluate_samples, format_metrics
    from ..tasks.recipes import DIGITS
    from ..tasks.training import train_from_config

    features_dir = out / "features"
    if not (features_dir / "final" / "config.json").is_file():
        train_from_config(None, [*DIGITS, *FEATURE_OVERRIDES, f"run_dir={features_dir}"])
    dit_dir = out / "dit"
    evals = "evals=[" + FID_DURING_TRAINING.format(features=features_dir / "final", cache=out / "fid-cache") + "]"
    summary = train_from_config(None, [*DIT_OVERRIDES, evals, f"run_dir={dit_dir}", *overrides])
    during = fid_during_training(dit_dir)
    ref = digits_npz("test", out / "digits_test.npz")
    real = digits_npz("train", out / "digits_train.npz")
    n = int(np.load(ref)["arr_1"].shape[0])
    info = sample_checkpoint(dit_dir, out / "samples", SampleOptions(num=n, classes=list(range(10)), batch_size=n), "cpu")
    net = ClassifierFeatures(features_dir / "final")
    generated = evaluate_samples(net, info["npz"], ref)
    floor = evaluate_samples(net, real, ref)
    text = "\n".join([
        "\nDiT/1 samples vs digits test split:\n" + format_metrics(generated),
        "\nreal digits (train split) vs test split, the floor for this feature network:\n" + format_metrics(floor),
        "\nFID during training (evals: fid, 360 samples, ddim25): " + ", ".join(f"epoch {e}: {v:.2f}" for e, v in during),
        f"\nwrote {out / 'results.json'} and {info['grid']}",
    ])  # fmt: skip
    result = {"samples": generated, "real_train_vs_test": floor, "dit_train": summary, "sampling": info,
              "fid_during_training": during}  # fmt: skip
    write_json_atomic(out / "results.json", result)
    return {**generated, "real_fid": floor["fid"], "grid": info["grid"], "train_wall_s": summary["wall_time_s"]}, text


def fid_during_training(run_dir: Path) -> list[tuple[int, float]]:
    """(epoch, fid/fid) of each evaluation the run's fid evaluator logged."""
    from ..engine.logging import read_metrics

    return [(int(r["epoch"]), float(r["fid/fid"])) for r in read_metrics(run_dir, "eval") if "fid/fid" in r]
