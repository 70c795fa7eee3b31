"""Position-embedding study: the same config trained with sin-cos, learned and no position embedding.

Paper (slides, "Study on ViT: Position Embedding"; ViT-B/16 on ImageNet at 224): sin-cos 82.7,
learned 82.8, none 81.2, "only a minor drop even without any position embedding".
Paper-scale base: ``configs/analysis/vit_b16_imagenet224.yaml``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..io import write_json_atomic, write_text_atomic
from ..plotting import fmt, markdown_table, pyplot, save_figure
from .study import base_config, final_accuracy, train_variant

VARIANTS = ("sincos", "learned", "none")
PAPER_ACC1 = {"sincos": 82.7, "learned": 82.8, "none": 81.2}


def run_pe_study(
    config: str, out: Path, variants: list[str] | tuple[str, ...] = VARIANTS, overrides: list[str] | tuple[str, ...] = ()
) -> list[dict[str, Any]]:
    """Train one run per ``model.pos_embed`` variant under ``out/pe_<variant>``; write the table and plot."""
    for v in variants:
        if v not in VARIANTS:
            raise ValueError(f"unknown position embedding {v!r}; choose from {', '.join(VARIANTS)}")
    path, overrides, cfg = base_config(config, overrides)
    rows = []
    for v in variants:
        summary = train_variant(path, overrides, out / f"pe_{v}", [f"model.pos_embed={v}"])
        rows.append(
            {"pos_embed": v, "acc1": final_accuracy(summary), "paper_acc1": PAPER_ACC1[v], "run_dir": str(out / f"pe_{v}")}
        )
    table = format_table(rows, f"{cfg.model.name} on {cfg.data.name}")
    print("\n" + table)
    write_text_atomic(out / "pe_study.md", table + "\n")
    write_json_atomic(out / "pe_study.json", rows)
    plot_pe_study(rows, out / "pe_study.png")
    print(f"\nwrote {out / 'pe_study.md'}, .json and .png")
    return rows


def format_table(rows: list[dict[str, Any]], what: str) -> str:
    cells = [[r["pos_embed"], fmt(r["acc1"]), fmt(r["paper_acc1"])] for r in rows]
    return f"Position embedding, {what} (paper: ViT-B/16, ImageNet 224)\n\n" + markdown_table(
        ["position embedding", "Acc@1 (%)", "paper Acc@1 (%)"], cells
    )


def plot_pe_study(rows: list[dict[str, Any]], path: Path) -> Path:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(4, 3))
    x = range(len(rows))
    ax.bar([i - 0.2 for i in x], [r["acc1"] or 0 for r in rows], width=0.4, label="this run")
    ax.bar([i + 0.2 for i in x], [r["paper_acc1"] for r in rows], width=0.4, label="paper (ViT-B/16, IN-224)", color="grey")
    ax.set_xticks(list(x), [r["pos_embed"] for r in rows])
    ax.set_ylabel("Acc@1 (%)")
    ax.set_title("position embedding study")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return save_figure(fig, path)
