"""One image-level check per plot kind: each module's figure is built and its axes inspected before saving
(labels non-empty and from the run, colour bars on heat maps, legends, baselines, paper values only on their scale)."""

import numpy as np
import pytest
import torch

from pixelvit.analysis.attention_distance import figure_statistics, uniform_baseline
from pixelvit.analysis.attention_maps import attention_summary, figure_attention_maps
from pixelvit.analysis.patch_sweep import PAPER_ACC1 as SWEEP_PAPER
from pixelvit.analysis.patch_sweep import figure_patch_sweep
from pixelvit.analysis.pe_similarity import figure_pe_similarity, shown_positions, similarity_profile
from pixelvit.analysis.pe_study import figure_pe_study
from pixelvit.analysis.permutation_study import figure_permutation_study
from pixelvit.analysis.shape_bias import CATEGORIES, count_decisions, figure_shape_bias
from pixelvit.demos.digits import figure_accuracy
from pixelvit.generation.sample import figure_grid

FACTS = {"model": "vit_t/2", "data": "digits", "img_size": [8, 8], "split": "test", "eval_images": 360, "num_classes": 10}


def colorbars(fig):
    return [ax for ax in fig.axes if hasattr(ax, "_colorbar")]


def plot_axes(fig):
    return [ax for ax in fig.axes if not hasattr(ax, "_colorbar") and ax.axison]


def assert_labelled(ax):
    assert ax.get_xlabel().strip() and ax.get_ylabel().strip(), (ax.get_xlabel(), ax.get_ylabel())


def chance_lines(ax):
    return [line for line in ax.get_lines() if line.get_label().startswith("chance")]


def pe_rows(comparable, data="digits"):
    facts = {**FACTS, "data": data}
    return [
        {"pos_embed": v, "acc1": a, "paper_acc1": p, "paper_comparable": comparable, **facts}
        for v, a, p in [("sincos", 96.7, 82.7), ("learned", 98.3, 82.8), ("none", 76.7, 81.2)]
    ]


def test_pe_study_draws_the_paper_only_on_its_own_scale():
    fig = figure_pe_study(pe_rows(False))
    (ax,) = plot_axes(fig)
    assert_labelled(ax)
    assert len(ax.patches) == 3 and [round(p.get_height(), 1) for p in ax.patches] == [96.7, 98.3, 76.7]
    assert "digits 8×8" in ax.get_title() and "360 test images" in ax.get_title()
    assert "not drawn" in fig._supxlabel.get_text() and len(chance_lines(ax)) == 1
    fig = figure_pe_study(pe_rows(True, "imagenet"))
    (ax,) = plot_axes(fig)
    assert sorted(round(p.get_height(), 1) for p in ax.patches) == [76.7, 81.2, 82.7, 82.8, 96.7, 98.3]
    assert "drawn hollow" in fig._supxlabel.get_text()


def sweep_rows(comparable):
    facts = {k: v for k, v in FACTS.items() if k != "img_size"}
    rows = [{"mode": "fixed-input", "patch_size": p, "img_size": [8, 8], "tokens": 64 // p // p, "acc1": a,
             "paper_acc1": SWEEP_PAPER["fixed-input"].get(p), "paper_comparable": comparable, **facts}
            for p, a in [(1, 96.0), (2, 98.5), (4, 97.2)]]  # fmt: skip
    return rows


def test_patch_sweep_paper_points_only_where_the_paper_has_them_and_never_on_digits():
    fig = figure_patch_sweep(sweep_rows(False))
    (ax,) = plot_axes(fig)
    assert_labelled(ax)
    assert not [line for line in ax.get_lines() if line.get_label().startswith("paper")]
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    assert ticks == ["/1\n64 tok", "/2\n16 tok", "/4\n4 tok"]  # no paper-only /16 tick; tokens under each patch size
    assert "fixed-input (8×8 input)" in [t.get_text() for t in ax.get_legend().get_texts()]
    fig = figure_patch_sweep([{**r, "data": "imagenet"} for r in sweep_rows(True)])
    (ax,) = plot_axes(fig)
    (paper,) = [line for line in ax.get_lines() if line.get_label() == "paper fixed-input"]
    assert sorted(paper.get_xdata()) == [1, 2, 16] and paper.get_linestyle() == "None"  # markers, no line through /4, /8


