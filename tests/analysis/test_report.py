"""``pixelvit report`` on fabricated run directories: tables by task, curves by metric kind, one self-contained page."""

import base64
import io
import json
import shutil
import subprocess
from html.parser import HTMLParser

import numpy as np
import pytest
import yaml
from PIL import Image

from fixtures.fabricate import save_image
from pixelvit.analysis.report import build_report, collect_run, curve_panels, metric_kind

CLASSIFY_EVAL = {"acc1": 0.0, "acc5": 99.0, "loss": 0.5}
DEPTH_EVAL = {"loss": 0.3, "rmse": 0.9, "mae": 0.6, "abs_rel": 0.2, "rae": 0.8, "delta1": 0.7, "delta2": 0.9}


def make_run(path, acc1=None, paper=None, records=True, analysis=False, task="classify", model=None, data=None):
    """A run directory as the trainer leaves it: config.yaml, summary.json, metrics.jsonl (torn last line)."""
    path.mkdir(parents=True)
    config = {"task": task, "model": model or {"name": "vit_t/1"}, "data": data or {"name": "cifar100", "img_size": [32, 32]}}
    if paper:
        config["paper"] = {"table": "slides: CIFAR-100", "metrics": paper, "recipe_source": "x"}
    (path / "config.yaml").write_text(yaml.safe_dump(config))
    final = {**CLASSIFY_EVAL, "acc1": acc1} if task == "classify" else DEPTH_EVAL
    summary = {"status": "finished", "step": 40, "final": final, "paper": paper or {}}
    (path / "summary.json").write_text(json.dumps(summary))
    if records:
        lines = [
            {"step": s, "tag": "train", "loss": 2.0 / s, "lr": 1e-3 * s / 40, "images_per_s": 10.0 + s, "epoch": s / 10}
            for s in (10, 20, 30, 40)
        ]
        lines += [{"step": s, "tag": "eval", **{k: v + s / 100 for k, v in final.items()}, "epoch": s / 10} for s in (20, 40)]
        (path / "metrics.jsonl").write_text("\n".join(json.dumps(r) for r in lines) + '\n{"torn')
    if analysis:
        save_image(path / "analysis" / "attention_distance.png", np.full((4, 4), 255, np.uint8))
        (path / "analysis" / "attention_distance.md").write_text(
            "## mean attention distance\n\n| layer | head 1 |\n|---|---:|\n| 0 | 3.9 |\n"
        )
        save_image(path / "tb" / "ignored.png", np.zeros((4, 4), np.uint8))
        (path / "hub").mkdir()
        (path / "hub" / "README.md").write_text("# a model card, not an analysis\n")
    return path


def test_report_tables_by_task_curves_and_analyses(tmp_path):
    a = make_run(tmp_path / "runs" / "vit_t1", 86.25, paper={"acc1": 85.1, "acc5": 96.4}, analysis=True)
    # preset name vit_t/1, but the run overrode the patch size: the label comes from the run's config
    b = make_run(tmp_path / "runs" / "vit_t2", 80.5, records=False, model={"name": "vit_t/1", "patch_size": 2})
    d = make_run(tmp_path / "runs" / "depth", task="depth", model={"name": "dense_vit_s/1"},
                 data={"name": "nyu_depth_v2", "img_size": [48, 64]})  # fmt: skip
    out = tmp_path / "report"
    md = build_report([a, d, b], out, html_too=True).read_text()
    assert md.index("## Classification") < md.index("## Depth estimation")  # one table per task, in order of appearance
    labels = "| run | patch | tokens | data | input | status | step |"
    assert labels + " acc1 | acc1 (paper) | acc5 | acc5 (paper) | loss | loss (paper) |" in md
    assert "| vit_t1 | /1 | 1,024 | cifar100 | 32×32 | finished | 40 | 86.25 | 85.10 | 99.00 | 96.40 | 0.50 | — |" in md
    assert "| vit_t2 | /2 | 256 | cifar100 | 32×32 | finished | 40 | 80.50 | — | 99.00 | — | 0.50 | — |" in md
    metrics = ["abs_rel", "delta1", "delta2", "loss", "mae", "rae", "rmse"]
    assert "| step | " + " | ".join(f"{k} | {k} (paper)" for k in metrics) + " |" in md
    depth_row = " | ".join(f"{DEPTH_EVAL[k]:.2f} | —" for k in metrics)
    assert f"| depth | /1 | 3,072 | nyu_depth_v2 | 48×64 | finished | 40 | {depth_row} |" in md
    assert "Paper rows: vit_t1: slides: CIFAR-100." in md
    assert "### vit_t1: /1 · 1,024 tokens · cifar100 32×32" in md and "### vit_t2: /2 · 256 tokens · cifar100 32×32" in md
    assert "![vit_t1 training curves](curves_vit_t1.png)" in md and (out / "curves_vit_t1.png").stat().st_size > 1000
    assert "vit_t2: no metrics.jsonl records." in md and not (out / "curves_vit_t2.png").exists()
    assert "![vit_t1: analysis/attention_distance.png](../runs/vit_t1/analysis/attention_distance.png)" in md
    assert "- [vit_t1: analysis/attention_distance.md](../runs/vit_t1/analysis/attention_distance.md)" in md
    assert "ignored.png" not in md and "hub/README.md" not in md  # TensorBoard, checkpoint and push folders are no analyses


