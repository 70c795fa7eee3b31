"""``pixelvit demo``: the paper's claim in miniature, on scikit-learn's bundled 8×8 digits.

Same width and depth, same input size (8×8), only the patch size changes: /1 (64 pixel tokens),
/2 (16 tokens), /4 (4 tokens). Each model trains from scratch on the digits' train split and is
evaluated on the held-out test split. Writes ``table.md``, ``results.json`` and
``accuracy_vs_patch.png`` into the run directory.

The recipe and its reasons: :data:`pixelvit.tasks.recipes.DIGITS`.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..io import write_json_atomic, write_text_atomic
from ..tasks.recipes import DIGITS


def run_demo(out: Path, patch_sizes: list[int], overrides: list[str] | tuple[str, ...] = ()) -> list[dict]:
    """Train one model per patch size; print and save the comparison table."""
    from ..tasks.training import train_from_config

    rows = []
    for p in patch_sizes:
        run_dir = out / f"patch{p}"
        summary = train_from_config(None, [*DIGITS, f"model.patch_size={p}", f"run_dir={run_dir}", *overrides])
        model_cfg = json.loads((run_dir / "final" / "config.json").read_text())["config"]
        rows.append(
            {
                "patch_size": p,
                "tokens": (model_cfg["img_size"][0] // p) * (model_cfg["img_size"][1] // p),
                "params": _count_params(run_dir / "final"),
                "acc1": summary["final"]["acc1"],
                "train_img_s": summary["train_images_per_s"],
                "wall_s": summary["wall_time_s"],
            }
        )
    table = format_table(rows)
    print("\n" + table)
    write_text_atomic(out / "table.md", table + "\n")
    write_json_atomic(out / "results.json", rows)
    plot_accuracy(rows, out / "accuracy_vs_patch.png")
    print(f"\nwrote {out / 'table.md'}, {out / 'results.json'} and {out / 'accuracy_vs_patch.png'}")
    return rows


def _count_params(model_dir: Path) -> int:
    """Trainable parameters of a saved model."""
    from ..models.hub import from_pretrained

    return sum(p.numel() for p in from_pretrained(model_dir).parameters())


def format_table(rows: list[dict]) -> str:
    from ..plotting import markdown_table

    headers = ["patch", "tokens", "params", "Acc@1 (%)", "train img/s", "wall (s)"]
    cells = [[f"/{r['patch_size']}", r["tokens"], f"{r['params']:,}", f"{r['acc1']:.1f}", f"{r['train_img_s']:.0f}",
              f"{r['wall_s']:.0f}"] for r in rows]  # fmt: skip
    return markdown_table(headers, cells, align="r" * len(headers))


def plot_accuracy(rows: list[dict], path: Path) -> None:
    from ..plotting import pyplot, save_figure

    fig, ax = pyplot().subplots(figsize=(4, 3))
    ax.plot([r["patch_size"] for r in rows], [r["acc1"] for r in rows], "o-")
    ax.set_xscale("log", base=2)
    ax.set_xticks([r["patch_size"] for r in rows], [f"/{r['patch_size']}" for r in rows])
    ax.set_xlabel("patch size (input fixed at 8×8)")
    ax.set_ylabel("test Acc@1 (%)")
    ax.set_title("digits: pixel vs patch tokens")
    save_figure(fig, path)
