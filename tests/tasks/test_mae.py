"""configs/mae: every pre-training config trains a few steps on fabricated CIFAR-100 through the CLI,
its fine-tuning config then starts from that run (model.init_from), and mae-show draws a PNG."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fixtures.fabricate import make_cifar100
from pixelvit import save_pretrained
from pixelvit.analysis.mae_reconstructions import HEADER, MASK_COLOUR, PAD
from pixelvit.commands import main
from pixelvit.config import load_config
from pixelvit.data import get_dataset_spec, load_arrays
from pixelvit.models import create_model

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: one thread is faster on a shared 2-core machine

CONFIG_DIR = Path(__file__).parents[2] / "configs" / "mae"
ROWS = ["t1", "t2", "s1", "s2"]
TINY = ["model.embed_dim=16", "model.depth=1", "model.num_heads=2", "train.batch_size=4", "train.epochs=1",
        "train.precision=fp32", "train.progress=false", "data.num_workers=0"]  # fmt: skip
TINY_DECODER = ["mae.decoder_embed_dim=16", "mae.decoder_depth=1", "mae.decoder_num_heads=2"]


@pytest.fixture(scope="module")
def cifar(tmp_path_factory):
    root = tmp_path_factory.mktemp("cifar")
    make_cifar100(root, n_train=12, n_test=5)
    return root


def test_every_mae_row_has_a_pretrain_and_a_finetune_config():
    assert sorted(p.name for p in CONFIG_DIR.glob("*.yaml")) == sorted(
        [f"pretrain_vit_{r}.yaml" for r in ROWS] + [f"finetune_vit_{r}.yaml" for r in ROWS]
    )


@pytest.mark.parametrize("row", ROWS)
def test_pretrain_then_finetune_configs_run_on_fabricated_cifar(row, cifar, tmp_path, capsys):
    pre_path, ft_path = CONFIG_DIR / f"pretrain_vit_{row}.yaml", CONFIG_DIR / f"finetune_vit_{row}.yaml"
    pre, ft = load_config(pre_path), load_config(ft_path)
    for cfg, path in ((pre, pre_path), (ft, ft_path)):
        assert cfg.paper.metrics["acc1"] and cfg.paper.metrics["acc5"] and cfg.paper.recipe_source
        assert "# Run:" in path.read_text() and "Target" in pre_path.read_text()
    assert pre.task == "mae" and pre.mae.mask_ratio == 0.75 and ft.task == "classify"
    assert ft.model.init_from == f"runs/pretrain_vit_{row}" and ft.model.global_pool == "avg" and ft.optim.layer_decay
    assert pre.model.name == ft.model.name

    pre_dir, ft_dir = tmp_path / "pre", tmp_path / "ft"
    assert main(["train", str(pre_path), *TINY, *TINY_DECODER, f"data.root={cifar}", f"run_dir={pre_dir}"]) == 0
    summary = json.loads((pre_dir / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["step"] == 3 and np.isfinite(summary["final"]["loss"])
    assert main(["eval", str(pre_dir), "--device", "cpu"]) == 0
    assert f"loss: {summary['final']['loss']:.3f}" in capsys.readouterr().out  # fixed eval masks: same number

    assert main(["train", str(ft_path), *TINY, f"model.init_from={pre_dir}", f"data.root={cifar}", f"run_dir={ft_dir}"]) == 0
    assert f"init_from {pre_dir}: loaded the encoder" in capsys.readouterr().out
    summary = json.loads((ft_dir / "summary.json").read_text())
    assert summary["status"] == "finished" and 0.0 <= summary["final"]["acc1"] <= 100.0
    if row == "t1":
        assert main(["mae-show", str(pre_dir), "--num", "2", "--out", str(tmp_path / "show.png")]) == 0
        assert Image.open(tmp_path / "show.png").size == (3 * (96 + PAD) + PAD, HEADER + 2 * (96 + PAD) + PAD)


def test_mae_show_grid_holds_the_original_the_masked_input_and_pasted_visible_pixels(tmp_path):
    spec = get_dataset_spec("digits")
    model = create_model("mae_vit_t/2", decoder_embed_dim=16, decoder_depth=1, decoder_num_heads=2, img_size=8, in_chans=1,
                         embed_dim=16, depth=1, num_heads=2, pixel_mean=spec.mean, pixel_std=spec.std)  # fmt: skip
    save_pretrained(model, tmp_path / "mae")
    out = tmp_path / "grid.png"
    assert main(["mae-show", str(tmp_path / "mae"), "--data", "digits", "--num", "3", "--out", str(out)]) == 0
    grid = np.asarray(Image.open(out).convert("RGB"))
    scale, size = 12, 8  # tiles are upscaled to at least 96 pixels
    images = load_arrays("digits", None, "test").images[:3, 0]
    n_masked = 0
    for i in range(3):
        top = HEADER + PAD + i * (size * scale + PAD)
        tiles = [grid[top : top + 96 : scale, PAD + j * (96 + PAD) : PAD + j * (96 + PAD) + 96 : scale] for j in range(3)]
        original, masked, pasted = tiles
        assert (original == images[i][..., None]).all()  # the exact pixels, grey as RGB
        is_masked = (masked == np.array(MASK_COLOUR)).all(-1)
        n_masked += is_masked.sum()
        assert (masked[~is_masked] == original[~is_masked]).all()
        assert (pasted[~is_masked] == original[~is_masked]).all()
    assert n_masked == 3 * 48  # 75 % of 64 pixels per image