def test_one_panel_per_metric_kind_with_units(tmp_path):
    run = collect_run(make_run(tmp_path / "d", task="depth", model={"name": "dense_vit_s/1"}))
    panels = {p["title"]: p for p in curve_panels(run)}
    assert list(panels) == ["loss", "relative depth error", "depth thresholds", "depth error", "learning rate", "throughput"]
    assert [s[0] for s in panels["loss"]["series"]] == ["train loss", "eval loss"]
    assert [s[0] for s in panels["depth error"]["series"]] == ["eval mae", "eval rmse"] and panels["depth error"][
        "ylabel"
    ] == "error (m)"
    assert panels["throughput"]["ylabel"] == "images / s" and panels["throughput"]["series"][0][2] == [20.0, 30.0, 40.0, 50.0]
    classify = collect_run(make_run(tmp_path / "c", 70.0, paper={"acc1": 85.1}))
    accuracy = {p["title"]: p for p in curve_panels(classify)}["accuracy"]
    assert accuracy["ylabel"] == "accuracy (%)" and accuracy["paper"] == [("paper acc1", 85.1, 0)]
    assert [s[2] for s in accuracy["series"]] == [[70.2, 70.4], [99.2, 99.4]]
    assert metric_kind("ema_acc5") == ("accuracy", "accuracy (%)")
    assert metric_kind("fid/fid") == ("FID", "FID (lower is better)")
    assert metric_kind("attention_distance/distance") == ("attention", "distance (input pixels)")


class Page(HTMLParser):
    """Every tag's attributes, and the text, of an HTML page."""

    def __init__(self):
        super().__init__()
        self.tags, self.text = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def report_page(tmp_path):
    a = make_run(tmp_path / "runs" / "vit_t1", 86.25, paper={"acc1": 85.1, "acc5": 96.4}, analysis=True)
    b = make_run(tmp_path / "runs" / "vit_t2", 80.5, model={"name": "vit_t/2"})
    out = tmp_path / "report"
    build_report([a, b], out, html_too=True)
    return out / "report.html"


def test_the_html_page_is_self_contained(tmp_path):
    path = report_page(tmp_path)
    moved = tmp_path / "elsewhere" / "page.html"  # e.g. mailed or kept as a CI artifact: nothing else travels with it
    moved.parent.mkdir()
    shutil.copy(path, moved)
    page = Page()
    page.feed(moved.read_text())
    images = [attrs for tag, attrs in page.tags if tag == "img"]
    assert len(images) == 3  # two runs' curves and one analysis plot
    for attrs in images:
        prefix, _, payload = attrs["src"].partition(",")
        assert prefix == "data:image/png;base64" and attrs["alt"]
        with Image.open(io.BytesIO(base64.b64decode(payload, validate=True))) as image:
            image.load()
            assert image.format == "PNG" and min(image.size) >= 4
    curves = Image.open(io.BytesIO(base64.b64decode(images[0]["src"].partition(",")[2])))
    assert curves.size[0] > 800 and curves.size[1] > 300  # loss, accuracy, learning rate, throughput: a grid of panels
    assert not [attrs for tag, attrs in page.tags if tag in ("script", "link", "iframe")]
    assert not [a for tag, a in page.tags if tag == "a" and not a.get("href", "").startswith("#")]
    text = " ".join(page.text)
    assert "Classification" in text and "mean attention distance" in text  # the analysis table is rendered in the page
    assert [tag for tag, _ in page.tags].count("table") == 2


