"""``pixelvit demo``: the paper's claim in miniature, on scikit-learn's bundled 8×8 digits.

Same width and depth, same input size (8×8), only the patch size changes: /1 (64 pixel tokens),
/2 (16 tokens), /4 (4 tokens). Each model trains from scratch on the digits' train split and is
evaluated on the held-out test split. Writes ``table.md``, ``results.json`` and
``accuracy_vs_patch.png`` into the run directory; the plot's labels (dataset, input size, tokens,
test images) come from the runs' own config, so overrides such as ``data.name=fashion_mnist
data.img_size=[28,28]`` are labelled as what they are.

The recipe and its reasons: :data:`pixelvit.tasks.recipes.DIGITS`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..io import write_json_atomic, write_text_atomic
from ..tasks.recipes import DIGITS


def run_demo(out: Path, patch_sizes: list[int], overrides: list[str] | tuple[str, ...] = ()) -> tuple[list[dict], str]:
    """Train one model per patch size and save the comparison table; returns its rows and the text to print."""
    from ..analysis.study import evaluation_set
    from ..config import load_config
    from ..tasks.training import train_from_config

    rows = []
    for p in patch_sizes:
        run_dir = out / f"patch{p}"
        run_overrides = [*DIGITS, f"model.patch_size={p}", f"run_dir={run_dir}", *overrides]
        summary = train_from_config(None, run_overrides)
        if summary["status"] != "finished" or not (run_dir / "final" / "config.json").is_file():
            raise ValueError(
                f"the /{p} run stopped before its last epoch ({summary['status']}), so it has no final model to compare; "
                f"the demo compares finished runs: drop train.max_steps (shorten with train.epochs=N instead)"
            )
        cfg = load_config(None, run_overrides)
        model_cfg = json.loads((run_dir / "final" / "config.json").read_text())["config"]
        rows.append(
            {
                "patch_size": p,
                "tokens": (model_cfg["img_size"][0] // p) * (model_cfg["img_size"][1] // p),
                "params": _count_params(run_dir / "final"),
                "acc1": summary["final"]["acc1"],
                "train_img_s": summary["train_images_per_s"],
                "wall_s": summary["wall_time_s"],
                **evaluation_set(cfg),
            }
        )
    table = format_table(rows)
    write_text_atomic(out / "table.md", table + "\n")
    write_json_atomic(out / "results.json", rows)
    plot_accuracy(rows, out / "accuracy_vs_patch.png")
    return rows, f"\n{table}\n\nwrote {out / 'table.md'}, {out / 'results.json'} and {out / 'accuracy_vs_patch.png'}"


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


def figure_accuracy(rows: list[dict[str, Any]]) -> Any:
    """Test Acc@1 (95 % binomial intervals) against patch size, tokens under each tick, chance level; labelled
    with the dataset and input size the runs used."""
    from ..plotting import accuracy_axis, accuracy_errorbar, figure, label_axes

    first = rows[0]
    h, w = first["img_size"]
    fig, axes = figure(size=(4.6, 3.6))
    ax = axes[0, 0]
    patches = [r["patch_size"] for r in rows]
    accuracy_errorbar(ax, patches, [r["acc1"] for r in rows], first["eval_images"], label="test Acc@1")
    ax.set_xscale("log", base=2)
    ax.set_xticks(patches, [f"/{r['patch_size']}\n{r['tokens']} tok" for r in rows])
    ax.minorticks_off()
    title = f"{first['data']} {h}×{w}: pixel vs patch tokens"
    label_axes(ax, f"patch size (input fixed at {h}×{w})", f"{first['split']} Acc@1 (%)", title)
    accuracy_axis(ax, [r["acc1"] for r in rows], first["eval_images"], first["num_classes"], f"{first['split']} Acc@1 (%)")
    return fig


def plot_accuracy(rows: list[dict[str, Any]], path: Path) -> Path:
    """Write :func:`figure_accuracy` as a PNG."""
    from ..plotting import save_figure

    return save_figure(figure_accuracy(rows), path)
