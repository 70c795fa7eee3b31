"""Generic <split>/<class>/<image> folders: exact pixels, class indices across splits, cache, errors."""

import re

import numpy as np
import pytest

from fixtures.fabricate import corrupt_image, make_imagefolder, save_image
from pixelvit.data import load_arrays
from pixelvit.data.imageio import ImageDecodeError


def test_exact_pixels_and_labels(tmp_path):
    fake = make_imagefolder(tmp_path, size=(16, 12))
    (tmp_path / "train" / "cat" / "notes.txt").write_text("not an image")
    for split in ("train", "val"):
        arrays = load_arrays("imagefolder", tmp_path, split, img_size=(16, 12))
        assert np.array_equal(arrays.images, fake.images[split])  # lossless files at the target size: untouched
        assert np.array_equal(arrays.targets, fake.targets[split]) and arrays.classes == ["cat", "dog"]
    assert (tmp_path / "cache_train_16x12.npy").is_file()
    assert np.array_equal(load_arrays("imagefolder", tmp_path, "val", img_size=(16, 12)).images, fake.images["val"])


def test_an_image_edited_in_place_to_the_same_size_is_not_served_from_the_cache(tmp_path):
    rng = np.random.default_rng(0)
    before, after = (rng.integers(0, 256, (8, 8, 3), dtype=np.uint8) for _ in range(2))
    path = save_image(tmp_path / "train" / "cat" / "a.bmp", before)  # BMP: the byte size depends on the shape only
    save_image(tmp_path / "train" / "dog" / "b.bmp", after)
    size = path.stat().st_size
    assert np.array_equal(load_arrays("imagefolder", tmp_path, "train", img_size=8).images[0], before.transpose(2, 0, 1))
    save_image(path, after)
    assert path.stat().st_size == size
    assert np.array_equal(load_arrays("imagefolder", tmp_path, "train", img_size=8).images[0], after.transpose(2, 0, 1))


def test_class_index_is_the_same_in_every_split(tmp_path):
    fake = make_imagefolder(tmp_path, {"train": {"ant": 1, "bee": 1, "cow": 1}, "test": {"cow": 2}})
    arrays = load_arrays("imagefolder", tmp_path, "test", img_size=8)
    assert arrays.classes == ["ant", "bee", "cow"] and arrays.targets.tolist() == [2, 2] == fake.targets["test"].tolist()


def test_errors(tmp_path):
    fake = make_imagefolder(tmp_path)
    with pytest.raises(ValueError, match="needs img_size"):
        load_arrays("imagefolder", tmp_path, "train")
    with pytest.raises(FileNotFoundError, match="the split folders there are: train, val"):
        load_arrays("imagefolder", tmp_path, "test", img_size=8)
    (tmp_path / "empty" / "cat").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match=r"no images in .*empty"):
        load_arrays("imagefolder", tmp_path, "empty", img_size=8)
    bad = corrupt_image(fake.files["val"][0].with_suffix(".jpg"))
    with pytest.raises(ImageDecodeError, match=re.escape(str(bad))):
        load_arrays("imagefolder", tmp_path, "val", img_size=8)


def test_unwritable_folder_decodes_into_memory(tmp_path, monkeypatch):
    fake = make_imagefolder(tmp_path)
    monkeypatch.setattr("pixelvit.data.cache._writable", lambda folder: False)
    with pytest.warns(UserWarning, match="cannot write a cache"):
        arrays = load_arrays("imagefolder", tmp_path, "train", img_size=(16, 16))
    assert not isinstance(arrays.images, np.memmap) and np.array_equal(arrays.images, fake.images["train"])
    assert not list(tmp_path.glob("cache_*"))
