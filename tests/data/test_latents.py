"""Latent space with a tiny randomly initialised diffusers AutoencoderKL saved in the sd-vae layout:
`pixelvit prepare-latents`, the cached latent dataset, the missing-VAE error, and a latent-space run
sampled and decoded through the VAE."""

import json

import numpy as np
import pytest
import torch

from fixtures.fabricate import make_cifar100
from pixelvit.commands import main
from pixelvit.data.latents import LatentDataset, decode, encode, latent_paths, load_vae
from pixelvit.tasks.training import train_from_config


@pytest.fixture(scope="module")
def vae_dir(tmp_path_factory):
    from diffusers import AutoencoderKL

    torch.manual_seed(0)
    vae = AutoencoderKL(
        block_out_channels=(8, 8), down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
        layers_per_block=1, latent_channels=4, norm_num_groups=4, sample_size=32,
    )  # fmt: skip
    folder = tmp_path_factory.mktemp("vae")
    vae.save_pretrained(folder)
    assert {p.name for p in folder.iterdir()} >= {"config.json", "diffusion_pytorch_model.safetensors"}
    return folder


@pytest.fixture(scope="module")
def latents(vae_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("latents")
    fab = make_cifar100(tmp / "cifar", n_train=6, n_test=2)
    out = tmp / "cache" / "cifar_train.npy"
    args = ["prepare-latents", "--vae", str(vae_dir), "--data", "cifar100", "--root", str(fab.root), "--out", str(out)]
    assert main([*args, "--size", "0", "--posterior", "mean", "--batch-size", "4", "--device", "cpu"]) == 0
    return fab, out


def test_prepare_latents_writes_scaled_latents_with_flip_variants(vae_dir, latents):
    fab, out = latents
    data, labels, meta = latent_paths(out)
    array = np.load(data)
    assert array.dtype == np.float16 and array.shape == (6, 2, 4, 16, 16)
    assert np.array_equal(np.load(labels), fab.targets["train"])
    info = json.loads(meta.read_text())
    assert info["scale"] == 0.18215 and info["flip"] and info["count"] == 6 and info["num_classes"] == 100
    vae = load_vae(vae_dir)
    images = torch.from_numpy(fab.images["train"])
    expected = encode(vae, images, "mean").numpy()
    mirrored = encode(vae, images.flip(-1), "mean").numpy()
    np.testing.assert_allclose(array[:, 0], expected, atol=2e-3, rtol=2e-3)
    np.testing.assert_allclose(array[:, 1], mirrored, atol=2e-3, rtol=2e-3)
    assert decode(vae, torch.from_numpy(expected[:2])).shape == (2, 3, 32, 32)


def test_latent_dataset_picks_the_flip_variant_from_the_seed(latents):
    _, out = latents
    array = np.load(out)
    plain, always = LatentDataset(out, hflip=0.0), LatentDataset(out, hflip=1.0)
    assert torch.equal(plain[(2, 7)][0], torch.from_numpy(array[2, 0].astype(np.float32)))
    assert torch.equal(always[(2, 7)][0], torch.from_numpy(array[2, 1].astype(np.float32)))
    half = LatentDataset(out, hflip=0.5)
    picks = {torch.equal(half[(0, s)][0], always[(0, s)][0]) for s in range(20)}
    assert picks == {True, False} and torch.equal(half[(0, 3)][0], half[(0, 3)][0])
    with pytest.raises(FileNotFoundError, match="prepare-latents"):
        LatentDataset(out.parent / "missing.npy")


def test_missing_vae_directory_names_what_to_download(tmp_path, capsys):
    args = ["prepare-latents", "--vae", str(tmp_path / "nope"), "--data", "digits", "--out", str(tmp_path / "x.npy")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "sd-vae-ft-ema" in err and "diffusion_pytorch_model.safetensors" in err and "huggingface" in err


def test_latent_run_samples_through_the_vae(vae_dir, latents, tmp_path):
    _, out = latents
    run = tmp_path / "run"
    overrides = [
        "task=diffusion", "model.name=dit_s/2", "model.embed_dim=16", "model.depth=1", "model.num_heads=2",
        "diffusion.space=latent", f"diffusion.latent_file={out}", f"diffusion.vae={vae_dir}", "train.batch_size=2",
        "train.epochs=1", "train.max_steps=1", "train.precision=fp32", "train.progress=false", f"run_dir={run}",
    ]  # fmt: skip
    assert train_from_config(None, overrides)["step"] == 1
    samples = tmp_path / "samples"
    args = ["sample", str(run), "--num", "2", "--steps", "2", "--cfg-scale", "2", "--out", str(samples), "--device", "cpu"]
    assert main(args) == 0
    with np.load(samples / "samples.npz") as z:
        assert z["arr_0"].shape == (2, 32, 32, 3) and z["arr_0"].dtype == np.uint8 and z["arr_1"].shape == (2,)
    assert (samples / "grid.png").is_file()