def test_the_page_renders_in_a_headless_browser(tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("chromium is not installed (apt-get install chromium); the page is still checked by parsing it")
    path = report_page(tmp_path)
    shot = tmp_path / "shot.png"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}", "--hide-scrollbars",
             "--window-size=1200,2400", f"--screenshot={shot}"]  # fmt: skip
    subprocess.run([browser, *flags, path.as_uri()], capture_output=True, timeout=60, check=True)
    with Image.open(shot) as image:
        pixels = np.asarray(image.convert("RGB"))
    assert pixels.shape == (2400, 1200, 3)
    ink = (pixels < 200).any(axis=2)
    rows = np.flatnonzero(ink.any(axis=1))
    assert ink.mean() > 0.01 and rows.max() - rows.min() > 1500  # text, tables and the plots drawn down the page
    colours = {tuple(c) for c in pixels[::4, ::4].reshape(-1, 3) // 32}
    assert len(colours) > 20  # the plots' coloured lines, not only black text on white


def test_a_folder_that_is_not_a_run_is_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"neither summary\.json nor config\.yaml"):
        collect_run(tmp_path / "empty")


def test_the_reports_own_files_inside_a_run_are_not_listed_again(tmp_path):
    run = make_run(tmp_path / "run", 50.0)
    md = build_report([run], run / "report").read_text()
    assert "analysis/" not in md and md.count("![") == 1


def test_runs_with_the_same_folder_name_keep_apart_by_their_relative_path(tmp_path):
    a = make_run(tmp_path / "sweep" / "fixed-length" / "p1", 60.0)
    b = make_run(tmp_path / "sweep" / "fixed-input" / "p1", 70.0)
    out = tmp_path / "report"
    md = build_report([a, b], out).read_text()
    assert "| fixed-length/p1 |" in md and "| fixed-input/p1 |" in md
    assert (out / "curves_fixed-length_p1.png").is_file() and (out / "curves_fixed-input_p1.png").is_file()


def test_a_staged_run_has_curves_through_every_stage(tmp_path):
    run_dir = make_run(tmp_path / "staged", 70.0, records=False)
    stages = []
    for k, p in enumerate((2, 1)):
        stage = make_run(run_dir / f"stage{k}_p{p}", 60.0 + k)
        stages.append({"patch_size": p, "run_dir": f"somewhere/else/{stage.name}", "step": 40, "status": "finished"})
    summary = json.loads((run_dir / "summary.json").read_text())
    (run_dir / "summary.json").write_text(json.dumps({**summary, "stages": stages}))
    run = collect_run(run_dir)
    assert [r["step"] for r in run["eval"]] == [20, 40, 60, 80]  # stage 1's steps counted on from stage 0's 40
    assert [r["step"] for r in run["train"]] == [10, 20, 30, 40, 50, 60, 70, 80]


def test_runs_differing_only_by_seed_are_aggregated_into_mean_and_std(tmp_path):
    runs = []
    for seed, acc in ((0, 80.0), (1, 82.0), (2, 84.0)):
        path = make_run(tmp_path / "runs" / f"s{seed}", acc)
        config = yaml.safe_load((path / "config.yaml").read_text())
        (path / "config.yaml").write_text(yaml.safe_dump({**config, "train": {"seed": seed}, "run_dir": str(path)}))
        runs.append(path)
    other = make_run(tmp_path / "runs" / "other", 50.0, model={"name": "vit_t/2"})
    md = build_report([*runs, other], tmp_path / "report").read_text()
    (row,) = [line for line in md.splitlines() if "mean ± std of 3 seeds (0, 1, 2): s0, s1, s2" in line]
    assert "82.00 ± 2.00" in row and "other" not in row


def test_report_leaves_out_paper_numbers_a_run_is_not_comparable_with(tmp_path):
    path = make_run(tmp_path / "runs" / "synthetic_depth", task="depth", paper={"rmse": 0.72, "rae": 0.74},
                    data={"name": "depth_folder", "img_size": [8, 8]})  # fmt: skip
    config = yaml.safe_load((path / "config.yaml").read_text())
    config["paper"]["mismatch"] = ["data.name: 'nyu_depth_v2' -> 'depth_folder'"]
    (path / "config.yaml").write_text(yaml.safe_dump(config))
    md = build_report([path], tmp_path / "report").read_text()
    assert "0.72" not in md and "0.74" not in md


