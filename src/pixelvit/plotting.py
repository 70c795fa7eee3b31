"""The house plotting style: figures without a display (no pyplot state), labelled axes with units, colour bars,
legends, chance levels and test-set resolution on accuracy plots; PNGs written atomically; Markdown tables."""

from __future__ import annotations

import math
import numbers
from pathlib import Path
from typing import Any

from .io import atomic_path


def pyplot():
    """``matplotlib.pyplot`` on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, path: str | Path, dpi: int = 120) -> Path:
    """Write ``fig`` as a PNG atomically and close it."""
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight")
    pyplot().close(fig)
    return path


def fmt(value: float | None, digits: int = 1) -> str:
    """A number for a table; "—" when missing or not a number (a hand-edited file's string, say)."""
    if not isinstance(value, numbers.Real):  # NumPy scalars are Real too
        return "—"
    return f"{value:.{digits}f}"


_MD_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "\\": "\\\\", "`": "\\`", "[": "\\[", "]": "\\]", "|": "\\|"}


def md_text(value: Any) -> str:
    """A string from a run (its name, a config value) as plain text inside Markdown: HTML's special characters as
    entities (no ``<script>`` or ``onerror`` reaches a renderer that allows HTML), link, code and table
    characters backslash-escaped, line breaks as spaces."""
    text = " ".join(str(value).splitlines())
    return "".join(_MD_ESCAPES.get(ch, ch) for ch in text)


def md_code(value: Any) -> str:
    """A string from a run for a Markdown code span or fenced block (where HTML is never rendered): without
    backticks or line breaks, so it cannot close the span or the fence."""
    return " ".join(str(value).splitlines()).replace("`", "'")


def markdown_table(headers: list[str], rows: list[list[Any]], align: str | None = None) -> str:
    """A GitHub Markdown table; ``align`` is one character per column (``l`` or ``r``), default: first left."""
    align = align or "l" + "r" * (len(headers) - 1)
    marks = {"l": "---", "r": "---:"}
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(marks[a] for a in align) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


# ---- the house style: every figure of pixelvit is built with these ----------------------------------------------------

NOTE_COLOR = "0.35"


def figure(nrows: int = 1, ncols: int = 1, size: tuple[float, float] = (5.0, 3.5), **subplots: Any) -> tuple[Any, Any]:
    """A constrained-layout ``Figure`` (no pyplot state, safe in threads) and its axes as a 2-D array."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, layout="constrained")
    return fig, fig.subplots(nrows, ncols, squeeze=False, **subplots)


def label_axes(ax: Any, xlabel: str, ylabel: str, title: str | None = None, grid: bool = True) -> None:
    """Axis labels (with their units), an optional title and a light grid."""
    ax.set_xlabel(xlabel, fontsize=8)
    ax.set_ylabel(ylabel, fontsize=8)
    ax.tick_params(labelsize=7)
    if title:
        ax.set_title(title, fontsize=9)
    if grid:
        ax.grid(True, alpha=0.3, lw=0.5)


OUTSIDE = {
    "right": {"loc": "upper left", "bbox_to_anchor": (1.02, 1.0), "borderaxespad": 0.0},
    "below": {"loc": "upper center", "bbox_to_anchor": (0.5, -0.28), "borderaxespad": 0.0},
}


def legend(ax: Any, where: str = "right", **kwargs: Any) -> Any:
    """A small legend of everything labelled on ``ax`` (none when nothing is), outside the axes so that it never
    covers data: to the ``right`` (default) or ``below`` (panels side by side); ``loc=`` places it yourself."""
    handles, _ = ax.get_legend_handles_labels()
    if not handles:
        return None
    if "loc" not in kwargs:
        kwargs.update(OUTSIDE[where])
    kwargs.setdefault("fontsize", 7)
    kwargs.setdefault("title_fontsize", 7)
    return ax.legend(**kwargs)


def colorbar(fig: Any, image: Any, axes: Any, label: str) -> Any:
    """A labelled colour bar for ``image`` beside ``axes`` (one axes or several sharing its colour scale)."""
    bar = fig.colorbar(image, ax=axes, shrink=0.9, pad=0.02)
    bar.set_label(label, fontsize=8)
    bar.ax.tick_params(labelsize=7)
    return bar


def note(fig: Any, text: str) -> None:
    """Grey lines under the figure, wrapped to its width: where numbers come from, or why something is not drawn."""
    import textwrap

    width = max(40, int(fig.get_figwidth() * 15))
    fig.supxlabel(textwrap.fill(text, width), fontsize=7, color=NOTE_COLOR)


def binomial_interval(percent: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval (95 % for z = 1.96) of an accuracy of ``percent`` % over ``n`` test images, in %."""
    p = percent / 100.0
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return 100.0 * (centre - half), 100.0 * (centre + half)


