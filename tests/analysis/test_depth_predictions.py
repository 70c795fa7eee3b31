"""Each NYU-v2 config trains a few steps on a fabricated labeled .mat through the CLI; eval reports the
depth metrics; depth-show writes a PNG grid."""

import json
from pathlib import Path

import pytest
from PIL import Image

from fixtures.nyu_depth import make_depth_folder, make_nyu_depth_v2
from pixelvit.commands import main
from pixelvit.config import load_config

CONFIGS = sorted((Path(__file__).parents[2] / "configs" / "nyu_depth").glob("*.yaml"))
TINY = ["model.embed_dim=16", "model.depth=1", "model.num_heads=2", "train.batch_size=2", "train.epochs=1",
        "train.precision=fp32", "train.progress=false", "data.num_workers=0", "optim.warmup_epochs=0.5"]  # fmt: skip


def test_both_paper_rows_have_a_config():
    assert [p.stem for p in CONFIGS] == ["vit_s1", "vit_s2"]
    s1, s2 = (load_config(p) for p in CONFIGS)
    assert (s1.model.name, s2.model.name) == ("vit_s/1", "vit_s/2")
    assert s1.paper.metrics == {"rmse": 0.72, "rae": 0.74} and s2.paper.metrics == {"rmse": 0.80, "rae": 0.78}
    assert s1.data.img_size == [48, 64] and s1.task == "depth" and s1.depth.loss == "silog"
    assert "Not in the paper" in s1.paper.recipe_source


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_config_trains_evaluates_and_shows_on_fabricated_nyu(path, tmp_path, capsys):
    assert "# Run:" in path.read_text()
    root, run_dir = tmp_path / "nyu", tmp_path / "run"
    make_nyu_depth_v2(root, n=8, size=(96, 128))  # resized to the config's 48x64
    assert main(["train", str(path), *TINY, f"data.root={root}", f"run_dir={run_dir}"]) == 0
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["step"] == 2
    assert summary["final"]["rmse"] > 0 and 0 <= summary["final"]["delta1"] <= 1
    assert summary["paper"] == {} and summary["paper_mismatch"]  # a shrunk run is not the NYU row's: no NYU numbers
    capsys.readouterr()
    assert main(["eval", str(run_dir), "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    for key in ("rmse:", "rae:", "abs_rel:", "log10:", "delta1:", "delta2:", "delta3:"):
        assert key in out
    png = tmp_path / "show.png"
    assert main(["depth-show", str(run_dir), "--out", str(png), "--num", "3", "--device", "cpu"]) == 0
    with Image.open(png) as image:
        assert image.format == "PNG" and image.height > image.width / 3  # three rows of three panels


def test_eval_and_show_on_a_depth_folder_and_default_png_place(tmp_path, capsys):
    make_depth_folder(tmp_path / "data", {"train": 4, "test": 2}, size=(16, 24))
    run_dir = tmp_path / "run"
    args = ["task=depth", "data.name=depth_folder", f"data.root={tmp_path / 'data'}", "data.img_size=[8,12]",
            "model.name=vit_t/2", *TINY, f"run_dir={run_dir}"]  # fmt: skip
    assert main(["train", str(CONFIGS[0]), *args]) == 0
    capsys.readouterr()
    assert main(["eval", str(run_dir / "final"), "--split", "train", "--device", "cpu"]) == 0
    assert "rmse:" in capsys.readouterr().out
    assert main(["depth-show", str(run_dir / "final"), "--device", "cpu"]) == 0
    assert (run_dir / "final" / "depth_show.png").is_file()


def test_depth_show_refuses_a_classifier(tmp_path, capsys):
    from pixelvit.models import create_model, save_pretrained

    save_pretrained(create_model("vit_t/2", img_size=8, num_classes=3, embed_dim=16, depth=1, num_heads=2), tmp_path / "m")
    make_depth_folder(tmp_path / "data", {"test": 1}, size=(8, 8))
    assert main(["depth-show", str(tmp_path / "m"), "--data", "depth_folder", "--root", str(tmp_path / "data")]) == 2
    assert "a depth model is a DenseViT" in capsys.readouterr().err
