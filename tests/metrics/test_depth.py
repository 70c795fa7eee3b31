"""Depth metrics and losses on hand-made arrays with known answers."""

import math

import pytest
import torch

from pixelvit.metrics.depth import DepthMeter, depth_metrics, depth_sums, reference_mean
from pixelvit.tasks.depth_losses import depth_loss, silog_loss

CAPS = (1e-3, 10.0)


def metrics(pred, target, mean=None):
    return depth_metrics(depth_sums(torch.as_tensor(pred), torch.as_tensor(target), *CAPS, mean))


def test_perfect_prediction():
    d = torch.tensor([[[1.0, 2.0], [3.0, 4.5]]])
    m = metrics(d, d, mean=2.625)
    assert m["rmse"] == 0 and m["abs_rel"] == 0 and m["log10"] == 0 and m["mae"] == 0 and m["rae"] == 0
    assert m["delta1"] == m["delta2"] == m["delta3"] == 1.0


def test_hand_made_errors():
    d = torch.tensor([[[1.0, 2.0, 3.0, 4.0]]])
    p = torch.tensor([[[1.0, 2.0, 3.0, 6.0]]])
    m = metrics(p, d, mean=2.5)
    assert m["rmse"] == pytest.approx(1.0)  # sqrt(4 / 4)
    assert m["mae"] == pytest.approx(0.5)
    assert m["abs_rel"] == pytest.approx(0.5 / 4)  # |6 - 4| / 4 over 4 pixels
    assert m["rae"] == pytest.approx(2.0 / 4.0)  # sum|err| = 2, sum|d - 2.5| = 1.5 + 0.5 + 0.5 + 1.5
    assert m["delta1"] == 0.75 and m["delta2"] == 1.0  # 6/4 = 1.5: not < 1.25, < 1.5625


@pytest.mark.parametrize(
    "factor, deltas",
    [(2.0, (0.0, 0.0, 0.0)), (0.5, (0.0, 0.0, 0.0)), (1.5, (0.0, 1.0, 1.0)), (1.2, (1.0, 1.0, 1.0))],
)
def test_constant_factor(factor, deltas):
    d = torch.tensor([[[1.0, 2.0], [4.0, 5.0]]])
    m = metrics(d * factor, d)
    assert m["abs_rel"] == pytest.approx(abs(factor - 1))
    assert m["log10"] == pytest.approx(abs(math.log10(factor)))
    assert m["rmse_log"] == pytest.approx(abs(math.log(factor)))
    assert m["rmse"] == pytest.approx(abs(factor - 1) * math.sqrt((1 + 4 + 16 + 25) / 4))
    assert (m["delta1"], m["delta2"], m["delta3"]) == deltas  # 1.25, 1.5625, 1.953125: a factor 2 fails all three
    assert "rae" not in m  # no reference mean given


def test_invalid_and_out_of_range_pixels_are_ignored_and_predictions_clamped():
    d = torch.tensor([[[2.0, 0.0, 12.0, float("nan")]]])  # only the first pixel is valid (cap 10 m)
    p = torch.tensor([[[3.0, 100.0, -5.0, 7.0]]])
    m = metrics(p, d)
    assert m["rmse"] == pytest.approx(1.0) and m["abs_rel"] == pytest.approx(0.5)
    assert depth_sums(p, d, *CAPS)[0] == 1  # one pixel counted
    clamped = metrics(torch.tensor([[[50.0, 0.0]]]), torch.tensor([[[8.0, 0.5]]]))  # 50 -> 10, 0 -> 1e-3
    assert clamped["rmse"] == pytest.approx(math.sqrt((2.0**2 + 0.499**2) / 2))


def test_sums_over_batches_equal_one_batch_and_are_pixel_weighted():
    g = torch.Generator().manual_seed(0)
    d = torch.rand(6, 5, 7, generator=g) * 8 + 0.5
    d[:2, :3] = 0.0  # the first images have fewer valid pixels
    p = d * (1 + 0.3 * torch.randn(6, 5, 7, generator=g)).clamp_min(0.2)
    mean = reference_mean(d, *CAPS)
    meter = DepthMeter(*CAPS, reference_mean=mean)
    meter.update(p[:2], d[:2])
    meter.update(p[2:], d[2:])
    whole = depth_sums(p, d, *CAPS, mean)
    assert torch.allclose(meter.totals(), whole, rtol=1e-12, atol=1e-9)
    pooled = meter.compute()
    valid, err = d > 0, p.clamp(*CAPS) - d
    assert pooled["rmse"] == pytest.approx(float((err[valid] ** 2).double().mean().sqrt()))
    per_image = sum(float((err[i][valid[i]] ** 2).double().mean().sqrt()) for i in range(6)) / 6
    assert pooled["rmse"] != pytest.approx(per_image, rel=1e-4)  # not the per-image average
    assert pooled["rae"] == pytest.approx(float(err[valid].abs().sum() / (d[valid] - mean).abs().sum()), rel=1e-5)


def test_no_valid_pixel_and_shape_mismatch_are_errors():
    with pytest.raises(ValueError, match="no valid ground-truth pixels"):
        metrics(torch.ones(1, 2, 2), torch.zeros(1, 2, 2))
    with pytest.raises(ValueError, match="differ in shape"):
        depth_sums(torch.ones(1, 2, 2), torch.ones(1, 2, 3), *CAPS)


def test_l1_l2_over_valid_pixels_only():
    d = torch.tensor([[[1.0, 2.0], [0.0, 4.0]]])
    p = torch.tensor([[[2.0, 2.0], [9.0, 1.0]]], requires_grad=True)
    assert float(depth_loss(p, d, "l1").detach()) == pytest.approx((1 + 0 + 3) / 3)
    loss = depth_loss(p, d, "l2")
    assert float(loss.detach()) == pytest.approx((1 + 0 + 9) / 3)
    loss.backward()
    assert p.grad[0, 1, 0] == 0  # the invalid pixel gets no gradient
    with pytest.raises(ValueError, match="unknown depth loss"):
        depth_loss(p, d, "huber")


def test_silog_closed_forms():
    d = torch.tensor([[[1.0, 2.0], [3.0, 0.0]], [[5.0, 6.0], [7.0, 8.0]]])
    scaled = d * 1.7  # a global scale error: g = ln 1.7 on every valid pixel
    g = math.log(1.7)
    assert float(silog_loss(scaled, d, lam=0.0)) == pytest.approx(g * g)
    assert float(silog_loss(scaled, d, lam=0.5)) == pytest.approx(0.5 * g * g)
    assert float(silog_loss(scaled, d, lam=1.0)) == pytest.approx(0.0, abs=1e-6)  # fully scale-invariant
    # Per image, then the mean over images: image 0 all right, image 1 off by e on one of 4 pixels.
    p = d.clone()
    p[1, 0, 0] = 5.0 * math.e
    expected = (0.0 + (1 / 4 - 0.5 * (1 / 4) ** 2)) / 2
    assert float(depth_loss(p, d, "silog", 0.5)) == pytest.approx(expected)
    # An image without valid pixels does not count.
    p0 = torch.cat([p, torch.ones(1, 2, 2)])
    d0 = torch.cat([d, torch.zeros(1, 2, 2)])
    assert float(depth_loss(p0, d0, "silog", 0.5)) == pytest.approx(expected)
