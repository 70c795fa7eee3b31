"""Why pixel tokens were missed before: fixed sequence length versus fixed input size.

- ``fixed-length``: the token grid stays the config's (e.g. 14×14 = 196 tokens) while input size
  and patch size change together (224/16 → 14/1). Images of a fixed-size dataset are resized
  (``data.resize=true``); variable-size ones are loaded at each size (ImageNet: prepare each).
  Paper (Fig. 2a, ViT-B, ImageNet; reviewer-quoted, verify): 224/16 82.8 → 14/1 63.4, falling.
- ``fixed-input``: the input stays the config's and the patch size shrinks (more tokens).
  Paper (Fig. 2b, ViT-S, ImageNet; reviewer-quoted, verify): /16 63.7 ... /2 81.0, /1 81.8, rising.

Each mode writes ``patch_sweep_<mode>.json``; the table and plot (``patch_sweep.{md,png}``) cover
every mode found in the output folder, so running both modes draws both curves. The paper's points
are drawn (hollow, unconnected, only at the patch sizes it reports) when the run is on ImageNet;
on any other dataset they would share an axis with numbers they cannot be compared with.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..io import write_json_atomic, write_text_atomic
from ..plotting import accuracy_axis, accuracy_errorbar, figure, fmt, label_axes, markdown_table, note, save_figure
from .study import base_config, evaluation_set, final_accuracy, model_text, paper_comparable, paper_note, train_variant

MODES = ("fixed-length", "fixed-input")
PAPER_ACC1 = {"fixed-length": {16: 82.8, 1: 63.4}, "fixed-input": {16: 63.7, 2: 81.0, 1: 81.8}}
PAPER = "ImageNet; fixed-length ViT-B, fixed-input ViT-S (reviewer-quoted end points)"


def sweep_points(mode: str, img_size: list[int], patch: int, patch_sizes: list[int], grid: int | None = None) -> list[dict]:
    """The (patch size, input size, token grid) of each point; errors before any training."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
    points = []
    for p in patch_sizes:
        if p < 1:
            raise ValueError(f"patch size {p} must be >= 1")
        if mode == "fixed-input":
            if img_size[0] % p or img_size[1] % p:
                raise ValueError(f"patch size {p} does not divide the {img_size[0]}x{img_size[1]} input; pick divisors")
            size = list(img_size)
        else:
            if grid is None and (img_size[0] % patch or img_size[1] % patch):
                raise ValueError(f"the config's patch size {patch} does not divide its {img_size} input; pass --grid")
            g = [grid, grid] if grid is not None else [img_size[0] // patch, img_size[1] // patch]
            size = [g[0] * p, g[1] * p]
        points.append({"patch_size": p, "img_size": size, "tokens": (size[0] // p) * (size[1] // p)})
    return points


def run_patch_sweep(
    config: str,
    out: Path,
    mode: str,
    patch_sizes: list[int],
    grid: int | None = None,
    overrides: list[str] | tuple[str, ...] = (),
) -> tuple[list[dict[str, Any]], str]:
    """Train one run per patch size under ``out/<mode>/p<p>``; write the table and the plot.
    Returns the rows and the text for the command to print (the table, the files written)."""
    from ..models.registry import decode_variant

    path, overrides, cfg = base_config(config, overrides)
    patch = cfg.model.patch_size or decode_variant(cfg.model.name)[1]["patch_size"]
    points = sweep_points(mode, cfg.data.img_size, patch, patch_sizes, grid)
    facts = {"model": model_text(cfg), **evaluation_set(cfg), "paper_comparable": paper_comparable(cfg, "imagenet")}
    facts.pop("img_size")  # each point has its own input size
    rows = []
    for pt in points:
        p, size = pt["patch_size"], pt["img_size"]
        variant = [f"model.patch_size={p}", f"data.img_size=[{size[0]},{size[1]}]"]
        if mode == "fixed-length":
            variant.append("data.resize=true")
            if cfg.data.source_size is not None:  # the crop source keeps its ratio to the input size (256/224 -> 16/14)
                variant.append(f"data.source_size={max(size[0], round(cfg.data.source_size * size[0] / cfg.data.img_size[0]))}")
        run_dir = out / mode / f"p{p}"
        summary = train_variant(path, overrides, run_dir, variant)
        paper = PAPER_ACC1[mode].get(p)
        rows.append({**pt, "mode": mode, "acc1": final_accuracy(summary), "paper_acc1": paper, "run_dir": str(run_dir), **facts})
    write_json_atomic(out / f"patch_sweep_{mode}.json", rows)
    everything = load_sweeps(out)
    table = format_table(everything, f"{model_text(cfg)} on {cfg.data.name}")
    write_text_atomic(out / "patch_sweep.md", table + "\n")
    save_figure(figure_patch_sweep(everything), out / "patch_sweep.png")
    return rows, f"\n{table}\n\nwrote {out / 'patch_sweep.md'}, patch_sweep_{mode}.json and patch_sweep.png"


def load_sweeps(out: Path) -> list[dict[str, Any]]:
    """Rows of every mode already swept in ``out``."""
    rows: list[dict[str, Any]] = []
    for mode in MODES:
        path = out / f"patch_sweep_{mode}.json"
        if path.is_file():
            rows += json.loads(path.read_text())
    return rows


def format_table(rows: list[dict[str, Any]], what: str) -> str:
    cells = [
        [
            r["mode"],
            f"/{r['patch_size']}",
            f"{r['img_size'][0]}x{r['img_size'][1]}",
            r["tokens"],
            fmt(r["acc1"]),
            fmt(r["paper_acc1"]),
        ]
        for r in rows
    ]
    headers = ["mode", "patch", "input", "tokens", "Acc@1 (%)", "paper Acc@1 (%, ImageNet)"]
    return f"Patch-size sweeps, {what}; paper: {PAPER}, — where it reports none\n\n" + markdown_table(headers, cells, "lrrrrr")


def figure_patch_sweep(rows: list[dict[str, Any]]) -> Any:
    """One panel per mode side by side, as the paper's Fig. 2 (a: fixed sequence length, b: fixed input size):
    Acc@1 (95 % binomial intervals) against patch size (log scale, largest left), each tick naming the input
    size (fixed-length) or the token count (fixed-input), chance level, one shared y-axis; the paper's points
    hollow and unconnected, only on ImageNet."""
    modes = [m for m in MODES if any(r["mode"] == m for r in rows)]
    fig, axes = figure(ncols=len(modes), size=(5.0 * len(modes), 3.8), sharey=True)
    first = rows[0]
    drawn = bool(first.get("paper_comparable"))
    values: list[float | None] = [r["acc1"] for r in rows]
    if drawn:
        values += [a for m in modes for a in PAPER_ACC1[m].values()]
    for i, mode in enumerate(modes):
        ax = axes[0, i]
        line = sorted((r for r in rows if r["mode"] == mode), key=lambda r: -r["patch_size"])
        fixed = f"{line[0]['tokens']} tokens" if mode == "fixed-length" else f"{_size(line[0])} input"
        accuracy_errorbar(ax, [r["patch_size"] for r in line], [r["acc1"] for r in line], first.get("eval_images"),
                          color=f"C{i}", label=f"{mode} ({fixed})")  # fmt: skip
        ticks = {r["patch_size"]: _tick(r) for r in line}
        if drawn:
            paper = sorted(PAPER_ACC1[mode].items(), reverse=True)
            ax.plot([p for p, _ in paper], [a for _, a in paper], "o", mfc="none", color=f"C{i}", label=f"paper {mode}")
            ticks = {p: f"/{p}" for p, _ in paper} | ticks
        ax.set_xscale("log", base=2)
        ax.set_xlim(max(ticks) * 1.4, min(ticks) / 1.4)  # largest patch left
        ax.set_xticks(sorted(ticks), [ticks[p] for p in sorted(ticks)])
        ax.minorticks_off()
        varies = "input size" if mode == "fixed-length" else "tokens"
        label_axes(ax, f"patch size (log scale) and {varies}", "Acc@1 (%)" if i == 0 else "",
                   f"({'ab'[i]}) {mode}: {fixed}")  # fmt: skip
        accuracy_axis(ax, values, first.get("eval_images"), first.get("num_classes"),
                      ylabel="Acc@1 (%)" if i == 0 else "", where="below")  # fmt: skip  # the legend: below the panel
    fig.suptitle(f"fixed sequence length vs fixed input size: {first.get('data', '')} (base {first.get('model', '')})",
                 fontsize=9)  # fmt: skip
    note(fig, paper_note(drawn, PAPER, f"{first.get('data')}, {first.get('eval_images')} {first.get('split', 'test')} images"))
    return fig


def _tick(row: dict[str, Any]) -> str:
    """A patch-size tick with what changes with it: the input size (fixed-length) or the tokens (fixed-input)."""
    changes = _size(row) if row["mode"] == "fixed-length" else f"{row['tokens']} tok"
    return f"/{row['patch_size']}\n{changes}"


def _size(row: dict[str, Any]) -> str:
    return f"{row['img_size'][0]}×{row['img_size'][1]}"
