"""Every config under configs/ loads, and trains + evaluates for a few steps on fabricated data in
its dataset's real on-disk format (tiny widths via overrides), through the CLI's code path."""

from pathlib import Path

import pytest
import yaml

from fixtures.fabricate import make_cifar100, make_flowers102, make_imagenet_folders
from pixelvit.commands import main
from pixelvit.config import load_config
from pixelvit.data import prepare_imagenet

# configs/mae/ (pre-train then fine-tune, chained through model.init_from) is exercised by tests/tasks/test_mae.py,
# configs/analysis/ (study bases at 224 and 64 pixels) by tests/analysis/test_analysis_configs.py,
# configs/nyu_depth/ (task depth, a fabricated labeled .mat) by tests/analysis/test_depth_predictions.py,
# configs/dit/ (task diffusion, fabricated latent caches) by tests/tasks/test_diffusion.py.
CONFIGS = sorted(
    p
    for p in (Path(__file__).parents[1] / "configs").rglob("*.yaml")
    if p.parent.name not in ("mae", "analysis", "nyu_depth", "dit")
)
TINY = ["model.embed_dim=16", "model.depth=1", "model.num_heads=2", "train.batch_size=4", "train.epochs=1",
        "train.precision=fp32", "train.progress=false", "data.num_workers=0"]  # fmt: skip


def fabricate(name: str, root: Path, source_size: int | None = None, crop_pct: float = 1.0) -> None:
    if name == "cifar100":
        make_cifar100(root, n_train=12, n_test=5)
    elif name == "flowers102":
        make_flowers102(root, n_images=24)
    elif name == "imagenet":
        make_imagenet_folders(root, n_train=4, n_val=2)
        prepare_imagenet(root, 28, workers=1, source_size=source_size, crop_pct=crop_pct)
    else:
        raise AssertionError(f"no fabricated data for {name}: add it here")


def test_every_paper_row_has_a_config():
    names = {p.relative_to(CONFIGS[0].parents[1]).as_posix() for p in CONFIGS}
    for row in ["cifar100/vit_t1", "cifar100/vit_t2", "cifar100/vit_s1", "cifar100/vit_s2", "imagenet/vit_s1", "imagenet/vit_s2",
                "imagenet/vit_b1", "imagenet/vit_b2", "imagenet/vit_l1", "imagenet/vit_l2", "imagenet/vit_b1_dictionary",
                "flowers102/vit_s1", "flowers102/vit_s2"]:  # fmt: skip
        assert f"{row}.yaml" in names


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_config_trains_and_evaluates_on_fabricated_data(path, tmp_path, capsys):
    cfg = load_config(path)
    assert cfg.paper.metrics and cfg.paper.recipe_source, "each config records the paper's numbers and its recipe source"
    assert "# Run:" in path.read_text(), "each config states the command that runs it"
    root = tmp_path / "data"
    fabricate(cfg.data.name, root, cfg.data.source_size, cfg.data.crop_pct)
    run_dir = tmp_path / "run"
    assert main(["train", str(path), *TINY, f"data.root={root}", f"run_dir={run_dir}"]) == 0
    summary = yaml.safe_load((run_dir / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["step"] >= 1
    assert 0.0 <= summary["final"]["acc1"] <= 100.0
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["model"]["name"] == cfg.model.name
    assert main(["eval", str(run_dir), "--device", "cpu"]) == 0
    assert "acc1:" in capsys.readouterr().out
