"""``pixelvit report``: runs side by side with the paper, their training curves and analysis plots.

Reads each run directory's ``summary.json`` (final metrics), ``config.yaml`` (model, data and the
paper's numbers, ``paper.metrics``), its model files (patch size, input size), ``metrics.jsonl``
(curves) and any PNG / Markdown files the analyses wrote inside it (e.g. ``pixelvit
attention-distance RUN --out RUN/analysis``). Runs are grouped by task, one table per task, each run
labelled by its patch size, tokens, dataset and input size (:func:`pixelvit.engine.run_info.run_label`).

Writes ``report.md`` with one ``curves_<run>.png`` per run beside it, and with ``html=True`` also
``report.html``: one self-contained page (every plot inline as a base64 PNG, analysis tables inline)
that opens in any browser, e.g. attached to an e-mail or a CI artifact.
"""

from __future__ import annotations

import base64
import html
import io
import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ..engine.logging import read_metrics
from ..engine.run_info import NOT_METRICS, read_run, run_label, size_text
from ..engine.run_info import metric_columns as all_metric_columns
from ..io import atomic_path, write_text_atomic
from ..plotting import fmt, legend, markdown_table, md_text, pyplot
from .study import mean_std

LABEL_COLUMNS = 6  # run, patch, tokens, data, input, status: left-aligned text; the step and metrics: numbers
SKIP_DIRS = {"tb", "checkpoints", "final", "best", "hub"}  # hub: the folder `pixelvit push --dry-run` writes
SEED_FREE_KEYS = {
    "train.seed",
    "run_dir",
    "data.root",
    "data.num_workers",
    "train.device",
    "train.progress",
    "paper.mismatch",
}  # keys in which runs that differ only by seed may differ (report aggregates them into mean ± std)
PER_LAYER = re.compile(r"_l\d+$")  # per-layer evaluator metrics (attention distance): in the analysis, not the curves
TASK_TITLES = {
    "classify": "Classification",
    "depth": "Depth estimation",
    "mae": "Masked-autoencoder pre-training",
    "diffusion": "Image generation (DiT)",
}
# metric kind: (matches a base metric name, y-axis label). One panel per kind; the first match wins.
METRIC_KINDS: list[tuple[str, re.Pattern, str]] = [
    ("loss", re.compile(r"(.*loss.*|mse|vb)"), "loss"),
    ("accuracy", re.compile(r"acc\d+"), "accuracy (%)"),
    ("depth error", re.compile(r"rmse|mae"), "error (m)"),
    ("relative depth error", re.compile(r"abs_rel|rae|log10|rmse_log"), "relative error (unitless)"),
    ("depth thresholds", re.compile(r"delta\d"), "fraction of pixels within 1.25^k"),
    ("FID", re.compile(r"s?fid"), "FID (lower is better)"),
    ("Inception Score", re.compile(r"inception_score"), "Inception Score"),
    ("precision / recall", re.compile(r"precision|recall"), "fraction"),
    ("attention", re.compile(r"distance|offset"), "distance (input pixels)"),
]
HTML_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;max-width:1150px;margin:2em auto;padding:0 1em;color:#222}
h1{margin-bottom:.2em}h2{border-bottom:2px solid #ddd;padding-bottom:.2em;margin-top:2em}
h3{margin-top:1.6em}.muted{color:#666;font-size:.9em}
table{border-collapse:collapse;margin:.6em 0;font-size:.92em}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#f3f3f3}
td.l,th.l{text-align:left}
td.paper{color:#555;background:#fafafa}
figure{margin:.8em 0}img{max-width:100%;border:1px solid #eee}figcaption{color:#555;font-size:.88em}
.wide{overflow-x:auto}
""".strip()


def collect_run(run_dir: str | os.PathLike) -> dict[str, Any]:
    """What the report needs from one run directory: :func:`~pixelvit.engine.run_info.read_run`, its
    label, its curves and the analysis files inside it (missing files give empty entries)."""
    run = read_run(run_dir)
    run_dir = run["path"]
    found = [
        p
        for p in sorted(run_dir.rglob("*"))
        if p.suffix in (".png", ".md") and not SKIP_DIRS & set(p.relative_to(run_dir).parts[:-1])
    ]
    train, evals = (
        stage_metrics(run) if run["summary"].get("stages") else (read_metrics(run_dir, "train"), read_metrics(run_dir, "eval"))
    )
    return {**run, "label": run_label(run), "train": train, "eval": evals, "artifacts": found}


def stage_metrics(run: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(train, eval) records of a staged run: each stage's ``metrics.jsonl`` (in ``RUN_DIR/stage{k}_p{P}/``), its
    steps counted on from the stages before it, so the curves run through every stage."""
    train: list[dict[str, Any]] = []
    evals: list[dict[str, Any]] = []
    offset = 0
    for stage in run["summary"]["stages"]:
        folder = run["path"] / Path(stage.get("run_dir") or "").name
        for tag, out in (("train", train), ("eval", evals)):
            out += [{**r, "step": r["step"] + offset} for r in read_metrics(folder, tag) if isinstance(r.get("step"), int)]
        offset += stage.get("step") or 0
    return train, evals


def unique_names(paths: list[Path]) -> list[str]:
    """Each run's name in a report: its path relative to the runs' common folder (``fixed-length/p1`` and
    ``fixed-input/p1`` stay apart), or its folder's name for a lone run."""
    resolved = [p.resolve() for p in paths]
    if len(resolved) < 2:
        return [p.name for p in resolved]
    root = Path(os.path.commonpath(resolved))
    return [p.relative_to(root).as_posix() if p != root else p.name for p in resolved]


def metric_columns(runs: list[dict[str, Any]]) -> list[str]:
    """The table's metrics: paper metrics first, then the other final ones (per-layer values left out)."""
    return [k for k in all_metric_columns(runs) if not PER_LAYER.search(k)]


def metric_kind(key: str) -> tuple[str, str]:
    """(kind, y-axis label) of a metric: ``ema_acc1`` -> ("accuracy", "accuracy (%)"); unknown: (key, key)."""
    base = key.rsplit("/", 1)[-1].removeprefix("ema_")
    for kind, pattern, label in METRIC_KINDS:
        if pattern.fullmatch(base):
            return kind, label
    return key, key


def curve_panels(run: dict[str, Any]) -> list[dict[str, Any]]:
    """The run's curves as panels, one per metric kind: {"title", "ylabel", "series": [(label, steps,
    values, style)], "paper": [(label, value, index of its series)]}; the learning rate and throughput
    get their own panels."""
    panels: dict[str, dict[str, Any]] = {}

    def panel(kind: str, ylabel: str) -> dict[str, Any]:
        return panels.setdefault(kind, {"title": kind, "ylabel": ylabel, "series": [], "paper": []})

    train = run["train"]
    if any("loss" in r for r in train):
        points = [(r["step"], r["loss"]) for r in train if "loss" in r]
        panel("loss", "loss")["series"].append(("train loss", [s for s, _ in points], [v for _, v in points], ".-"))
    keys = sorted(
        {
            k
            for r in run["eval"]
            for k, v in r.items()
            if isinstance(v, int | float) and k not in NOT_METRICS and not PER_LAYER.search(k)
        }
    )
    for key in keys:
        kind, ylabel = metric_kind(key)
        points = [(r["step"], r[key]) for r in run["eval"] if isinstance(r.get(key), int | float)]
        target = panel(kind, ylabel)
        target["series"].append((f"eval {key}", [s for s, _ in points], [v for _, v in points], "o-"))
        if isinstance(run["paper"].get(key), int | float):
            target["paper"].append((f"paper {key}", run["paper"][key], len(target["series"]) - 1))
    for key, title, ylabel in (("lr", "learning rate", "learning rate"), ("images_per_s", "throughput", "images / s")):
        points = [(r["step"], r[key]) for r in train if isinstance(r.get(key), int | float)]
        if points:
            panel(title, ylabel)["series"].append((title, [s for s, _ in points], [v for _, v in points], "-"))
    return list(panels.values())


def plot_curves(run: dict[str, Any], path: Path | None = None) -> bytes | None:
    """A PNG of the run's curve panels (x: optimizer step), written to ``path`` too when given; None without records."""
    panels = curve_panels(run)
    if not panels:
        return None
    plt = pyplot()
    from matplotlib.ticker import MaxNLocator

    cols = 2 if len(panels) == 4 else min(3, len(panels))
    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.1 * rows), squeeze=False)
    for ax, p in zip(axes.flat, panels):
        lines = [ax.plot(steps, values, style, ms=3, label=label)[0] for label, steps, values, style in p["series"]]
        for label, value, index in p["paper"]:
            ax.axhline(value, ls="--", lw=0.9, color=lines[index].get_color(), label=label)
        ax.set_title(p["title"], fontsize=10)
        ax.set_xlabel("optimizer step")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(p["ylabel"])
        if p["title"] == "learning rate":
            ax.ticklabel_format(axis="y", style="sci", scilimits=(-2, 3))
        ax.grid(alpha=0.3)
        legend(ax)  # outside the panel: it never covers a curve
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    fig.suptitle(f"{run['name']}: {run['label']}", fontsize=11)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    data = buffer.getvalue()
    if path is not None:
        with atomic_path(path) as tmp:
            tmp.write_bytes(data)
    return data


def task_table(runs: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """(headers, rows) of one task's runs: label columns, then each metric beside the paper's value."""
    keys = metric_columns(runs)
    headers = ["run", "patch", "tokens", "data", "input", "status", "step"] + [h for k in keys for h in (k, f"{k} (paper)")]
    rows = [
        [
            r["name"],
            f"/{r['patch_size']}" if r["patch_size"] else "—",
            f"{r['tokens']:,}" if r["tokens"] else "—",
            r["dataset"] or "—",
            size_text(r["img_size"]) if r["img_size"] else "—",
            r["status"],
            str(r["step"]) if r["step"] is not None else "—",
        ]
        + [c for k in keys for c in (fmt(r["final"].get(k), 2), fmt(r["paper"].get(k), 2))]
        for r in runs
    ]
    for group in seed_groups(runs):
        first = group[0]
        seeds = ", ".join(str((r["config"].get("train") or {}).get("seed")) for r in group)
        cells = []
        for k in keys:
            values = [r["final"][k] for r in group if isinstance(r["final"].get(k), int | float)]
            cells += [mean_std(values, 2) if len(values) == len(group) else "—", fmt(first["paper"].get(k), 2)]
        name = f"mean ± std of {len(group)} seeds ({seeds}): " + ", ".join(r["name"] for r in group)
        rows.append([name, *rows[runs.index(first)][1:5], "", "", *cells])
    return headers, rows


def seed_groups(runs: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Groups of two or more finished runs whose configs differ only in ``train.seed`` (and where they ran)."""
    import json

    from ..engine.run_dir import flatten

    groups: dict[str, list[dict[str, Any]]] = {}
    for run in runs:
        if run["status"] != "finished" or not run["config"]:
            continue
        recipe = {k: v for k, v in flatten(run["config"]).items() if k not in SEED_FREE_KEYS}
        groups.setdefault(json.dumps(recipe, sort_keys=True, default=str), []).append(run)
    return [g for g in groups.values() if len(g) > 1]


def by_task(runs: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Runs grouped by task, in order of first appearance."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for run in runs:
        groups.setdefault(run["task"], []).append(run)
    return groups


def build_blocks(runs: list[dict[str, Any]], out: Path) -> list[tuple]:
    """The report as blocks: ("h", level, text), ("p", text), ("table", headers, rows), ("img", path,
    caption) and ("file", path, caption) (an analysis table, Markdown); paths relative to ``out``."""
    blocks: list[tuple] = [("h", 1, "pixelvit report")]
    mine = out.resolve()
    for task, group in by_task(runs).items():
        blocks += [("h", 2, TASK_TITLES.get(task, task)), ("table", *task_table(group))]
        blocks.append(("p", weights_note(group)))
        sources = [f"{r['name']}: {r['paper_table']}" for r in group if r["paper_table"]]
        if sources:
            blocks.append(("p", "Paper rows: " + "; ".join(sources) + "."))
        apart = [f"{r['name']} ({', '.join(m.split(':')[0] for m in r['paper_mismatch'])})" for r in group if r["paper_mismatch"]]
        if apart:
            blocks.append(
                ("p", "Paper numbers left out, not comparable (the run changes its row's recipe): " + "; ".join(apart) + ".")
            )
        for r in group:
            blocks.append(("h", 3, f"{r['name']}: {r['label']}"))
            path = out / f"curves_{_slug(r['name'])}.png"
            if plot_curves(r, path) is None:
                blocks.append(("p", f"{r['name']}: no metrics.jsonl records."))
            else:
                blocks.append(("img", path.name, f"{r['name']} training curves"))
            for artifact in (p for p in r["artifacts"] if mine not in p.resolve().parents):  # not the report's own files
                rel = os.path.relpath(artifact, out)
                caption = f"{r['name']}: {artifact.relative_to(r['path']).as_posix()}"
                blocks.append(("img" if artifact.suffix == ".png" else "file", rel, caption))
    return blocks


def weights_note(runs: list[dict[str, Any]]) -> str:
    """Which weights the table's numbers are of: each run's saved model (EMA or raw) on its evaluation split."""
    ema = [r["name"] for r in runs if r["weights"] == "ema"]
    if not ema:
        return "Numbers of each run's saved (raw) weights on its evaluation split."
    others = "; raw weights for the others" if len(ema) < len(runs) else ""
    return f"Numbers of each run's saved weights on its evaluation split: EMA weights for {', '.join(ema)}{others}."


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def render_markdown(blocks: list[tuple]) -> str:
    """The blocks as Markdown; their text (run names, config strings) escaped with ``md_text``, links percent-encoded."""
    parts = []
    for block in blocks:
        kind = block[0]
        if kind == "h":
            parts.append("#" * block[1] + " " + md_text(block[2]))
        elif kind == "p":
            parts.append(md_text(block[1]))
        elif kind == "table":
            headers, rows = [md_text(h) for h in block[1]], [[md_text(c) for c in row] for row in block[2]]
            parts.append(markdown_table(headers, rows, "l" * LABEL_COLUMNS + "r" * (len(block[1]) - LABEL_COLUMNS)))
        elif kind == "img":
            parts.append(f"![{md_text(block[2])}]({quote(Path(block[1]).as_posix())})")
        else:
            parts.append(f"- [{md_text(block[2])}]({quote(Path(block[1]).as_posix())})")
    return "\n\n".join(parts) + "\n"


def data_uri(png: bytes) -> str:
    """PNG bytes -> ``data:image/png;base64,...``."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def markdown_to_html(text: str) -> str:
    """The Markdown the analyses write (headings, pipe tables, paragraphs) as HTML; anything else as text."""
    e, out, lines = html.escape, [], text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        if line.startswith("|"):
            rows = []
            while i < len(lines) and lines[i].strip().startswith("|"):
                cells = [c.strip() for c in lines[i].strip().strip("|").split("|")]
                if not all(re.fullmatch(r":?-{3,}:?", c) for c in cells):
                    rows.append(cells)
                i += 1
            head = "".join(f"<th>{e(c)}</th>" for c in rows[0]) if rows else ""
            body = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in rows[1:])
            out.append(f"<div class='wide'><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>")
            continue
        if line.startswith("#"):
            out.append(f"<h4>{e(line.lstrip('#').strip())}</h4>")
        elif line:
            out.append(f"<p>{e(line)}</p>")
        i += 1
    return "\n".join(out)


def _html_table(headers: list[str], rows: list[list[str]]) -> str:
    e = html.escape
    classes = ["paper" if h.endswith("(paper)") else "l" if j < LABEL_COLUMNS else "" for j, h in enumerate(headers)]
    head = "".join(f'<th class="{c}">{e(str(h))}</th>' for c, h in zip(classes, headers))
    body = "".join("<tr>" + "".join(f'<td class="{c}">{e(str(v))}</td>' for c, v in zip(classes, row)) + "</tr>" for row in rows)
    return f"<div class='wide'><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"


def render_html(blocks: list[tuple], out: Path) -> str:
    """One self-contained page: images inlined from ``out``-relative paths, analysis Markdown rendered in place."""
    e = html.escape
    body = []
    for block in blocks:
        kind = block[0]
        if kind == "h":
            body.append(f"<h{block[1]}>{e(block[2])}</h{block[1]}>")
        elif kind == "p":
            body.append(f"<p>{e(block[1])}</p>")
        elif kind == "table":
            body.append(_html_table(block[1], block[2]))
        elif kind == "img":
            src = data_uri((out / block[1]).read_bytes())
            body.append(f'<figure><img src="{src}" alt="{e(block[2])}"><figcaption>{e(block[2])}</figcaption></figure>')
        else:
            body.append(
                f"<figure>{markdown_to_html((out / block[1]).read_text())}<figcaption>{e(block[2])}</figcaption></figure>"
            )
    note = (
        '<p class="muted">Final metrics beside the paper\'s numbers for the same row (— where the paper or the run has '
        "none); curves against optimizer steps, one panel per kind of metric.</p>"
    )
    head = (
        "<meta charset='utf-8'><meta name='viewport' content='width=device-width'>"
        f"<title>pixelvit report</title><style>{HTML_STYLE}</style>"
    )
    return (
        f"<!doctype html>\n<html lang='en'><head>{head}</head>\n<body>\n{body[0]}\n{note}\n"
        + "\n".join(body[1:])
        + "\n</body></html>\n"
    )


def build_report(run_dirs: list[str | os.PathLike], out: Path, html_too: bool = False) -> Path:
    """Write ``out/report.md`` (and the self-contained ``report.html``) for ``run_dirs``; returns the Markdown path."""
    runs = [collect_run(d) for d in run_dirs]
    for run, name in zip(runs, unique_names([r["path"] for r in runs]), strict=True):
        run["name"] = name
    out.mkdir(parents=True, exist_ok=True)
    blocks = build_blocks(runs, out)
    write_text_atomic(out / "report.md", render_markdown(blocks))
    if html_too:
        write_text_atomic(out / "report.html", render_html(blocks, out))
    return out / "report.md"
