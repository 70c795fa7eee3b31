"""Every configs/dit/*.yaml trains and evaluates for a few steps through the CLI on fabricated data (the
paper rows on a fabricated latent cache in the real format), and the evaluation loss is deterministic.
Sampling a trained run: tests/generation/test_sample.py."""

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from fixtures.fabricate import make_fashion_mnist
from pixelvit.commands import main
from pixelvit.config import ConfigError, load_config
from pixelvit.data.latents import write_latents
from pixelvit.tasks import build_task

CONFIGS = sorted((Path(__file__).parents[2] / "configs" / "dit").glob("*.yaml"))
TINY = ["model.embed_dim=16", "model.depth=1", "model.num_heads=2", "train.batch_size=4", "train.epochs=1",
        "train.max_steps=2", "train.precision=fp32", "train.progress=false", "data.num_workers=0", "data.limit_train=8",
        "data.limit_eval=8"]  # fmt: skip
PAPER_METRICS = {"fid", "sfid", "inception_score", "precision", "recall"}


def fabricate_latents(folder: Path, n: int = 8) -> list[str]:
    """Train and val caches of 4x8x8 latents (train with flip variants), as prepare-latents writes them."""
    rng = np.random.default_rng(0)
    meta = {"data": "imagenet", "scale": 0.18215, "num_classes": 10}
    train = write_latents(folder / "train.npy", rng.normal(size=(n, 2, 4, 8, 8)), rng.integers(0, 10, n), {**meta, "flip": True})
    val = write_latents(folder / "val.npy", rng.normal(size=(n, 1, 4, 8, 8)), rng.integers(0, 10, n), {**meta, "flip": False})
    return [f"diffusion.latent_file={train}", f"diffusion.eval_latent_file={val}"]


def test_every_paper_dit_row_has_a_config():
    names = {p.stem for p in CONFIGS}
    assert {"dit_l2_400ep", "dit_l1_400ep", "dit_l2_1400ep", "dit_l1_1400ep", "digits_dit1"} <= names
    assert {f"dit_l{p}_{o}_400ep" for p in (1, 2) for o in ("flow_v", "flow_x")} <= names
    assert "fashion_mnist_gen" in names  # the base of the generation study


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_config_trains_and_evaluates_on_fabricated_data(path, tmp_path, capsys):
    cfg = load_config(path)
    assert cfg.task == "diffusion" and cfg.paper.recipe_source and "# Run:" in path.read_text()
    data = fabricate_latents(tmp_path) if cfg.diffusion.space == "latent" else []
    if cfg.data.name == "fashion_mnist":  # the generation study's base, on fabricated idx files
        make_fashion_mnist(tmp_path / "fm", n_train=12, n_test=8)
        data = [f"data.root={tmp_path / 'fm'}"]
    if cfg.diffusion.space == "latent":
        assert cfg.model.name in ("dit_l/1", "dit_l/2") and cfg.train.ema_decay == 0.9999 and cfg.optim.weight_decay == 0
        if cfg.diffusion.objective == "ddpm_eps":  # the paper's rows
            assert set(cfg.paper.metrics) == PAPER_METRICS and cfg.optim.lr == cfg.optim.min_lr == 1e-4
        else:  # the same rows under SiT's / JiT's objective: no paper number, a recipe named
            assert not cfg.paper.metrics and ("SiT" in cfg.paper.recipe_source or "JiT" in cfg.paper.recipe_source)
    run_dir = tmp_path / "run"
    assert main(["train", str(path), *TINY, *data, f"run_dir={run_dir}"]) == 0
    summary = yaml.safe_load((run_dir / "summary.json").read_text())
    assert summary["status"].startswith("reached") and summary["step"] == 2
    assert main(["eval", str(run_dir), "--device", "cpu", "--batch-size", "4"]) == 0
    assert "loss:" in capsys.readouterr().out


