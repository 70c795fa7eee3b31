"""The paper-scale study configs (configs/analysis/) load, train and evaluate for a few steps on a
fabricated ImageNet prepared at their input size, with tiny widths; the ViT-B/16 one also through
the permutation study at 224x224 (excluded from tests/test_configs.py, whose ImageNet is 28x28)."""

import json
from pathlib import Path

import pytest
import yaml

from fixtures.fabricate import make_imagenet_folders
from pixelvit.commands import main
from pixelvit.config import load_config
from pixelvit.data import prepare_imagenet

CONFIGS = sorted((Path(__file__).parents[2] / "configs" / "analysis").glob("*.yaml"))
TINY = ["model.embed_dim=16", "model.depth=1", "model.num_heads=2", "train.batch_size=4", "train.epochs=1",
        "train.precision=fp32", "train.progress=false", "data.num_workers=0"]  # fmt: skip


def test_the_study_configs_exist():
    assert {p.stem for p in CONFIGS} >= {"vit_b16_imagenet224", "vit_s16_imagenet64"}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_config_trains_and_evaluates_on_fabricated_imagenet(path, tmp_path, capsys):
    cfg = load_config(path)
    text = path.read_text()
    assert cfg.paper.metrics and cfg.paper.recipe_source and "# Run:" in text
    assert cfg.data.name == "imagenet", "extend this test's fabricated data for other datasets"
    root = tmp_path / "data"
    make_imagenet_folders(root, n_train=4, n_val=2)
    prepare_imagenet(root, cfg.data.img_size[0], workers=1, source_size=cfg.data.source_size, crop_pct=cfg.data.crop_pct)
    run_dir = tmp_path / "run"
    assert main(["train", str(path), *TINY, f"data.root={root}", f"run_dir={run_dir}"]) == 0
    summary = yaml.safe_load((run_dir / "summary.json").read_text())
    assert summary["status"] == "finished" and 0.0 <= summary["final"]["acc1"] <= 100.0
    assert main(["eval", str(run_dir), "--device", "cpu"]) == 0
    assert "acc1:" in capsys.readouterr().out
    if cfg.data.img_size == [224, 224]:  # the permutation study's own image size: T = 100 swaps within δ = 4
        out = tmp_path / "perm"
        args = [
            "permutation-study",
            str(path),
            *TINY,
            f"data.root={root}",
            "--pairs",
            "0,100",
            "--deltas",
            "4",
            "--out",
            str(out),
        ]
        assert main(args) == 0
        rows = json.loads((out / "permutation_study.json").read_text())
        assert [(r["pairs"], r["delta"]) for r in rows] == [(0, None), (100, 4.0)]
        assert rows[1]["percent"] == pytest.approx(100 * 100 / 25088)
