"""``pixelvit attention-distance``: mean attention distance and offset per layer and head of one or two
models, as a table, JSON and a plot. The measure itself: :mod:`pixelvit.metrics.attention`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..io import write_json_atomic, write_text_atomic
from ..metrics.attention import attention_statistics
from ..plotting import markdown_table, pyplot, save_figure


def analyse_checkpoints(
    checkpoints: list[str | os.PathLike],
    out: Path,
    data: str | None = None,
    root: str | None = None,
    split: str | None = None,
    num_images: int = 64,
    batch_size: int = 16,
    device: str = "auto",
) -> list[dict[str, Any]]:
    """``pixelvit attention-distance``: statistics of one or two checkpoints on the same images,
    written as ``attention_distance.{json,md,png}`` under ``out``."""
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
            }
        )
    write_json_atomic(out / "attention_distance.json", results)
    text = format_tables(results)
    write_text_atomic(out / "attention_distance.md", text + "\n")
    plot_statistics(results, out / "attention_distance.png")
    print(text)
    print(f"\nwrote {out / 'attention_distance.md'}, .json and .png")
    return results


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
            parts.append(f"\n{title}\n")
            parts.append(markdown_table(["layer", *(f"head {h + 1}" for h in range(heads)), "mean"], rows))
        parts.append("")
    return "\n".join(parts).rstrip()


def plot_statistics(results: list[dict[str, Any]], path: Path) -> Path:
    """Distance (top) and offset (bottom) per head against depth; one column per model, shared axes."""
    plt = pyplot()
    cols = len(results)
    fig, axes = plt.subplots(2, cols, figsize=(4 * cols, 6), sharey="row", squeeze=False)
    for c, r in enumerate(results):
        for row, key in enumerate(("distance", "offset")):
            ax, values = axes[row][c], np.asarray(r[key])
            layers = np.arange(1, values.shape[0] + 1)
            for h in range(values.shape[1]):
                ax.scatter(layers, values[:, h], s=14, alpha=0.7)
            ax.plot(layers, values.mean(axis=1), "k-", lw=1, label="mean over heads")
            ax.set_xlabel("layer")
            ax.set_ylabel(f"mean attention {key} (pixels)")
            ax.set_title(r["label"], fontsize=9)
            ax.set_xticks(layers)
        axes[0][c].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return save_figure(fig, path)