def test_evaluation_loss_is_deterministic():
    cfg = load_config(CONFIGS[0].parent / "digits_dit1.yaml", TINY)
    task = build_task(cfg)
    batches = [task.evaluation.dataset[i] for i in range(6)]
    collate = [torch.utils.data.default_collate(batches[:3]), torch.utils.data.default_collate(batches[3:])]
    first = task.evaluation.sums(task.model, collate, torch.device("cpu"))
    again = task.evaluation.sums(task.model, collate[::-1], torch.device("cpu"))
    torch.testing.assert_close(first, again)
    assert first[3] == 6 and task.evaluation.summarize(first)["loss"] > 0


def test_diffusion_config_errors_name_the_key():
    with pytest.raises(ConfigError, match="trains dit_"):
        load_config(None, ["task=diffusion", "model.name=vit_t/1"])
    with pytest.raises(ConfigError, match="latent_file"):
        load_config(None, ["task=diffusion", "model.name=dit_s/1", "diffusion.space=latent"])
    with pytest.raises(ConfigError, match=r"diffusion\.sampling: cannot take exactly 999 steps"):
        load_config(None, ["task=diffusion", "model.name=dit_s/1", "diffusion.sampling.steps=ddim999"])
    with pytest.raises(ConfigError, match="class_dropout"):
        load_config(None, ["task=diffusion", "model.name=dit_s/1", "diffusion.class_dropout=0", "diffusion.sampling.cfg_scale=2"])


FLOW = ["task=diffusion", "model.name=dit_s/2", "data.name=digits", "data.img_size=[8,8]", *TINY]


@pytest.mark.parametrize("objective", ["flow_v", "flow_x"])
def test_flow_objective_trains_evaluates_samples_and_resumes_exactly(objective, tmp_path, capsys):
    """A flow run: C output channels (no variance), a deterministic evaluation loss, euler and heun sampling
    through `pixelvit sample` with a guidance interval, and a resumed run equal to an uninterrupted one."""
    from safetensors.torch import load_file

    extra = [f"diffusion.objective={objective}", "diffusion.time_sampling=logit_normal", "diffusion.p_mean=-0.8",
             "train.max_steps=4", "train.keep_checkpoints=1"]  # fmt: skip
    cfg = load_config(None, [*FLOW, *extra, f"run_dir={tmp_path / 'straight'}"])
    task = build_task(cfg)
    assert task.model.out_channels == 1 and not task.model.learn_sigma
    batch = torch.utils.data.default_collate([task.evaluation.dataset[i] for i in range(4)])
    first = task.evaluation.sums(task.model, [batch], torch.device("cpu"))
    assert torch.equal(first, task.evaluation.sums(task.model, [batch], torch.device("cpu")))
    assert set(task.evaluation.summarize(first)) == {"loss"} and 0 < float(batch[2].min()) < float(batch[2].max()) < 1

    from pixelvit.tasks.training import train_from_config

    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    train_from_config(None, [*FLOW, *extra, f"run_dir={straight}"])
    stopped = train_from_config(None, [*FLOW, *extra, "train.max_steps=2", f"run_dir={resumed}"])
    assert stopped["step"] == 2 and not (resumed / "final").exists()
    train_from_config(None, [*FLOW, *extra, f"run_dir={resumed}"])
    a, b = (load_file(str(d / "final" / "model.safetensors")) for d in (straight, resumed))
    assert all(torch.equal(a[k], b[k]) for k in a)

    for sampler in ("euler", "heun"):
        args = ["sample", str(straight), "--num", "3", "--sampler", sampler, "--steps", "3", "--seed", "1"]
        assert main([*args, "--guidance-interval", "0.2,0.8", "--device", "cpu", "--out", str(tmp_path / sampler)]) == 0
        with np.load(tmp_path / sampler / "samples.npz") as z:
            assert z["arr_0"].shape == (3, 8, 8, 3)
    info = yaml.safe_load((tmp_path / "heun" / "samples.json").read_text())
    assert info["sampler"] == "heun" and info["guidance_interval"] == [0.2, 0.8] and info["objective"] == objective
    assert main(["sample", str(straight), "--num", "2", "--sampler", "ddpm", "--out", str(tmp_path / "x")]) == 2
    assert "sampler 'ddpm' does not sample objective" in capsys.readouterr().err


