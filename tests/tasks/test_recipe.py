"""``pixelvit train CONFIG --dry-run``: the resolved recipe of every config, without data or training."""

from pathlib import Path

import pytest

from pixelvit.commands import main
from pixelvit.config import load_config
from pixelvit.tasks.recipe import GPUS, UTILISATION, resolve_recipe

pytestmark = pytest.mark.usefixtures("one_thread")

CONFIGS = sorted((Path(__file__).parents[2] / "configs").rglob("*.yaml"))
SECTIONS = ["== resolved config ==", "== data ==", "== schedule ==", "effective batch", "== augmentation (training, in order) ==",
            "evaluation:", "== parameter groups ==", "== cost ==", "GPU-hours", "== paper ==", "declared deviations"]  # fmt: skip


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_dry_run_prints_the_full_recipe_of_every_config(path, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # the configs' data roots are relative: nothing there, so the data are missing
    assert main(["train", str(path), "--dry-run"]) == 0
    out = capsys.readouterr().out
    for section in SECTIONS:
        assert section in out, section
    cfg = load_config(path)
    if cfg.data.name != "digits":
        assert "DATA MISSING" in out
    if cfg.task == "diffusion":  # the objective and the sampling spec resolved for it
        assert f"objective {cfg.diffusion.objective}:" in out and "sampling (diffusion.sampling, resolved):" in out
    assert "UNDECLARED" not in out and not (tmp_path / "runs").exists()  # nothing trained, no run dir


def test_dry_run_numbers_follow_the_formulas():
    cfg = load_config(Path(__file__).parents[2] / "configs" / "imagenet" / "vit_b1.yaml")
    r = resolve_recipe(cfg)
    assert r["batch"] == 4096 and r["lr"] == pytest.approx(1e-4 * 4096 / 256)
    assert r["steps_per_epoch"] == 1_281_167 // 4096 and r["total_steps"] == 312 * 300 and r["warmup_steps"] == 20 * 312
    assert dict(r["schedule"])[0] == 0.0 and dict(r["schedule"])[6240] == pytest.approx(r["lr"])  # MAE: from 0 to peak
    # ViT-B/1 on 28x28: 785 tokens; forward 2 x (12 blocks x (12 L d^2 + 2 L^2 d) + patch embed + head) multiply-adds
    L, d = 785, 768
    macs = 12 * (12 * L * d * d + 2 * L * L * d) + 784 * 3 * d + d * 1000
    assert r["flops"]["forward_per_image"] == pytest.approx(2 * macs, rel=0.01)
    h100 = GPUS[0]
    run = r["flops"]["train_run"] + r["flops"]["eval_run"]
    assert r["gpu_hours"][h100.name] == pytest.approx(run / (h100.bf16_tflops * 1e12 * UTILISATION) / 3600)
    assert r["parameters"] == pytest.approx(86.4e6, rel=0.01)


def test_dry_run_with_the_data_present_counts_it(capsys):
    assert main(["train", "configs/dit/digits_dit1.yaml", "--dry-run"]) == 0 if Path("configs").is_dir() else True
    r = resolve_recipe(load_config(None, ["data.name=digits", "data.limit_train=100", "train.batch_size=10"]))
    assert r["data"]["train_images"] == 100 and r["steps_per_epoch"] == 10 and "data found" in r["data"]["note"]


def test_dry_run_shows_an_undeclared_difference(capsys):
    path = Path(__file__).parents[2] / "configs" / "imagenet" / "vit_b1.yaml"
    assert main(["train", str(path), "--dry-run", "optim.clip_grad=1.0"]) == 0
    assert "UNDECLARED differences" in capsys.readouterr().out
