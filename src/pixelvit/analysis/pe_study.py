"""Position-embedding study: the same config trained with sin-cos, learned and no position embedding.

Paper (slides, "Study on ViT: Position Embedding"; ViT-B/16 on ImageNet at 224): sin-cos 82.7,
learned 82.8, none 81.2, "only a minor drop even without any position embedding".
Paper-scale base: ``configs/analysis/vit_b16_imagenet224.yaml``. The paper's bars are drawn beside
this run's only when the run is on ImageNet at 224×224 too; otherwise the plot says why not.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..io import write_json_atomic, write_text_atomic
from ..plotting import accuracy_axis, binomial_yerr, figure, fmt, label_axes, markdown_table, note, save_figure
from .study import base_config, evaluation_set, final_accuracy, model_text, paper_comparable, paper_note, train_variant

VARIANTS = ("sincos", "learned", "none")
PAPER_ACC1 = {"sincos": 82.7, "learned": 82.8, "none": 81.2}
PAPER = "ViT-B/16, ImageNet 224×224"


def run_pe_study(
    config: str, out: Path, variants: list[str] | tuple[str, ...] = VARIANTS, overrides: list[str] | tuple[str, ...] = ()
) -> tuple[list[dict[str, Any]], str]:
    """Train one run per ``model.pos_embed`` variant under ``out/pe_<variant>``; write the table and plot.
    Returns the rows and the text for the command to print (the table, the files written)."""
    for v in variants:
        if v not in VARIANTS:
            raise ValueError(f"unknown position embedding {v!r}; choose from {', '.join(VARIANTS)}")
    path, overrides, cfg = base_config(config, overrides)
    facts = {"model": model_text(cfg), **evaluation_set(cfg), "paper_comparable": paper_comparable(cfg, "imagenet", [224, 224])}
    rows = []
    for v in variants:
        run_dir = out / f"pe_{v}"
        summary = train_variant(path, overrides, run_dir, [f"model.pos_embed={v}"])
        acc1 = final_accuracy(summary)
        rows.append({"pos_embed": v, "acc1": acc1, "paper_acc1": PAPER_ACC1[v], "run_dir": str(run_dir), **facts})
    table = format_table(rows)
    write_text_atomic(out / "pe_study.md", table + "\n")
    write_json_atomic(out / "pe_study.json", rows)
    save_figure(figure_pe_study(rows), out / "pe_study.png")
    return rows, f"\n{table}\n\nwrote {out / 'pe_study.md'}, .json and .png"


def describe_run(row: dict[str, Any]) -> str:
    """``vit_t/1 on digits 8×8 (360 test images)``: what a study row was trained and measured on."""
    h, w = row["img_size"]
    return f"{row['model']} on {row['data']} {h}×{w} ({row['eval_images']} {row['split']} images)"


def format_table(rows: list[dict[str, Any]]) -> str:
    cells = [[r["pos_embed"], fmt(r["acc1"]), fmt(r["paper_acc1"])] for r in rows]
    return f"Position embedding, {describe_run(rows[0])}; paper column: {PAPER}\n\n" + markdown_table(
        ["position embedding", "Acc@1 (%)", f"paper Acc@1 (%, {PAPER})"], cells
    )


def figure_pe_study(rows: list[dict[str, Any]]) -> Any:
    """Acc@1 per position embedding with 95 % binomial intervals and chance; the paper's bars only on its scale."""
    fig, axes = figure(size=(4.5, 3.4))
    ax, first = axes[0, 0], rows[0]
    x = list(range(len(rows)))
    drawn = first["paper_comparable"]
    width = 0.38 if drawn else 0.6
    shift = -width / 2 if drawn else 0.0
    n = first["eval_images"]
    acc = [r["acc1"] for r in rows]
    ax.bar([i + shift for i in x], [a or 0 for a in acc], width=width, color="C0", label="this run",
           yerr=binomial_yerr(acc, n) if n else None, capsize=3)  # fmt: skip
    values = list(acc)
    if drawn:
        paper = [r["paper_acc1"] for r in rows]
        ax.bar([i + width / 2 for i in x], paper, width=width, facecolor="none", edgecolor="0.4", hatch="//", label=PAPER)
        values += paper
    ax.set_xticks(x, [r["pos_embed"] for r in rows])
    label_axes(ax, "position embedding (model.pos_embed)", "Acc@1 (%)", f"position embedding study: {describe_run(first)}")
    accuracy_axis(ax, values, n, first["num_classes"])
    note(fig, paper_note(drawn, f"{PAPER}: 82.7 / 82.8 / 81.2", f"{first['data']} {first['img_size'][0]}×{first['img_size'][1]}"))
    return fig