def test_patch_sweep_draws_the_two_modes_side_by_side_on_one_accuracy_scale():
    length = [{**r, "mode": "fixed-length", "img_size": [8 * r["patch_size"]] * 2, "tokens": 64, "acc1": r["acc1"] - 20}
              for r in sweep_rows(False)]  # fmt: skip
    fig = figure_patch_sweep(sweep_rows(False) + length)
    left, right = plot_axes(fig)
    assert left.get_title().startswith("(a) fixed-length: 64 tokens") and right.get_title().startswith("(b) fixed-input: 8×8")
    assert [t.get_text() for t in left.get_xticklabels()] == ["/1\n8×8", "/2\n16×16", "/4\n32×32"]
    assert left.get_ylim() == right.get_ylim() and left.get_xlim()[0] > left.get_xlim()[1]  # shared y; /4 left of /1


def test_permutation_study_axes_and_paper_curve():
    rows = [{"pairs": t, "delta": d, "percent": 100 * t / 32, "acc1": a, **FACTS}
            for t, d, a in [(0, None, 98.3), (16, 1.0, 97.5), (16, None, 98.1)]]  # fmt: skip
    fig = figure_permutation_study([{**r, "paper_comparable": False} for r in rows], [1.0, None])
    (ax,) = plot_axes(fig)
    assert_labelled(ax)
    assert "8×8" in ax.get_xlabel() and len(chance_lines(ax)) == 1
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "δ=1 px" in labels and "δ=∞ (any pair)" in labels and not any(lab.startswith("paper") for lab in labels)
    fig = figure_permutation_study([{**r, "paper_comparable": True} for r in rows], [1.0, None])
    assert any(t.get_text().startswith("paper") for t in plot_axes(fig)[0].get_legend().get_texts())


def test_uniform_attention_baseline():
    # one row of two tokens: each query looks half at itself (0) and half at the other (1 px): distance 0.5, offset 0.5
    assert uniform_baseline((1, 2), 1) == pytest.approx({"distance": 0.5, "offset": 0.5})
    # the README's numbers for 8×8 digits, and chunking does not change them
    assert uniform_baseline((8, 8), 1)["distance"] == pytest.approx(4.136, abs=1e-3)
    assert uniform_baseline((4, 4), 2)["distance"] == pytest.approx(4.016, abs=1e-3)
    assert uniform_baseline((8, 8), 1, max_elements=100) == pytest.approx(uniform_baseline((8, 8), 1))


