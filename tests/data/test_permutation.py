"""Pixel permutation: exactly T disjoint swaps within δ, one fixed permutation for every image, clear errors."""

import numpy as np
import pytest

from pixelvit.config import ConfigError, load_config
from pixelvit.data import permutation
from pixelvit.data.permutation import (
    PermutedImages,
    permute_pixels,
    pixel_distance,
    pixel_swaps,
    swap_permutation,
    window_offsets,
)
from pixelvit.data.splits import load_split


@pytest.mark.parametrize(
    "size,pairs,delta",
    [((8, 8), 10, 1.0), ((8, 8), 32, 1.0), ((9, 7), 31, 1.0), ((16, 16), 120, 2.0), ((16, 16), 128, None), ((12, 10), 60, 4.0)],
)
def test_exactly_t_disjoint_swaps_within_delta(size, pairs, delta):
    swaps = pixel_swaps(size, pairs, delta, seed=3)
    assert swaps.shape == (pairs, 2)
    assert len(np.unique(swaps)) == 2 * pairs  # disjoint: each pixel moves at most once
    assert (swaps[:, 0] != swaps[:, 1]).all()
    if delta is not None:
        assert pixel_distance(swaps[:, 0], swaps[:, 1], size[1]).max() <= delta
    perm = swap_permutation(size, pairs, delta, seed=3)
    moved = np.flatnonzero(perm != np.arange(size[0] * size[1]))
    assert len(moved) == 2 * pairs
    np.testing.assert_array_equal(perm[perm], np.arange(size[0] * size[1]))  # swaps: an involution


def test_chebyshev_window_and_euclidean_disc():
    assert len(window_offsets(1)) == 8 and len(window_offsets(4)) == 80
    assert len(window_offsets(1, "euclidean")) == 4 and len(window_offsets(1.5, "euclidean")) == 8
    assert pixel_distance(np.array([0]), np.array([9]), 8).item() == 1  # (0,0) and (1,1): diagonal neighbours


def test_deterministic_in_the_seed():
    a = pixel_swaps((16, 16), 50, 2.0, seed=0)
    np.testing.assert_array_equal(a, pixel_swaps((16, 16), 50, 2.0, 0))
    pixel_swaps.cache_clear()
    np.testing.assert_array_equal(a, pixel_swaps((16, 16), 50, 2.0, 0))  # not just the cache
    assert not np.array_equal(a, pixel_swaps((16, 16), 50, 2.0, seed=1))


def test_too_many_pairs_is_a_clear_error(monkeypatch):
    with pytest.raises(ConfigError, match=r"8x8 image has 64 .*at most 32 disjoint pairs"):
        pixel_swaps((8, 8), 33, None, 0)
    # Grids always have a near-perfect matching within δ >= 1, so only the search can fall short:
    # without its augmenting paths, a greedy pass does not pair all 256 pixels.
    monkeypatch.setattr(permutation, "_augment", lambda *args, **kwargs: False)
    pixel_swaps.cache_clear()
    with pytest.raises(ConfigError, match=r"found only \d+ disjoint pixel swaps within distance 1 .*not data.permute_pairs=128"):
        pixel_swaps((16, 16), 128, 1.0, 0)
    pixel_swaps.cache_clear()
    with pytest.raises(ConfigError, match=r"data\.permute_pairs=40 disjoint swaps need 80 pixels"):
        load_config(None, ["data.permute_pairs=40"])
    with pytest.raises(ConfigError, match=r"data\.permute_delta"):
        load_config(None, ["data.permute_pairs=4", "data.permute_delta=0.5"])


def test_the_same_permutation_moves_every_image_and_all_channels_alike():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (5, 3, 6, 6), dtype=np.uint8)
    perm = swap_permutation((6, 6), 7, 2.0, 0)
    out = permute_pixels(images, perm)
    for a, b in pixel_swaps((6, 6), 7, 2.0, 0):
        (ra, ca), (rb, cb) = divmod(int(a), 6), divmod(int(b), 6)
        np.testing.assert_array_equal(out[:, :, ra, ca], images[:, :, rb, cb])
        np.testing.assert_array_equal(out[:, :, rb, cb], images[:, :, ra, ca])
    np.testing.assert_array_equal(permute_pixels(out, perm), images)  # swapping back restores


def test_memory_mapped_arrays_get_a_lazy_view_with_the_same_pixels(tmp_path):
    images = np.random.default_rng(1).integers(0, 256, (4, 1, 8, 8), dtype=np.uint8)
    mm = np.lib.format.open_memmap(tmp_path / "x.npy", mode="w+", dtype=np.uint8, shape=images.shape)
    mm[:] = images
    perm = swap_permutation((8, 8), 20, None, 0)
    lazy = permute_pixels(np.load(tmp_path / "x.npy", mmap_mode="r"), perm)
    eager = permute_pixels(images, perm)
    assert isinstance(lazy, PermutedImages) and lazy.shape == images.shape and len(lazy[:3]) == 3
    np.testing.assert_array_equal(lazy[2], eager[2])
    np.testing.assert_array_equal(lazy[1:3][1], eager[2])
    np.testing.assert_array_equal(np.asarray(lazy), eager)


def test_load_split_permutes_every_split_with_one_permutation():
    plain = load_config(None, ["data.name=digits"])
    permuted = load_config(None, ["data.name=digits", "data.permute_pairs=12", "data.permute_delta=2", "data.permute_seed=5"])
    perm = swap_permutation((8, 8), 12, 2.0, 5)
    for split in ("train", "test"):
        _, a = load_split(plain.data, split, None)
        _, b = load_split(permuted.data, split, None)
        np.testing.assert_array_equal(b.images, a.images.reshape(-1, 1, 64)[:, :, perm].reshape(-1, 1, 8, 8))
        np.testing.assert_array_equal(b.targets, a.targets)


def test_resize_lets_a_fixed_size_dataset_take_another_size():
    with pytest.raises(ConfigError, match=r"data\.resize=true"):
        load_split(load_config(None, ["data.img_size=[16,16]"]).data, "test", 4)
    _, arrays = load_split(load_config(None, ["data.img_size=[16,16]", "data.resize=true"]).data, "test", 4)
    assert arrays.images.shape == (4, 1, 16, 16) and arrays.images.dtype == np.uint8
