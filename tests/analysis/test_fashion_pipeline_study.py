"""scripts/fashion_pipeline_study.py end to end on fabricated Fashion-MNIST files (a smoke test: tiny budget)."""

import runpy
from pathlib import Path

import pytest
import yaml

from fixtures.fabricate import make_fashion_mnist

SCRIPT = Path(__file__).parents[2] / "scripts" / "fashion_pipeline_study.py"


@pytest.mark.usefixtures("one_thread")
def test_study_runs_its_arms_and_reports_them(tmp_path):
    make_fashion_mnist(tmp_path / "fm", n_train=70, n_test=10)
    study = runpy.run_path(str(SCRIPT))
    out = tmp_path / "out"
    args = ["--root", str(tmp_path / "fm"), "--limit-train", "64", "--epochs", "1", "--seeds", "0", "--threads", "1",
            "--arms", "cache_tv,source_timm", "--patches", "2", "--out", str(out)]  # fmt: skip
    accuracy = study["main"](args)
    assert len(accuracy) == 2 and all(len(v) == 1 and 0 <= v[0] <= 100 for v in accuracy.values())
    source = yaml.safe_load((out / "fashion_pipeline" / "smoke_source_timm_p2_s0" / "config.yaml").read_text())
    cache = yaml.safe_load((out / "fashion_pipeline" / "smoke_cache_tv_p2_s0" / "config.yaml").read_text())
    assert source["data"]["source_size"] == 28 and source["augment"]["randaugment"] == "rand-m9-mstd0.5-inc1"
    assert cache["data"]["source_size"] is None and cache["augment"]["randaugment_ops"] == 2
    assert (out / "fashion_pipeline" / "study_e1_p2.json").is_file()