def test_attention_distance_has_a_legend_and_the_uniform_baseline():
    results = [
        {"label": f"ViT/{p}", "data": "digits", "split": "test", "num_images": 6, "tokens": 64 // p // p,
         "distance": np.full((2, 3), 3.0).tolist(), "offset": np.full((2, 3), 1.0).tolist(),
         "uniform": uniform_baseline((8 // p, 8 // p), p)}
        for p in (1, 2)
    ]  # fmt: skip
    fig = figure_statistics(results)
    axes = plot_axes(fig)
    assert len(axes) == 4
    for ax in axes:
        assert_labelled(ax)
        assert "(input pixels)" in ax.get_ylabel() and ax.get_ylim()[0] == 0
    baseline = [line for line in axes[0].get_lines() if line.get_label().startswith("uniform")]
    assert baseline[0].get_ydata()[0] == pytest.approx(results[0]["uniform"]["distance"])
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels[:3] == ["head 1", "head 2", "head 3"] and "mean over heads" in labels


def test_attention_maps_have_one_colour_bar_per_layer_and_a_summary():
    maps = torch.zeros(3, 2, 4, 4)
    maps[..., 1, 2] = 1.0  # every head looks at token (1, 2) only
    image = torch.randint(0, 255, (1, 8, 8), dtype=torch.uint8)
    fig = figure_attention_maps(image, maps, 2, (3, 5), "ViT/2 on digits")
    assert len(colorbars(fig)) == 3 and all(bar.get_ylabel() == "attention weight" for bar in colorbars(fig))
    heat = [ax for ax in plot_axes(fig) if ax.get_title() != "input"]
    assert all(ax.get_xlabel() or ax.get_ylabel() or ax.get_title() for ax in heat[:2])
    rows = attention_summary(maps, 2, (3, 5))
    assert len(rows) == 6
    first = rows[0]
    assert first["peak_weight"] == 1.0 and first["peak_at"] == [2.5, 4.5]  # token (1, 2) of a /2 model: its centre
    assert first["query_weight"] == 1.0 and first["mean_distance"] == pytest.approx(0.0)  # the query pixel is in it
    assert first["effective_tokens"] == pytest.approx(1.0)
    assert "query_weight" not in attention_summary(maps, 2, None)[0]


def test_pe_similarity_is_tiled_readable_and_zero_based():
    emb = torch.nn.functional.normalize(torch.randn(28 * 28, 8), dim=-1)
    sim = (emb @ emb.T).reshape(-1, 28, 28)
    rows, cols = shown_positions((28, 28))
    assert rows == cols == list(range(0, 28, 3))  # at most 10 per side
    fig = figure_pe_similarity(sim)
    (ax,) = plot_axes(fig)
    assert_labelled(ax)
    assert "0-based" in ax.get_xlabel() and [t.get_text() for t in ax.get_xticklabels()][:3] == ["0", "3", "6"]
    (bar,) = colorbars(fig)
    assert bar.get_ylabel() == "cosine similarity"
    profile = similarity_profile(sim)
    assert profile[0] == {"distance": 0, "pairs": 784, "mean_similarity": pytest.approx(1.0)}
    assert sum(p["pairs"] for p in profile) == 784**2


def test_shape_bias_figure_and_the_other_warning():
    # 48 decisions, 40 "other": a random model's pattern
    shapes, textures = ["cat"] * 48, ["dog"] * 48
    decisions = ["cat"] * 5 + ["dog"] * 3 + ["knife"] * 40
    result = count_decisions(decisions, shapes, textures)
    assert result["shape_bias"] == pytest.approx(62.5) and result["other_share"] == pytest.approx(100 * 40 / 48)
    assert result["warning"].startswith("warning: 83% of the decisions (40 of 48)")
    assert count_decisions(["cat"] * 4, ["cat"] * 2 + ["dog"] * 2, ["dog"] * 2 + ["cat"] * 2)["warning"] is None
    fig = figure_shape_bias(result, "ViT/1")
    (ax,) = plot_axes(fig)
    assert_labelled(ax)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["all", "cat"] and ax.get_xlim() == (0, 100)
    assert "62.5%" in ax.get_title() and "83% of the decisions" in fig._supxlabel.get_text()
    assert len(CATEGORIES) == 16


def test_demo_plot_labels_follow_the_runs_config():
    rows = [{"patch_size": p, "tokens": (28 // p) ** 2, "acc1": a, **FACTS, "data": "fashion_mnist", "img_size": [28, 28],
             "eval_images": 1000} for p, a in [(2, 88.0), (4, 89.5)]]  # fmt: skip
    fig = figure_accuracy(rows)
    (ax,) = plot_axes(fig)
    assert ax.get_title() == "fashion_mnist 28×28: pixel vs patch tokens"
    assert ax.get_xlabel() == "patch size (input fixed at 28×28)"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["/2\n196 tok", "/4\n49 tok"]
    assert "1000 test images" in ax.get_legend().get_title().get_text() and len(chance_lines(ax)) == 1
    assert "digits" not in ax.get_title() and "8×8" not in ax.get_xlabel()


def test_sample_grid_labels_each_column_with_its_class():
    images = torch.randint(0, 255, (12, 3, 8, 8), dtype=torch.uint8)
    fig, _ = figure_grid(images, nrow=3, column_labels=["1", "5", "7"])
    (ax,) = fig.axes
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "5", "7"]
    assert "class" in ax.get_xlabel() and ax.get_ylabel() == "samples (4 per class)"
    fig, _ = figure_grid(images[:2], nrow=3, column_labels=["1", "5", "7"])  # fewer samples than classes
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["1", "5"]
    fig, _ = figure_grid(images)
    assert not fig.axes[0].axison


def test_patch_sweep_legends_cover_no_data_point_even_at_low_accuracy():
    # accuracies below ~75 %: where the old legend (loc="center") hid points
    length = [{**r, "mode": "fixed-length", "img_size": [8 * r["patch_size"]] * 2, "tokens": 64, "acc1": 30.0 + i * 10}
              for i, r in enumerate(sweep_rows(False))]  # fmt: skip
    inputs = [{**r, "acc1": 40.0 + i * 5} for i, r in enumerate(sweep_rows(False))]
    fig = figure_patch_sweep(inputs + length)
    fig.canvas.draw()
    for ax in plot_axes(fig):
        box = ax.get_legend().get_window_extent()
        for line in ax.get_lines():
            points = ax.transData.transform(line.get_xydata())
            assert not any(box.contains(x, y) for x, y in points), line.get_label()
        assert not box.overlaps(ax.get_window_extent())


def test_study_titles_name_the_model_as_built_not_its_preset():
    from pixelvit.analysis.study import model_text
    from pixelvit.config import load_config

    cfg = load_config(None, ["model.name=vit_t/2", "model.embed_dim=64", "model.depth=4", "model.num_heads=4"])
    assert model_text(cfg) == "vit (width 64, depth 4, 4 heads)"
    assert model_text(load_config(None, ["model.name=vit_s/1"])) == "vit (width 384, depth 12, 6 heads)"
