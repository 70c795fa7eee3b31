"""Every analysis command end to end on CPU: tiny models on the bundled digits, through ``pixelvit``'s CLI."""

import json

import numpy as np
import pytest

from fixtures.fabricate import flat_image, make_fashion_mnist, save_image
from pixelvit.commands import main
from pixelvit.tasks.training import train_from_config

MODEL = ["data.name=digits", "data.img_size=[8,8]", "model.embed_dim=16", "model.depth=2", "model.num_heads=2",
         "model.pos_embed_std=1.0", "train.precision=fp32", "train.progress=false", "train.batch_size=32", "train.epochs=1",
         "data.limit_train=64", "data.limit_eval=64"]  # fmt: skip
# Studies start from the demo's digits recipe ("digits"); these overrides shrink it to seconds.
STUDY = ["model.embed_dim=16", "model.depth=1", "model.num_heads=2", "train.epochs=1", "train.batch_size=32",
         "data.limit_train=64", "data.limit_eval=64", "train.progress=false"]  # fmt: skip


COMMANDS = ["attention-distance", "attention-maps", "pe-similarity", "pe-study", "permutation-study", "patch-sweep",
            "shape-bias", "report"]  # fmt: skip


@pytest.mark.parametrize("command", COMMANDS)
def test_every_analysis_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as e:
        main([command, "--help"])
    assert e.value.code == 0 and "usage: pixelvit " + command in capsys.readouterr().out


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A /1 model with a class token and its /2 twin, trained for 2 steps."""
    root = tmp_path_factory.mktemp("runs")
    for p in (1, 2):
        train_from_config(None, [*MODEL, f"model.name=vit_t/{p}", f"run_dir={root / f'p{p}'}"])
    return root


def test_attention_distance_of_two_models_side_by_side(runs, tmp_path, capsys):
    out = tmp_path / "ad"
    assert main(["attention-distance", str(runs / "p1"), str(runs / "p2" / "final"), "--num-images", "6", "--out", str(out)]) == 0
    results = json.loads((out / "attention_distance.json").read_text())
    assert [r["patch_size"] for r in results] == [1, 2] and [r["tokens"] for r in results] == [64, 16]
    for r in results:
        distance, offset = np.array(r["distance"]), np.array(r["offset"])
        assert distance.shape == offset.shape == (2, 2) and r["num_images"] == 6
        # in input pixels on an 8x8 image: no distance beyond the diagonal, the centre of mass never farther
        assert (distance > 0).all() and (distance < np.hypot(7, 7)).all() and (offset <= distance + 1e-9).all()
        assert r["uniform"]["distance"] == pytest.approx(4.136 if r["patch_size"] == 1 else 4.016, abs=1e-3)
    assert (out / "attention_distance.png").stat().st_size > 5000
    assert "mean attention offset (uniform attention over the same tokens: 3.04)" in (out / "attention_distance.md").read_text()
    assert "| layer | head 1 | head 2 | mean |" in capsys.readouterr().out


def test_attention_maps_for_a_pixel_and_the_class_token(runs, tmp_path):
    for args in (["--query", "3,4"], ["--cls"], []):
        png = tmp_path / f"maps{len(args)}.png"
        assert main(["attention-maps", str(runs / "p2"), "--data", "digits", "--index", "7", *args, "--out", str(png)]) == 0
        assert png.stat().st_size > 3000
        record = json.loads(png.with_suffix(".json").read_text())
        maps = np.array(record["maps"])
        assert maps.shape == (2, 2, 4, 4) and np.allclose(maps.sum(axis=(2, 3)), 1, atol=1e-5)  # a distribution per head
        assert (record["tokens"], record["index"], record["query"]) == (16, 7, {2: [3, 4], 1: None, 0: [4, 4]}[len(args)])
        table = png.with_suffix(".md").read_text()
        assert "| layer | head | peak weight |" in table and "ViT/2 (16 tokens): digits/test image 7" in table
    assert main(["attention-maps", str(runs / "p1"), "--query", "9,0", "--out", str(tmp_path / "x.png")]) == 2


def test_pe_similarity(runs, tmp_path):
    assert main(["pe-similarity", str(runs / "p1"), "--stride", "2", "--out", str(tmp_path / "pe.png")]) == 0
    assert (tmp_path / "pe.png").stat().st_size > 5000
    record = json.loads((tmp_path / "pe.json").read_text())
    assert record["grid"] == [8, 8] and record["shown_rows"] == [0, 2, 4, 6]
    assert record["profile"][0] == {"distance": 0, "pairs": 64, "mean_similarity": pytest.approx(1.0)}
    assert "| distance (tokens, rounded) | pairs | mean cosine similarity |" in (tmp_path / "pe.md").read_text()


def test_shape_bias_refuses_a_model_that_is_not_an_imagenet_classifier(runs, tmp_path, capsys):
    save_image(tmp_path / "cue" / "cat" / "cat1-dog1.png", flat_image((1, 2, 3), (8, 8)))
    assert main(["shape-bias", str(runs / "p1"), "--root", str(tmp_path / "cue")]) == 2
    assert "needs an ImageNet-1k classifier (1000 outputs); this model has 10" in capsys.readouterr().err


def test_shape_bias_of_an_imagenet_model_directory(tmp_path, capsys):
    from pixelvit import create_model, save_pretrained

    model = create_model("vit_t/2", img_size=8, num_classes=1000, embed_dim=16, depth=1, num_heads=2)
    save_pretrained(model, tmp_path / "model")
    for n, (shape, texture) in enumerate([("cat", "dog"), ("cat", "cat"), ("knife", "oven"), ("bird", "truck")]):
        save_image(tmp_path / "cue" / shape / f"{shape}{n}-{texture}1.png", flat_image((40 * n, 255 - 40 * n, 90), (16, 16)))
    assert main(["shape-bias", str(tmp_path / "model"), "--root", str(tmp_path / "cue"), "--out", str(tmp_path / "sb")]) == 0
    result = json.loads((tmp_path / "sb" / "shape_bias.json").read_text())
    assert result["images"] == 3 and result["excluded_same_cue"] == 1
    hits = result["shape_decisions"] + result["texture_decisions"]
    assert result["shape_bias"] == (100.0 * result["shape_decisions"] / hits if hits else None)
    assert result["other_share"] == pytest.approx(100 * result["other_decisions"] / 3)
    assert (tmp_path / "sb" / "shape_bias.png").stat().st_size > 5000 and (tmp_path / "sb" / "shape_bias.md").is_file()
    out = capsys.readouterr().out
    assert "Paper: ViT-B/2 56.7, ViT-B/1 57.2." in out and "other:" in out


def test_pe_study_then_reuse(tmp_path, capsys):
    out = tmp_path / "pe"
    assert main(["pe-study", "digits", *STUDY, "--variants", "sincos,none", "--out", str(out)]) == 0
    rows = json.loads((out / "pe_study.json").read_text())
    assert [(r["pos_embed"], r["paper_acc1"]) for r in rows] == [("sincos", 82.7), ("none", 81.2)]
    assert {(r["data"], tuple(r["img_size"]), r["eval_images"], r["num_classes"], r["paper_comparable"]) for r in rows} == {
        ("digits", (8, 8), 64, 10, False)
    }
    assert "digits 8×8 (64 test images)" in (out / "pe_study.md").read_text()
    assert all(0 <= r["acc1"] <= 100 for r in rows) and (out / "pe_study.png").is_file()
    capsys.readouterr()
    assert main(["pe-study", "digits", *STUDY, "--variants", "none", "--out", str(out)]) == 0
    assert "finished earlier, reusing its summary" in capsys.readouterr().out


def test_permutation_study(tmp_path):
    out = tmp_path / "perm"
    assert main(["permutation-study", "digits", *STUDY, "--pairs", "0,8", "--deltas", "1,inf", "--out", str(out)]) == 0
    rows = json.loads((out / "permutation_study.json").read_text())
    assert [(r["pairs"], r["delta"], r["percent"]) for r in rows] == [(0, None, 0.0), (8, 1.0, 25.0), (8, None, 25.0)]
    config = (out / "T8_d1" / "config.yaml").read_text()
    assert "permute_pairs: 8" in config and "permute_delta: 1.0" in config
    table = (out / "permutation_study.md").read_text()
    assert "| T (pairs) | % of pairs | Acc@1 δ=1 | Acc@1 δ=inf |" in table and "| 25,000 | 99.6 | 57.6 |" in table
    assert (out / "permutation_study.png").is_file()
    assert main(["permutation-study", "digits", *STUDY, "--pairs", "40", "--out", str(out)]) == 2  # 32 pairs at most


def test_patch_sweep_both_modes(tmp_path):
    out = tmp_path / "sweep"
    assert main(["patch-sweep", "digits", *STUDY, "--patch-sizes", "1,2", "--out", str(out)]) == 0
    fixed_length = json.loads((out / "patch_sweep_fixed-length.json").read_text())
    fixed_input = json.loads((out / "patch_sweep_fixed-input.json").read_text())
    assert [(r["patch_size"], r["img_size"], r["tokens"]) for r in fixed_length] == [(1, [8, 8], 64), (2, [16, 16], 64)]
    assert [(r["patch_size"], r["img_size"], r["tokens"]) for r in fixed_input] == [(1, [8, 8], 64), (2, [8, 8], 16)]
    assert "resize: true" in (out / "fixed-length" / "p2" / "config.yaml").read_text()
    assert "| fixed-input | /2 | 8x8 | 16 |" in (out / "patch_sweep.md").read_text()
    assert all(r["data"] == "digits" and r["eval_images"] == 64 and not r["paper_comparable"] for r in fixed_input)
    assert (out / "patch_sweep.png").stat().st_size > 5000
    assert main(["patch-sweep", "digits", *STUDY, "--mode", "fixed-input", "--patch-sizes", "3", "--out", str(out)]) == 2


def test_a_study_starts_from_the_fashion_mnist_recipe_by_name(tmp_path):
    """``fashion_mnist_14``: Fashion-MNIST resized to 14x14, 5,000 training images (fabricated IDX files here)."""
    make_fashion_mnist(tmp_path / "fmnist", n_train=40, n_test=10)
    out = tmp_path / "sweep"
    argv = ["patch-sweep", "fashion_mnist_14", *STUDY, f"data.root={tmp_path / 'fmnist'}", "--mode", "fixed-input"]
    assert main([*argv, "--patch-sizes", "7,2", "--out", str(out)]) == 0
    rows = json.loads((out / "patch_sweep_fixed-input.json").read_text())
    assert [(r["patch_size"], r["img_size"], r["tokens"], r["eval_images"]) for r in rows] == [
        (7, [14, 14], 4, 10),
        (2, [14, 14], 49, 10),
    ]
    assert "name: fashion_mnist" in (out / "fixed-input" / "p2" / "config.yaml").read_text()


def test_report_on_real_runs(runs, tmp_path):
    assert main(["attention-distance", str(runs / "p1"), "--num-images", "2", "--out", str(runs / "p1" / "analysis")]) == 0
    assert main(["report", str(runs / "p1"), str(runs / "p2"), "--out", str(tmp_path / "rep"), "--html"]) == 0
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "curves_p1.png" in md and "analysis/attention_distance.png" in md
    assert (tmp_path / "rep" / "report.html").is_file()
