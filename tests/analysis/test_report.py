"""``pixelvit report`` on fabricated run directories."""

import json

import numpy as np
import pytest
import yaml

from fixtures.fabricate import save_image
from pixelvit.analysis.report import build_report, collect_run


def make_run(path, acc1, paper=None, records=True, analysis=False):
    path.mkdir(parents=True)
    config = {"model": {"name": "vit_t/1"}, "data": {"name": "cifar100"}}
    if paper:
        config["paper"] = {"table": "slides: CIFAR-100", "metrics": paper, "recipe_source": "x"}
    (path / "config.yaml").write_text(yaml.safe_dump(config))
    summary = {"status": "finished", "step": 40, "final": {"acc1": acc1, "acc5": 99.0, "loss": 0.5}, "paper": paper or {}}
    (path / "summary.json").write_text(json.dumps(summary))
    if records:
        lines = [
            {"step": s, "tag": "train", "loss": 2.0 / s, "lr": 1e-3, "images_per_s": 10.0, "epoch": s / 10}
            for s in (10, 20, 30, 40)
        ]
        lines += [{"step": s, "tag": "eval", "acc1": acc1 - 40 + s, "acc5": 99.0, "loss": 0.5, "epoch": s / 10} for s in (20, 40)]
        (path / "metrics.jsonl").write_text("\n".join(json.dumps(r) for r in lines) + '\n{"torn')
    if analysis:
        save_image(path / "analysis" / "attention_distance.png", np.full((4, 4), 255, np.uint8))
        (path / "analysis" / "attention_distance.md").write_text("| layer |\n")
        save_image(path / "tb" / "ignored.png", np.zeros((4, 4), np.uint8))
    return path


def test_report_tables_curves_and_analyses(tmp_path):
    a = make_run(tmp_path / "runs" / "vit_t1", 86.25, paper={"acc1": 85.1, "acc5": 96.4}, analysis=True)
    b = make_run(tmp_path / "runs" / "vit_t2", 80.5, records=False)
    out = tmp_path / "report"
    md = build_report([a, b], out, html_too=True).read_text()
    assert "| run | model | data | status | step | acc1 | acc1 (paper) | acc5 | acc5 (paper) | loss | loss (paper) |" in md
    assert "| vit_t1 | vit_t/1 | cifar100 | finished | 40 | 86.25 | 85.10 | 99.00 | 96.40 | 0.50 | — |" in md
    assert "| vit_t2 | vit_t/1 | cifar100 | finished | 40 | 80.50 | — | 99.00 | — | 0.50 | — |" in md
    assert "Paper rows: vit_t1: slides: CIFAR-100." in md
    assert "![vit_t1 training curves](curves_vit_t1.png)" in md and (out / "curves_vit_t1.png").stat().st_size > 1000
    assert "vit_t2: no metrics.jsonl records." in md and not (out / "curves_vit_t2.png").exists()
    assert "![vit_t1: analysis/attention_distance.png](../runs/vit_t1/analysis/attention_distance.png)" in md
    assert "- [vit_t1: analysis/attention_distance.md](../runs/vit_t1/analysis/attention_distance.md)" in md
    assert "ignored.png" not in md  # TensorBoard and checkpoint folders are not analyses
    html = (out / "report.html").read_text()
    assert "<td>86.25</td><td>85.10</td>" in html and '<img src="curves_vit_t1.png"' in html


def test_the_reports_own_files_inside_a_run_are_not_listed_again(tmp_path):
    run = make_run(tmp_path / "run", 50.0)
    md = build_report([run], run / "report").read_text()
    assert "Analyses" not in md


def test_a_folder_that_is_not_a_run_is_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"neither summary\.json nor config\.yaml"):
        collect_run(tmp_path / "empty")