def test_flow_configuration_errors_name_the_fix():
    base = ["task=diffusion", "model.name=dit_s/1"]
    with pytest.raises(ConfigError, match="learn_sigma=true does not apply to objective flow_v"):
        load_config(None, [*base, "diffusion.objective=flow_v", "diffusion.learn_sigma=true"])
    with pytest.raises(ConfigError, match="logit_normal applies to the flow objectives"):
        load_config(None, [*base, "diffusion.time_sampling=logit_normal"])
    with pytest.raises(ConfigError, match="sampler 'heun' does not sample objective 'ddpm_eps'"):
        load_config(None, [*base, "diffusion.sampling.sampler=heun"])
    with pytest.raises(ConfigError, match="guidance_interval applies to the flow samplers"):
        load_config(None, [*base, "diffusion.sampling.guidance_interval=[0.1,1.0]"])
    with pytest.raises(ConfigError, match="number of ODE steps"):
        load_config(None, [*base, "diffusion.objective=flow_x", "diffusion.sampling.steps=fifty"])
    with pytest.raises(ConfigError, match=r"t_min <= t_max"):
        load_config(None, [*base, "diffusion.objective=flow_x", "diffusion.sampling.guidance_interval=[0.8,0.2]"])
    cfg = load_config(None, [*base, "diffusion.objective=flow_x"])
    from pixelvit.tasks.diffusion import resolve_sampling

    assert resolve_sampling(cfg.diffusion).sampler == "heun" and resolve_sampling(cfg.diffusion).steps == "50"


def test_flow_in_latent_space_at_patch_1(tmp_path):
    """Latent space, patch size 1, flow_v: trains two steps and evaluates on a fabricated latent cache."""
    data = fabricate_latents(tmp_path)
    run_dir = tmp_path / "run"
    args = ["train", "configs/dit/dit_l1_flow_v_400ep.yaml", *TINY, *data, f"run_dir={run_dir}"]
    assert main([args[0], str(CONFIGS[0].parent / "dit_l1_flow_v_400ep.yaml"), *args[2:]]) == 0
    assert main(["eval", str(run_dir), "--device", "cpu", "--batch-size", "4"]) == 0


def test_a_config_saved_before_the_sampling_spec_still_loads_and_resumes():
    """Run directories of earlier versions wrote the sampler options flat in ``diffusion`` (and every default):
    they load with the options moved into ``diffusion.sampling``, and resuming sees no change of config."""
    from pixelvit.config import parse_config
    from pixelvit.diffusion.samplers import SamplingSpec
    from pixelvit.engine.run_dir import config_changes

    base = ["task=diffusion", "model.name=dit_s/1"]
    cfg = load_config(None, [*base, "diffusion.sampling.sampler=ddim", "diffusion.sampling.steps=ddim25",
                             "diffusion.sampling.cfg_scale=2.0"])  # fmt: skip
    old = cfg.to_dict()
    for key in ("objective", "time_sampling", "p_mean", "p_std", "t_eps", "sampling"):
        del old["diffusion"][key]
    old["diffusion"].update(learn_sigma=True, sampler="ddim", sample_steps="ddim25", cfg_scale=2.0, ddim_eta=0.0,
                            guidance_channels=None)  # fmt: skip
    loaded = parse_config(old, strict=False)
    assert loaded.diffusion.sampling == SamplingSpec(sampler="ddim", steps="ddim25", cfg_scale=2.0)
    assert loaded.diffusion.learn_sigma is None and loaded.diffusion.objective == "ddpm_eps"
    assert config_changes(old, cfg.to_dict()) == []
    defaults = {**old, "diffusion": {**old["diffusion"], "sampler": "ddpm", "sample_steps": "250", "cfg_scale": 1.5}}
    assert config_changes(defaults, load_config(None, base).to_dict()) == []