def test_curve_legends_sit_outside_the_panels(tmp_path):
    from matplotlib.figure import Figure

    from pixelvit.plotting import accuracy_axis, legend

    fig = Figure(layout="constrained")
    ax = fig.subplots()
    ax.plot([1, 2, 4], [20.0, 50.0, 70.0], "o-", label="run")
    accuracy_axis(ax, [20.0, 50.0, 70.0], 100, 10)
    fig.canvas.draw()
    box, frame = ax.get_legend().get_window_extent(), ax.get_window_extent()
    assert not box.overlaps(frame)
    ax2 = fig.add_subplot(2, 1, 2)
    ax2.plot([1], [1], label="x")
    assert legend(ax2, loc="center").get_bbox_to_anchor() is not None  # an explicit place is kept


# ---- malformed run directories: a one-line error naming the file and field, or a report --------------


def _set(path, name, text):
    (path / name).write_text(text)


MALFORMED = {
    "config.yaml a list": ("config.yaml", "- 1\n- 2\n", r"config\.yaml must hold a mapping"),
    "config.yaml model: 5": ("config.yaml", "task: classify\nmodel: 5\n", r"config\.yaml: model must be a mapping"),
    "config.yaml data: [1]": ("config.yaml", "data: [1]\n", r"config\.yaml: data must be a mapping"),
    "config.yaml not YAML": ("config.yaml", "model: [unclosed\n", r"config\.yaml is not valid YAML"),
    "config.yaml img_size a string": ("config.yaml", "data: {name: x, img_size: ab}\nmodel: {patch_size: 0}\n", None),
    "summary.json a list": ("summary.json", "[1, 2]", r"summary\.json must hold a JSON object"),
    "summary.json not JSON": ("summary.json", "{", r"summary\.json is not valid JSON"),
    "summary.json final a list": ("summary.json", '{"final": [1]}', r"summary\.json: final must be a mapping"),
    "a string metric": ("summary.json", '{"final": {"acc1": "high"}, "paper": {"acc1": "x"}}', None),
    "metrics.jsonl odd records": ("metrics.jsonl", '5\n[1]\n{"tag": "eval"}\n{"step": "x", "tag": "train", "loss": 1}\n', None),
    "config.json a list": ("final/config.json", "[1]", r"config\.json must hold a JSON object"),
}


@pytest.mark.parametrize("case", list(MALFORMED), ids=list(MALFORMED))
def test_a_malformed_run_directory_is_one_line_naming_the_file_or_a_report(tmp_path, case, capsys):
    """D11: these used to end as "unexpected ..." (a bug report) or an error naming no file."""
    from pixelvit.commands import main

    run = make_run(tmp_path / "run", 50.0, paper={"acc1": 51.0})
    name, text, match = MALFORMED[case]
    (run / name).parent.mkdir(exist_ok=True)
    _set(run, name, text)
    if name.startswith("final/"):
        _set(run, "final/model.safetensors", "")
    if match is None:
        build_report([run], tmp_path / "report", html_too=True)
        assert main(["report", str(run), "--out", str(tmp_path / "r2")]) == 0
    else:
        with pytest.raises(ValueError, match=match):
            build_report([run], tmp_path / "report")
        assert main(["report", str(run), "--out", str(tmp_path / "r2")]) == 2
        err = capsys.readouterr().err
        assert "unexpected" not in err and len(err.strip().splitlines()) == 1


def test_run_names_and_config_strings_are_escaped_in_report_md(tmp_path):
    """D10: the HTML page escaped them; report.md put them in raw, for a renderer that allows HTML to run."""
    payload = "<img src=x onerror=alert(1)>"
    run = make_run(tmp_path / f"run{payload}|x", 50.0, paper={"acc1": 51.0}, data={"name": payload, "img_size": [32, 32]})
    config = yaml.safe_load((run / "config.yaml").read_text())
    config["paper"]["table"] = "<script>alert(2)</script>"
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    md = build_report([run], tmp_path / "report").read_text()
    assert "<img" not in md and "<script" not in md and "onerror=alert(1)&gt;" in md
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in md
    assert "run&lt;img src=x onerror=alert(1)&gt;\\|x" in md  # a | in a table cell cannot split the row
