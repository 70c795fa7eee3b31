"""Pixel-permutation study: accuracy against the number T of swapped pixel pairs, for each δ.

Paper (slides, "Study on ViT: Patchification"; ViT-B/16 on ImageNet at 224, δ = ∞): T = 0 82.8,
100 82.1, 1K 81.9, 10K 80.5, 20K 77.5, 25K 57.6 ("% is the percentage among all pixel pairs":
of the 25,088 disjoint pairs). The permutation itself: :mod:`pixelvit.data.permutation`.
Paper-scale base: ``configs/analysis/vit_b16_imagenet224.yaml``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from ..io import write_json_atomic, write_text_atomic
from ..plotting import fmt, markdown_table, pyplot, save_figure
from .study import base_config, final_accuracy, train_variant

PAPER_PAIRS = 25_088  # disjoint pixel pairs of a 224×224 image
PAPER_ACC1 = {0: 82.8, 100: 82.1, 1_000: 81.9, 10_000: 80.5, 20_000: 77.5, 25_000: 57.6}  # δ = ∞


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
) -> list[dict[str, Any]]:
    """Train T = 0 once and every (T > 0, δ) under ``out``; write ``permutation_study.{md,json,png}``."""
    path, overrides, cfg = base_config(config, overrides)
    height, width = cfg.data.img_size
    total = height * width // 2
    for t in pairs:
        if not 0 <= t <= total:
            raise ValueError(f"--pairs {t}: a {height}x{width} image has {total} disjoint pixel pairs; choose 0..{total}")
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
                }
            )
    table = format_table(rows, deltas, f"{cfg.model.name} on {cfg.data.name} ({height}x{width}, {total} disjoint pairs)")
    print("\n" + table)
    write_text_atomic(out / "permutation_study.md", table + "\n")
    write_json_atomic(out / "permutation_study.json", rows)
    plot_permutation_study(rows, deltas, out / "permutation_study.png")
    print(f"\nwrote {out / 'permutation_study.md'}, .json and .png")
    return rows


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
        + "\n\nPaper (ViT-B/16, ImageNet 224, δ=∞)\n\n| T (pairs) | % of pairs | Acc@1 |\n|---:|---:|---:|\n"
        + paper
    )


def plot_permutation_study(rows: list[dict[str, Any]], deltas: list[float | None], path: Path) -> Path:
    """Acc@1 against % of pixel pairs swapped, one line per δ (T = 0 shared); the paper's δ=∞ dashed."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.5))
    base = [r for r in rows if r["pairs"] == 0]
    for d in deltas:
        line = sorted(base + [r for r in rows if r["pairs"] > 0 and r["delta"] == d], key=lambda r: r["pairs"])
        ax.plot([r["percent"] for r in line], [r["acc1"] for r in line], "o-", label=f"δ={delta_name(d)}")
    ax.plot(
        [100 * t / PAPER_PAIRS for t in PAPER_ACC1], list(PAPER_ACC1.values()), "s--", color="grey",
        label="paper δ=∞ (ViT-B/16, IN-224)",
    )  # fmt: skip
    ax.set_xlabel("pixel pairs swapped (% of all disjoint pairs)")
    ax.set_ylabel("Acc@1 (%)")
    ax.set_title("pixel permutation study")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return save_figure(fig, path)
