"""Oxford 102 Flowers: .mat splits and labels, flat colours through decode and resize, the .npy cache, errors."""

import json
import re

import numpy as np
import pytest

import pixelvit.data.imageio as imageio
from fixtures.fabricate import corrupt_image, flat_image, make_flowers102, save_image
from pixelvit.data import load_arrays
from pixelvit.data.imageio import ImageDecodeError


def assert_colours(images, colours, tol=3):
    """Every pixel of image i is colours[i] (JPEG rounding aside)."""
    diff = np.abs(images.astype(int) - np.asarray(colours, dtype=int)[:, :, None, None])
    assert diff.max() <= tol, diff.max()


def test_splits_labels_and_colours(tmp_path):
    fake = make_flowers102(tmp_path, n_images=12)
    for split in ("train", "val", "test"):
        arrays = load_arrays("flowers102", tmp_path, split)
        assert arrays.images.shape == (len(fake.targets[split]), 3, 32, 32)  # default size
        assert np.array_equal(arrays.targets, fake.targets[split]) and arrays.targets.dtype == np.int64
        assert_colours(arrays.images, fake.colours[split])
        assert len(arrays.classes) == 102
    assert set(np.concatenate(list(fake.targets.values()))) <= {0, 1, 2, 101}  # 1-based in the file


def test_non_square_size_and_root_may_be_the_flowers_folder(tmp_path):
    fake = make_flowers102(tmp_path, n_images=8, size=(40, 18))
    arrays = load_arrays("flowers102", tmp_path / "flowers-102", "test", img_size=(8, 12))
    assert arrays.images.shape == (4, 3, 8, 12)
    assert_colours(arrays.images, fake.colours["test"])


def test_cache_is_written_reused_and_refreshed(tmp_path, monkeypatch):
    fake = make_flowers102(tmp_path, n_images=8)
    first = load_arrays("flowers102", tmp_path, "train", img_size=16)
    folder = tmp_path / "flowers-102"
    assert (folder / "cache_train_16x16.npy").is_file() and (folder / "cache_train_16x16.labels.npy").is_file()
    assert json.loads((folder / "cache_train_16x16.json").read_text())["count"] == 2
    assert isinstance(first.images, np.memmap)

    def no_decoding(*args, **kwargs):
        raise AssertionError("a cached split must not be decoded again")

    with monkeypatch.context() as m:
        m.setattr(imageio, "decode_image", no_decoding)
        again = load_arrays("flowers102", tmp_path, "train", img_size=16)
    assert np.array_equal(again.images, first.images) and np.array_equal(again.targets, fake.targets["train"])

    # A replaced image (a different byte size) invalidates the cache.
    save_image(fake.files["train"][1], flat_image((1, 2, 250), (60, 50)))
    refreshed = load_arrays("flowers102", tmp_path, "train", img_size=16)
    assert_colours(refreshed.images, [fake.colours["train"][0], (1, 2, 250)])


def test_corrupt_image_names_its_path(tmp_path):
    fake = make_flowers102(tmp_path, n_images=8)
    bad = corrupt_image(fake.files["val"][1])
    assert len(load_arrays("flowers102", tmp_path, "train").images) == 2  # other splits still load
    with pytest.raises(ImageDecodeError, match=re.escape(str(bad))):
        load_arrays("flowers102", tmp_path, "val")


def test_missing_files_name_what_is_expected(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        load_arrays("flowers102", tmp_path, "train")
    message = str(info.value)
    assert all(name in message for name in ("flowers-102/jpg", "imagelabels.mat", "setid.mat", "102flowers.tgz"))
    fake = make_flowers102(tmp_path, n_images=8)
    fake.files["test"][2].unlink()
    with pytest.raises(FileNotFoundError, match=re.escape(f"image file {fake.files['test'][2]} is missing")):
        load_arrays("flowers102", tmp_path, "test")
