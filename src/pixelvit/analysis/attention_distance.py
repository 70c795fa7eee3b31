"""``pixelvit attention-distance``: mean attention distance and offset per layer and head of one or two
models, as a table, JSON and a plot, beside the baseline of uniform attention over the same token grid.
The measure itself: :mod:`pixelvit.metrics.attention`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..io import write_json_atomic, write_text_atomic
from ..metrics.attention import attention_statistics, distance_and_offset, token_centres
from ..plotting import figure, label_axes, markdown_table, save_figure


def uniform_baseline(grid_size: tuple[int, int], patch_size: int, max_elements: int = 2**22) -> dict[str, float]:
    """Mean attention distance and offset (input pixels) of a head that attends uniformly to every token of the grid:
    what a head with no preference for near or far tokens scores. Queries in chunks, so large grids fit."""
    pos = token_centres(tuple(grid_size), patch_size)
    tokens = len(pos)
    chunk = max(1, max_elements // tokens)
    sums = {"distance": 0.0, "offset": 0.0}
    for q0 in range(0, tokens, chunk):
        queries = pos[q0 : q0 + chunk]
        uniform = torch.full((len(queries), tokens), 1.0 / tokens, dtype=torch.float64)
        distance, offset = distance_and_offset(uniform, queries, pos)
        sums["distance"] += distance.sum().item()
        sums["offset"] += offset.sum().item()
    return {k: v / tokens for k, v in sums.items()}


def analyse_checkpoints(
    checkpoints: list[str | os.PathLike],
    out: Path,
    data: str | None = None,
    root: str | None = None,
    split: str | None = None,
    num_images: int = 64,
    batch_size: int = 16,
    device: str = "auto",
) -> tuple[list[dict[str, Any]], str]:
    """``pixelvit attention-distance``: statistics of one or two checkpoints on the same images,
    written as ``attention_distance.{json,md,png}`` under ``out``; returns them and the text to print."""
    from ..engine.device import resolve_device
    from ..engine.loading import config_for_model
    from .samples import load_images, load_vit

    results = []
    for checkpoint in checkpoints:
        model, cfg = load_vit(checkpoint)
        cfg = config_for_model(model, cfg, checkpoint, data, root, resize=True)
        images, _ = load_images(model, cfg, split, num_images)
        stats = attention_statistics(model, images, batch_size=batch_size, device=resolve_device(device))
        results.append(
            {
                "label": f"ViT/{model.patch_size} ({Path(checkpoint).name})",
                "checkpoint": str(checkpoint),
                "patch_size": model.patch_size,
                "img_size": list(model.img_size),
                "tokens": int(model.grid_size[0] * model.grid_size[1]),
                "data": cfg.data.name,
                "split": split or cfg.data.eval_split,
                "num_images": len(images),
                "distance": stats["distance"].tolist(),
                "offset": stats["offset"].tolist(),
                "uniform": uniform_baseline(model.grid_size, model.patch_size),
            }
        )
    write_json_atomic(out / "attention_distance.json", results)
    text = format_tables(results)
    write_text_atomic(out / "attention_distance.md", text + "\n")
    save_figure(figure_statistics(results), out / "attention_distance.png")
    return results, f"{text}\n\nwrote {out / 'attention_distance.md'}, .json and .png"


def format_tables(results: list[dict[str, Any]]) -> str:
    """Per model: a layer × head table of mean distance and one of mean offset (input pixels)."""
    parts = []
    for r in results:
        header = f"## {r['label']}: {r['data']}/{r['split']}, {r['num_images']} images, {r['tokens']} tokens, input pixels"
        parts.append(header)
        for key in ("distance", "offset"):
            values = np.asarray(r[key])
            heads = values.shape[1]
            rows = [[i + 1, *(f"{v:.2f}" for v in row), f"{row.mean():.2f}"] for i, row in enumerate(values)]
            title = "mean attention distance" if key == "distance" else "mean attention offset"
            parts.append(f"\n{title} (uniform attention over the same tokens: {r['uniform'][key]:.2f})\n")
            parts.append(markdown_table(["layer", *(f"head {h + 1}" for h in range(heads)), "mean"], rows))
        parts.append("")
    return "\n".join(parts).rstrip()


def figure_statistics(results: list[dict[str, Any]]) -> Any:
    """Distance (top) and offset (bottom) per head against depth, the mean over heads and the uniform-attention
    baseline (its value written on it); one column per model, shared axes from 0, one legend below."""
    cols = len(results)
    fig, axes = figure(2, cols, size=(4.2 * cols, 6.6), sharey="row")
    for c, r in enumerate(results):
        for row, key in enumerate(("distance", "offset")):
            ax, values = axes[row][c], np.asarray(r[key])
            layers = np.arange(1, values.shape[0] + 1)
            for h in range(values.shape[1]):
                ax.scatter(layers, values[:, h], s=14, alpha=0.75, color=f"C{h % 10}", label=f"head {h + 1}")
            ax.plot(layers, values.mean(axis=1), "k-", lw=1, label="mean over heads")
            uniform = r["uniform"][key]
            ax.axhline(uniform, ls="--", lw=1, color="0.5", label="uniform attention over the same tokens")
            ax.annotate(f"uniform {uniform:.2f}", (1, uniform), xycoords=("axes fraction", "data"), ha="right",
                        va="bottom", fontsize=7, color="0.35")  # fmt: skip
            title = f"{r['label']}: {r['data']}/{r['split']}, {r['num_images']} images, {r['tokens']} tokens"
            label_axes(ax, "layer (1 = first)", f"mean attention {key} (input pixels)", title)
            ax.set_xticks(layers)
    for row, key in enumerate(("distance", "offset")):  # from 0, with headroom for the baseline's label
        top = max(max(np.max(r[key]), r["uniform"][key]) for r in results)
        axes[row][0].set_ylim(0, 1.15 * top)
    widest = max(range(cols), key=lambda i: np.asarray(results[i]["distance"]).shape[1])
    handles, labels = axes[0][widest].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=min(len(labels), 6), fontsize=7)
    return fig
