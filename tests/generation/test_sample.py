"""``pixelvit sample`` (generation/sample.py) on a tiny pixel-space DiT trained from configs/dit/digits_dit1.yaml:
a reproducible grid and ADM-layout npz for a seed, the DDPM and DDIM samplers. A latent-space run sampled
through the VAE: tests/data/test_latents.py."""

from pathlib import Path

import numpy as np

from pixelvit.commands import main

CONFIG = Path(__file__).parents[2] / "configs" / "dit" / "digits_dit1.yaml"
TINY = ["model.embed_dim=16", "model.depth=1", "model.num_heads=2", "train.batch_size=4", "train.epochs=1",
        "train.max_steps=2", "train.precision=fp32", "train.progress=false", "data.num_workers=0", "data.limit_train=8",
        "data.limit_eval=8"]  # fmt: skip


def test_sampling_is_reproducible(tmp_path):
    run_dir = tmp_path / "run"
    assert main(["train", str(CONFIG), *TINY, f"run_dir={run_dir}"]) == 0
    outs = []
    for name in ("a", "b"):
        args = ["sample", str(run_dir), "--num", "5", "--steps", "3", "--seed", "3", "--classes", "1,2", "--device", "cpu"]
        assert main([*args, "--out", str(tmp_path / name)]) == 0
        outs.append(np.load(tmp_path / name / "samples.npz"))
    assert outs[0]["arr_0"].shape == (5, 8, 8, 3) and outs[0]["arr_0"].dtype == np.uint8
    assert np.array_equal(outs[0]["arr_0"], outs[1]["arr_0"]) and outs[0]["arr_1"].tolist() == [1, 2, 1, 2, 1]
    assert (tmp_path / "a" / "grid.png").is_file()
    assert (
        main(["sample", str(run_dir), "--num", "2", "--sampler", "ddim", "--steps", "ddim4", "--out", str(tmp_path / "c")]) == 0
    )
