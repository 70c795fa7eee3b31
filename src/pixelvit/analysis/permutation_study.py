"""Pixel-permutation study: accuracy against the number T of swapped pixel pairs, for each δ.

Paper (slides, "Study on ViT: Patchification"; ViT-B/16 on ImageNet at 224, δ = ∞): T = 0 82.8,
100 82.1, 1K 81.9, 10K 80.5, 20K 77.5, 25K 57.6 ("% is the percentage among all pixel pairs":
of the 25,088 disjoint pairs). The permutation itself: :mod:`pixelvit.data.permutation`.
Paper-scale base: ``configs/analysis/vit_b16_imagenet224.yaml``. The paper's curve is drawn only
when the run is on ImageNet at 224×224 too; otherwise the plot says why not.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from ..io import write_json_atomic, write_text_atomic
from ..plotting import accuracy_axis, accuracy_errorbar, figure, fmt, label_axes, markdown_table, note, save_figure
from .study import base_config, evaluation_set, final_accuracy, model_text, paper_comparable, paper_note, train_variant

PAPER_PAIRS = 25_088  # disjoint pixel pairs of a 224×224 image
PAPER_ACC1 = {0: 82.8, 100: 82.1, 1_000: 81.9, 10_000: 80.5, 20_000: 77.5, 25_000: 57.6}  # δ = ∞
PAPER = "ViT-B/16, ImageNet 224×224, δ=∞"


def parse_delta(text: str) -> float | None:
    """``"4"`` -> 4.0, ``"inf"`` -> None (any distance)."""
    text = text.strip().lower()
    if text in ("inf", "infinity", "none", "null", "∞"):
        return None
    value = float(text)
    return None if math.isinf(value) else value


def delta_name(delta: float | None) -> str:
    return "inf" if delta is None else f"{delta:g}"


def run_permutation_study(
    config: str,
    out: Path,
    pairs: list[int],
    deltas: list[float | None],
    overrides: list[str] | tuple[str, ...] = (),
) -> tuple[list[dict[str, Any]], str]:
    """Train T = 0 once and every (T > 0, δ) under ``out``; write ``permutation_study.{md,json,png}``.
    Returns the rows and the text for the command to print (the table, the files written)."""
    path, overrides, cfg = base_config(config, overrides)
    height, width = cfg.data.img_size
    total = height * width // 2
    for t in pairs:
        if not 0 <= t <= total:
            raise ValueError(f"--pairs {t}: a {height}x{width} image has {total} disjoint pixel pairs; choose 0..{total}")
    facts = {"model": model_text(cfg), **evaluation_set(cfg), "paper_comparable": paper_comparable(cfg, "imagenet", [224, 224])}
    rows = []
    for t in sorted(set(pairs)):
        for delta in [None] if t == 0 else deltas:
            name = "T0" if t == 0 else f"T{t}_d{delta_name(delta)}"
            variant = [f"data.permute_pairs={t}", f"data.permute_delta={'null' if delta is None else delta}"]
            summary = train_variant(path, overrides, out / name, variant)
            rows.append(
                {
                    "pairs": t,
                    "delta": delta,
                    "percent": 100.0 * t / total,
                    "acc1": final_accuracy(summary),
                    "run_dir": str(out / name),
                    **facts,
                }
            )
    table = format_table(rows, deltas, f"{model_text(cfg)} on {cfg.data.name} ({height}x{width}, {total} disjoint pairs)")
    write_text_atomic(out / "permutation_study.md", table + "\n")
    write_json_atomic(out / "permutation_study.json", rows)
    save_figure(figure_permutation_study(rows, deltas), out / "permutation_study.png")
    return rows, f"\n{table}\n\nwrote {out / 'permutation_study.md'}, .json and .png"


def format_table(rows: list[dict[str, Any]], deltas: list[float | None], what: str) -> str:
    """Rows: T (and its % of all disjoint pairs); columns: Acc@1 per δ; the paper's δ=∞ row beside."""
    acc = {(r["pairs"], r["delta"]): r["acc1"] for r in rows}
    base = acc.get((0, None))
    cells = []
    for t in sorted({r["pairs"] for r in rows}):
        percent = next(r["percent"] for r in rows if r["pairs"] == t)
        cells.append([t, f"{percent:.1f}", *(fmt(base if t == 0 else acc.get((t, d))) for d in deltas)])
    headers = ["T (pairs)", "% of pairs", *(f"Acc@1 δ={delta_name(d)}" for d in deltas)]
    paper = "\n".join(f"| {t:,} | {100 * t / PAPER_PAIRS:.1f} | {a} |" for t, a in PAPER_ACC1.items())
    return (
        f"Pixel permutation, {what}; δ is a Chebyshev distance in pixels\n\n"
        + markdown_table(headers, cells)
        + f"\n\nPaper ({PAPER})\n\n| T (pairs) | % of pairs | Acc@1 |\n|---:|---:|---:|\n"
        + paper
    )


def figure_permutation_study(rows: list[dict[str, Any]], deltas: list[float | None]) -> Any:
    """Acc@1 (95 % binomial intervals) against % of pixel pairs swapped, one line per δ (T = 0 shared), chance
    level; the paper's δ=∞ curve only when the run is on its scale (ImageNet 224×224)."""
    fig, axes = figure(size=(5.2, 3.8))
    ax, first = axes[0, 0], rows[0]
    n, drawn = first.get("eval_images"), bool(first.get("paper_comparable"))
    base = [r for r in rows if r["pairs"] == 0]
    values: list[float | None] = []
    for d in deltas:
        line = sorted(base + [r for r in rows if r["pairs"] > 0 and r["delta"] == d], key=lambda r: r["pairs"])
        label = "δ=∞ (any pair)" if d is None else f"δ={d:g} px"
        accuracy_errorbar(ax, [r["percent"] for r in line], [r["acc1"] for r in line], n, label=label)
        values += [r["acc1"] for r in line]
    if drawn:
        ax.plot([100 * t / PAPER_PAIRS for t in PAPER_ACC1], list(PAPER_ACC1.values()), "s--", mfc="none", color="0.4",
                label=f"paper ({PAPER})")  # fmt: skip
        values += list(PAPER_ACC1.values())
    h, w = first.get("img_size", ["?", "?"])
    what = f"{first.get('model', '')} on {first.get('data', '')} {h}×{w}"
    label_axes(ax, f"pixel pairs swapped (% of the {h}×{w} image's disjoint pairs)", "Acc@1 (%)",
               f"pixel permutation study: {what}")  # fmt: skip
    accuracy_axis(ax, values, n, first.get("num_classes"))
    note(fig, paper_note(drawn, PAPER, f"{first.get('data')} {h}×{w}"))
    return fig
