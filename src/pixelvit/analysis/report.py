"""``pixelvit report``: runs side by side with the paper, their training curves and analysis plots.

Reads each run directory's ``summary.json`` (final metrics), ``config.yaml`` (model, data and the
paper's numbers, ``paper.metrics``), ``metrics.jsonl`` (curves) and any PNG / Markdown files the
analyses wrote inside it (e.g. ``pixelvit attention-distance RUN --out RUN/analysis``). Writes
``report.md`` (and ``report.html`` with ``html=True``) plus one ``curves_<run>.png`` per run.
"""

from __future__ import annotations

import html
import json
import os
import re
from pathlib import Path
from typing import Any

import yaml

from ..engine.logging import read_metrics
from ..io import write_text_atomic
from ..plotting import fmt, markdown_table, pyplot, save_figure

SKIP_DIRS = {"tb", "checkpoints", "final", "best"}
NOT_METRICS = {"epoch", "step", "tag", "lr", "images_per_s"}
HTML_STYLE = (
    "body{font-family:sans-serif;max-width:1100px;margin:2em auto}table{border-collapse:collapse}"
    "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}img{max-width:100%}"
)


def collect_run(run_dir: str | os.PathLike) -> dict[str, Any]:
    """What the report needs from one run directory (missing files give empty entries)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"{run_dir} is not a directory; pass run directories (holding summary.json / config.yaml)")
    config = yaml.safe_load((run_dir / "config.yaml").read_text()) if (run_dir / "config.yaml").is_file() else {}
    summary = json.loads((run_dir / "summary.json").read_text()) if (run_dir / "summary.json").is_file() else {}
    if not config and not summary:
        raise FileNotFoundError(f"{run_dir} holds neither summary.json nor config.yaml: is it a pixelvit run directory?")
    paper = (config.get("paper") or {}).get("metrics") or summary.get("paper") or {}
    found = [
        p
        for p in sorted(run_dir.rglob("*"))
        if p.suffix in (".png", ".md") and not SKIP_DIRS & set(p.relative_to(run_dir).parts[:-1])
    ]
    return {
        "name": run_dir.name,
        "path": run_dir,
        "model": (config.get("model") or {}).get("name", ""),
        "data": (config.get("data") or {}).get("name", ""),
        "paper_table": (config.get("paper") or {}).get("table", ""),
        "status": summary.get("status", "no summary"),
        "step": summary.get("step"),
        "final": summary.get("final") or {},
        "paper": paper,
        "train": read_metrics(run_dir, "train"),
        "eval": read_metrics(run_dir, "eval"),
        "artifacts": found,
    }


def plot_curves(run: dict[str, Any], path: Path) -> Path | None:
    """Train/eval loss (left) and the other eval metrics (right) against step; None without records."""
    if not run["train"] and not run["eval"]:
        return None
    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(8, 3))
    if run["train"]:
        left.plot([r["step"] for r in run["train"]], [r["loss"] for r in run["train"]], ".-", label="train loss")
    if any("loss" in r for r in run["eval"]):
        left.plot(
            [r["step"] for r in run["eval"] if "loss" in r],
            [r["loss"] for r in run["eval"] if "loss" in r],
            "o-",
            label="eval loss",
        )
    keys = sorted(
        {k for r in run["eval"] for k, v in r.items() if isinstance(v, int | float) and k not in NOT_METRICS | {"loss"}}
    )
    for key in keys:
        points = [(r["step"], r[key]) for r in run["eval"] if key in r]
        right.plot([s for s, _ in points], [v for _, v in points], "o-", label=key)
        if key in run["paper"]:
            right.axhline(run["paper"][key], ls="--", lw=0.8, color=right.lines[-1].get_color(), label=f"paper {key}")
    for ax, title in ((left, "loss"), (right, "evaluation")):
        ax.set_xlabel("step")
        ax.set_title(f"{run['name']}: {title}", fontsize=9)
        if ax.lines:
            ax.legend(fontsize=7)
    fig.tight_layout()
    return save_figure(fig, path)


def metric_columns(runs: list[dict[str, Any]]) -> list[str]:
    """Paper metrics first (in their order), then the other final metrics."""
    keys: list[str] = []
    for run in runs:
        keys += [k for k in run["paper"] if k not in keys]
    for run in runs:
        keys += sorted(k for k in run["final"] if k not in keys and k not in NOT_METRICS)
    return keys


def build_blocks(runs: list[dict[str, Any]], out: Path) -> list[tuple]:
    """The report as blocks: ("h", level, text), ("p", text), ("table", headers, rows), ("img", path,
    caption) and ("link", path, text); paths relative to ``out``."""
    keys = metric_columns(runs)
    headers = ["run", "model", "data", "status", "step"] + [h for k in keys for h in (k, f"{k} (paper)")]
    rows = [
        [r["name"], r["model"], r["data"], r["status"], r["step"] if r["step"] is not None else "—"]
        + [c for k in keys for c in (fmt(r["final"].get(k), 2), fmt(r["paper"].get(k), 2))]
        for r in runs
    ]
    blocks: list[tuple] = [("h", 1, "pixelvit report"), ("h", 2, "Final metrics"), ("table", headers, rows)]
    sources = [f"{r['name']}: {r['paper_table']}" for r in runs if r["paper_table"]]
    if sources:
        blocks.append(("p", "Paper rows: " + "; ".join(sources) + "."))
    blocks.append(("h", 2, "Training curves"))
    for r in runs:
        curves = plot_curves(r, out / f"curves_{_slug(r['name'])}.png")
        blocks.append(
            ("img", curves.name, f"{r['name']} training curves") if curves else ("p", f"{r['name']}: no metrics.jsonl records.")
        )
    mine = out.resolve()
    found = [[p for p in r["artifacts"] if mine not in p.resolve().parents] for r in runs]  # not the report's own files
    if any(found):
        blocks.append(("h", 2, "Analyses"))
        for r, paths in zip(runs, found, strict=True):
            for path in paths:
                rel = os.path.relpath(path, out)
                caption = f"{r['name']}: {path.relative_to(r['path']).as_posix()}"
                blocks.append(("img", rel, caption) if path.suffix == ".png" else ("link", rel, caption))
    return blocks


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def render_markdown(blocks: list[tuple]) -> str:
    parts = []
    for block in blocks:
        kind = block[0]
        if kind == "h":
            parts.append("#" * block[1] + " " + block[2])
        elif kind == "p":
            parts.append(block[1])
        elif kind == "table":
            parts.append(markdown_table(block[1], block[2], "l" * 4 + "r" * (len(block[1]) - 4)))
        elif kind == "img":
            parts.append(f"![{block[2]}]({Path(block[1]).as_posix()})")
        else:
            parts.append(f"- [{block[2]}]({Path(block[1]).as_posix()})")
    return "\n\n".join(parts) + "\n"


def render_html(blocks: list[tuple]) -> str:
    e = html.escape
    body = []
    for block in blocks:
        kind = block[0]
        if kind == "h":
            body.append(f"<h{block[1]}>{e(block[2])}</h{block[1]}>")
        elif kind == "p":
            body.append(f"<p>{e(block[1])}</p>")
        elif kind == "table":
            head = "".join(f"<th>{e(str(h))}</th>" for h in block[1])
            rows = "".join("<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in row) + "</tr>" for row in block[2])
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
        elif kind == "img":
            src = e(Path(block[1]).as_posix())
            body.append(f'<figure><img src="{src}" alt="{e(block[2])}"><figcaption>{e(block[2])}</figcaption></figure>')
        else:
            body.append(f'<p><a href="{e(Path(block[1]).as_posix())}">{e(block[2])}</a></p>')
    head = f"<meta charset='utf-8'><title>pixelvit report</title><style>{HTML_STYLE}</style>"
    return f"<!doctype html>\n<html><head>{head}</head>\n<body>\n" + "\n".join(body) + "\n</body></html>\n"


def build_report(run_dirs: list[str | os.PathLike], out: Path, html_too: bool = False) -> Path:
    """Write ``out/report.md`` (and ``report.html``) for ``run_dirs``; returns the Markdown path."""
    runs = [collect_run(d) for d in run_dirs]
    out.mkdir(parents=True, exist_ok=True)
    blocks = build_blocks(runs, out)
    write_text_atomic(out / "report.md", render_markdown(blocks))
    if html_too:
        write_text_atomic(out / "report.html", render_html(blocks))
    print(f"wrote {out / 'report.md'}" + (f" and {out / 'report.html'}" if html_too else ""))
    return out / "report.md"
