"""Small rough edges, each one clear: a closed pipe, CUDA asked on a CPU, a failed start, flat ImageNet val/,
FID from few samples, the VAE download hint."""

import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from pixelvit.commands import main

ROOT = Path(__file__).parents[2]


def test_a_reader_that_leaves_early_is_not_an_error():
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "HF_HUB_OFFLINE": "1"}
    # `true` exits at once: every write of `pixelvit models` meets a closed pipe (as `| head` does past its lines)
    done = subprocess.run(f"{sys.executable} -m pixelvit models | true; echo $" + "{PIPESTATUS[0]}", shell=True,
                          executable="/bin/bash", capture_output=True, text=True, env=env, timeout=120)  # fmt: skip
    assert done.stdout.strip() == "0" and "BrokenPipe" not in done.stderr and "Error" not in done.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_asked_on_a_cpu_machine_is_bad_input(tmp_path):
    from pixelvit.engine.device import resolve_device

    with pytest.raises(ValueError, match="device cuda requested but CUDA is not available"):
        resolve_device("cuda")
    args = ["data.name=digits", "model.name=vit_t/4", "train.device=cuda", f"run_dir={tmp_path / 'run'}"]
    from pixelvit.tasks.training import train_from_config

    with pytest.raises(ValueError, match=r"train\.device=cuda requested but CUDA is not available"):
        train_from_config(None, args)


def test_a_failed_start_leaves_no_folder_holding_only_its_lock(tmp_path, capsys):
    run_dir = tmp_path / "run"
    code = main(["train", "configs/cifar100/vit_t1.yaml", f"data.root={tmp_path / 'no_cifar'}", f"run_dir={run_dir}"])
    assert code == 2 and not run_dir.exists()
    run_dir.mkdir()  # a folder that was there before is left as it was
    (run_dir / "notes.txt").write_text("mine")
    assert main(["train", "configs/cifar100/vit_t1.yaml", f"data.root={tmp_path / 'no_cifar'}", f"run_dir={run_dir}"]) == 2
    assert sorted(p.name for p in run_dir.iterdir()) == [".lock", "notes.txt"]


def test_flat_imagenet_val_says_to_sort_it_into_class_folders(tmp_path):
    from PIL import Image

    from pixelvit.data.imagenet import scan_imagenet

    for path in (tmp_path / "train" / "n01440764" / "a.JPEG", tmp_path / "val" / "ILSVRC2012_val_00000001.JPEG"):
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (4, 4)).save(path, format="JPEG")
    with pytest.raises(ValueError, match=r"holds 1 images directly .* sort them into wnid folders"):
        scan_imagenet(tmp_path, ("train", "val"))


def test_fid_from_few_samples_warns_in_words_not_with_scipys_warning():
    from scipy.linalg import LinAlgWarning

    from pixelvit.metrics.generation import feature_statistics, frechet_distance

    rng = np.random.default_rng(0)
    with pytest.warns(UserWarning, match="FID statistics from 40 samples of 64-dim features: the covariance is singular"):
        a = feature_statistics(rng.normal(size=(40, 64)))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        b = feature_statistics(rng.normal(size=(40, 64)))
        value = frechet_distance(*a, *b)
    assert np.isfinite(value) and not [w for w in caught if issubclass(w.category, LinAlgWarning)]


def test_the_vae_hint_names_the_hf_command():
    from pixelvit.data.latents import HOW_TO_GET_VAE

    assert "hf download stabilityai/sd-vae-ft-ema" in HOW_TO_GET_VAE and "huggingface-cli" not in HOW_TO_GET_VAE


def test_help_shows_defaults_and_examples(capsys):
    for command in (["prepare", "-h"], ["eval", "-h"]):
        with pytest.raises(SystemExit):
            main(command)
        text = capsys.readouterr().out
        assert "examples:\n  pixelvit " in text
    with pytest.raises(SystemExit):
        main(["prepare", "-h"])
    assert "decoding processes (default: 2)" in " ".join(capsys.readouterr().out.split())
