"""The house plotting style: binomial intervals, accuracy axes with chance and resolution, tiled maps, notes."""

import math

import numpy as np
import pytest

from pixelvit.plotting import accuracy_axis, accuracy_errorbar, binomial_interval, figure, label_axes, mosaic, note, save_figure


def test_wilson_interval_known_values():
    # 50 of 100 correct: Wilson 95 % interval 40.38 .. 59.62 (p ± 1.96·√(pq/n) shrunk towards 1/2)
    lo, hi = binomial_interval(50.0, 100)
    assert (lo, hi) == pytest.approx((40.383, 59.617), abs=1e-3)
    # 100 % correct is not a zero-width interval: the lower bound is n / (n + z²)
    lo, hi = binomial_interval(100.0, 360)
    assert hi == pytest.approx(100.0) and lo == pytest.approx(100 * 360 / (360 + 1.96**2), abs=1e-9)
    # wider for fewer images
    assert np.diff(binomial_interval(97.0, 60)) > np.diff(binomial_interval(97.0, 360))


def test_accuracy_axis_draws_chance_and_does_not_zoom_on_small_differences():
    _, axes = figure()
    ax = axes[0, 0]
    acc = [96.9, 98.9, 98.3]  # 2 points apart on 360 images: about 7 images
    accuracy_errorbar(ax, [1, 2, 4], acc, 360, label="this run")
    text = accuracy_axis(ax, acc, 360, 10)
    bottom, top = ax.get_ylim()
    assert bottom == 0.0 and 100.0 <= top <= 102.0  # chance at 10 % drawn, axis from 0: no zoom onto 2 points
    chance = [line for line in ax.get_lines() if line.get_label().startswith("chance")]
    assert len(chance) == 1 and chance[0].get_ydata()[0] == pytest.approx(10.0)
    assert "360 test images" in text and "0.28 points" in text
    assert ax.get_legend().get_title().get_text() == text
    assert ax.get_ylabel() == "Acc@1 (%)"


def test_accuracy_axis_without_classes_keeps_a_minimum_span():
    _, axes = figure()
    ax = axes[0, 0]
    accuracy_axis(ax, [80.0, 80.5], None, None)
    bottom, top = ax.get_ylim()
    assert top - bottom >= 10.0 and bottom < 80.0 < 80.5 < top


def test_mosaic_tiles_with_gaps():
    tiles = np.arange(2 * 3 * 4 * 5, dtype=float).reshape(2, 3, 4, 5)
    out = mosaic(tiles)
    assert out.shape == (2 * 5 - 1, 3 * 6 - 1)
    np.testing.assert_array_equal(out[5:9, 6:11], tiles[1, 1])
    assert np.isnan(out[4]).all() and np.isnan(out[:, 5]).all()


def test_labelled_figure_with_a_note_is_written(tmp_path):
    fig, axes = figure(size=(3, 2))
    label_axes(axes[0, 0], "patch size", "Acc@1 (%)", "title")
    note(fig, "a long note " * 20)
    assert math.isclose(fig.get_figwidth(), 3)
    assert fig._supxlabel.get_text().count("\n") >= 2  # wrapped to the figure's width
    path = save_figure(fig, tmp_path / "f.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