def binomial_yerr(acc: list[float | None], n: int) -> list[list[float]]:
    """Matplotlib ``yerr`` ([below], [above]) of accuracies (%) over ``n`` test images: their 95 % binomial intervals."""
    bounds = [binomial_interval(a, n) if a is not None else (0.0, 0.0) for a in acc]
    below = [a - lo if a is not None else 0.0 for a, (lo, _) in zip(acc, bounds, strict=True)]
    above = [hi - a if a is not None else 0.0 for a, (_, hi) in zip(acc, bounds, strict=True)]
    return [below, above]


def accuracy_errorbar(ax: Any, x: list[float], acc: list[float | None], n: int | None, style: str = "o-", **kwargs: Any) -> Any:
    """Accuracies (%) at ``x`` with their 95 % binomial intervals over ``n`` test images as error bars; None skipped."""
    points = [(xi, a) for xi, a in zip(x, acc, strict=True) if a is not None]
    if not points:
        return None
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    if not n:
        return ax.plot(xs, ys, style, **kwargs)
    return ax.errorbar(xs, ys, yerr=binomial_yerr(ys, n), fmt=style, capsize=3, ms=5, **kwargs)


def accuracy_axis(
    ax: Any,
    values: list[float | None],
    n: int | None,
    num_classes: int | None,
    ylabel: str = "Acc@1 (%)",
    min_span: float = 10.0,
    where: str = "right",
) -> str:
    """The y-axis of an accuracy plot: chance level drawn, limits wide enough that a difference smaller than the
    test set resolves is not blown up. Returns the resolution note (also the legend's title)."""
    shown = [v for v in values if v is not None]
    bounds = [binomial_interval(v, n) for v in shown] if n else [(v, v) for v in shown]
    lo = min([b[0] for b in bounds] or [0.0])
    hi = max([b[1] for b in bounds] or [100.0])
    if num_classes:  # chance drawn, and the axis starts at 0: bars and gaps keep their true proportions
        chance = 100.0 / num_classes
        ax.axhline(chance, ls=":", lw=1, color="0.4", label=f"chance ({chance:.3g} %, {num_classes} classes)")
        lo = 0.0
    if hi - lo < min_span:
        mid = (hi + lo) / 2
        lo, hi = mid - min_span / 2, mid + min_span / 2
    pad = 0.06 * (hi - lo)
    ax.set_ylim(0.0 if num_classes else max(0.0, lo - pad), min(102.0, hi + pad))
    ax.set_ylabel(ylabel, fontsize=8)
    resolution = (
        f"bars: 95 % binomial interval over {n} test images (1 image = {100 / n:.2g} points)" if n else "test-set size unknown"
    )
    legend(ax, where, title=resolution)
    return resolution


def heatmap(ax: Any, values: Any, vmin: float | None = None, vmax: float | None = None, cmap: str = "viridis", **kw: Any) -> Any:
    """``values`` (H, W) as an image, one cell per value (no smoothing); NaN cells blank."""
    return ax.imshow(values, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest", **kw)


def mosaic(tiles: Any, gap: int = 1) -> Any:
    """(R, C, h, w) tiles -> one (R·(h+gap)−gap, C·(w+gap)−gap) float array, NaN in the gaps: many small maps on one
    axes, so they stay readable at any grid size."""
    import numpy as np

    rows, cols, h, w = tiles.shape
    out = np.full((rows * (h + gap) - gap, cols * (w + gap) - gap), np.nan)
    for r in range(rows):
        for c in range(cols):
            out[r * (h + gap) : r * (h + gap) + h, c * (w + gap) : c * (w + gap) + w] = tiles[r, c]
    return out
