"""The time-to-accuracy arithmetic on hand-made metrics, and scripts/time_to_accuracy.py end to end on fabricated
Fashion-MNIST files (tiny budget)."""

import json
import runpy
from pathlib import Path

import pytest
import yaml

from fixtures.fabricate import make_fashion_mnist
from pixelvit.bench.time_to_accuracy import accuracy_within, time_to, training_curve

SCRIPT = Path(__file__).parents[2] / "scripts" / "time_to_accuracy.py"


@pytest.fixture(scope="module")
def tta():
    return runpy.run_path(str(SCRIPT))


def test_curve_sums_the_log_intervals_and_skips_evaluation(tmp_path):
    records = [
        {"step": 10, "tag": "train", "images_per_s": 64.0},  # 10 steps × 32 images / 64 img/s = 5 s
        {"step": 15, "tag": "train", "images_per_s": 32.0},  # 5 × 32 / 32 = 5 s
        {"step": 15, "tag": "eval", "acc1": 50.0},
        {"step": 35, "tag": "train", "images_per_s": 128.0},  # 20 × 32 / 128 = 5 s
        {"step": 35, "tag": "eval", "acc1": 70.0},
    ]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    points = training_curve(tmp_path, 32)
    assert points == [(10.0, 50.0), (15.0, 70.0)]
    assert time_to(points, 60.0) == 15.0 and time_to(points, 50.0) == 10.0
    assert time_to(points, 71.0) is None
    assert accuracy_within(points, 14.0) == 50.0 and accuracy_within(points, 15.0) == 70.0
    assert accuracy_within(points, 5.0) is None


@pytest.mark.usefixtures("one_thread")
def test_script_runs_both_arms(tta, tmp_path):
    make_fashion_mnist(tmp_path / "fm", n_train=70, n_test=10)
    out = tmp_path / "out"
    rows = tta["main"](["--root", str(tmp_path / "fm"), "--limit-train", "64", "--plain-epochs", "1", "--fast-epochs", "2",
                        "--seeds", "0", "--threads", "1", "--out", str(out)])  # fmt: skip
    (row,) = rows
    assert len(row["plain"]) == 1 and len(row["fast"]) == 2  # the fast arm is evaluated after every epoch
    assert row["fast"][0][0] < row["fast"][1][0]
    fast = yaml.safe_load((out / "time_to_accuracy" / "fast_pixels_e2_n64_s0" / "config.yaml").read_text())
    plain = yaml.safe_load((out / "time_to_accuracy" / "plain_e1_n64_s0" / "config.yaml").read_text())
    assert fast["model"]["token_keep"] == 0.25 and fast["train"]["precision"] == "auto"
    assert plain["model"]["token_keep"] == 1.0 and plain["train"]["precision"] == "fp32"
    assert plain["model"]["patch_size"] == fast["model"]["patch_size"] == 1
    assert (out / "time_to_accuracy" / "tta_n64.json").is_file()
