"""ImageNet: prepare (decode into a memmap cache, resumable, verified) and load (memory-mapped, clear errors)."""

import json
import re

import numpy as np
import pytest

import pixelvit.data.imageio as imageio
from fixtures.fabricate import corrupt_image, flat_image, make_imagenet_folders, save_image
from pixelvit.data import load_arrays, prepare_imagenet
from pixelvit.data.imageio import ImageDecodeError
from pixelvit.data.imagenet import verify_split


def assert_colours(images, colours, tol=3):
    diff = np.abs(images.astype(int) - np.asarray(colours, dtype=int)[:, :, None, None])
    assert diff.max() <= tol, diff.max()


def count_decodes(monkeypatch, fail_after=None):
    """Count calls of decode_image (workers=1 decodes in this process); raise KeyboardInterrupt after ``fail_after``."""
    calls = []
    real = imageio.decode_image

    def counting(*args, **kwargs):
        if fail_after is not None and len(calls) == fail_after:
            raise KeyboardInterrupt("simulated kill")
        calls.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(imageio, "decode_image", counting)
    return calls


def test_prepare_then_load(tmp_path):
    fake = make_imagenet_folders(tmp_path / "imagenet", n_train=3, n_val=2)
    out = prepare_imagenet(tmp_path / "imagenet", 8, workers=1, chunk=4)
    assert out == tmp_path / "imagenet" / "cache_8"
    meta = json.loads((out / "meta.json").read_text())
    assert meta["counts"] == {"train": 9, "val": 6} and meta["size"] == 8 and meta["classes"] == fake.classes
    for split in ("train", "val"):
        arrays = load_arrays("imagenet", tmp_path / "imagenet", split, img_size=8)
        assert isinstance(arrays.images, np.memmap) and arrays.images.shape == (len(fake.targets[split]), 3, 8, 8)
        assert np.array_equal(arrays.targets, fake.targets[split]) and arrays.classes == fake.classes
        assert_colours(arrays.images, fake.colours[split])
    only = load_arrays("imagenet", tmp_path / "imagenet", "val")  # the one prepared size
    assert only.image_size == (8, 8)
    assert len(load_arrays("imagenet", out, "val", img_size=8).images) == 6  # root may be the cache itself


def test_interrupted_prepare_resumes_to_the_same_result(tmp_path, monkeypatch):
    root = tmp_path / "imagenet"
    make_imagenet_folders(root, n_train=4, n_val=2)  # train: 12 images = chunks of 5, 5, 2
    oneshot = prepare_imagenet(root, 6, out=tmp_path / "oneshot", workers=1, chunk=5, splits=("train",))

    with monkeypatch.context() as m:
        calls = count_decodes(m, fail_after=7)  # killed in the middle of the second chunk
        with pytest.raises(KeyboardInterrupt):
            prepare_imagenet(root, 6, workers=1, chunk=5, splits=("train",))
    progress = json.loads((root / "cache_6" / "progress.json").read_text())
    assert progress["splits"]["train"]["done"] == [0] and len(calls) == 7
    assert not (root / "cache_6" / "meta.json").exists()
    with pytest.raises(FileNotFoundError, match=r"interrupted.*pixelvit prepare imagenet --root .* --size 6"):
        load_arrays("imagenet", root, "train", img_size=6)

    with monkeypatch.context() as m:
        calls = count_decodes(m)
        prepare_imagenet(root, 6, workers=1, chunk=5, splits=("train",))
    assert len(calls) == 7  # chunks 1 and 2 only: 5 + 2 images
    resumed = load_arrays("imagenet", root, "train", img_size=6)
    assert np.array_equal(resumed.images, np.load(oneshot / "train.npy"))

    with monkeypatch.context() as m:  # a complete cache: checked, nothing decoded
        calls = count_decodes(m)
        prepare_imagenet(root, 6, workers=1, chunk=5, splits=("train",))
    assert calls == []


def test_pool_of_workers_gives_the_same_array(tmp_path):
    root = tmp_path / "imagenet"
    make_imagenet_folders(root, wnids=("n01", "n02"), n_train=3, n_val=1)
    one = prepare_imagenet(root, 5, out=tmp_path / "one", workers=1, splits=("val",))
    two = prepare_imagenet(root, 5, out=tmp_path / "two", workers=2, splits=("val",))
    assert np.array_equal(np.load(one / "val.npy"), np.load(two / "val.npy"))


def test_new_files_are_picked_up_and_other_splits_kept(tmp_path):
    root = tmp_path / "imagenet"
    fake = make_imagenet_folders(root, n_train=2, n_val=1)
    prepare_imagenet(root, 4, workers=1)
    save_image(root / "train" / fake.classes[0] / "zz_new.png", flat_image((9, 9, 9), (7, 7)))
    prepare_imagenet(root, 4, workers=1, splits=("train",))
    meta = json.loads((root / "cache_4" / "meta.json").read_text())
    assert meta["counts"] == {"train": 7, "val": 3}
    train = load_arrays("imagenet", root, "train", img_size=4)
    assert_colours(train.images[2:3], [(9, 9, 9)]) and train.targets[2] == 0


def test_verify_split_checks_counts_and_chunks(tmp_path):
    root = tmp_path / "imagenet"
    make_imagenet_folders(root, wnids=("n01",), n_train=3, n_val=1)
    out = prepare_imagenet(root, 4, workers=1, chunk=2, splits=("train",))
    entry = json.loads((out / "progress.json").read_text())["splits"]["train"]
    assert verify_split(out, "train", entry, 4, n_files=3) == 3
    with pytest.raises(RuntimeError, match="4 image files found but 3 prepared"):
        verify_split(out, "train", entry, 4, n_files=4)
    with pytest.raises(RuntimeError, match="1 chunks not done"):
        verify_split(out, "train", {**entry, "done": [0]}, 4)
    with pytest.raises(RuntimeError, match=r"expected uint8 \(3, 3, 5, 5\)"):
        verify_split(out, "train", entry, 5)


def test_cache_at_another_size_is_refused_naming_both(tmp_path):
    root = tmp_path / "imagenet"
    make_imagenet_folders(root, wnids=("n01",), n_train=1, n_val=1)
    out = prepare_imagenet(root, 4, workers=1)
    with pytest.raises(FileNotFoundError, match=r"prepared at 4×4 .* not at the 28×28 asked for.*--size 28"):
        load_arrays("imagenet", root, "train", img_size=28)
    with pytest.raises(ValueError, match=r"holds 4×4 images, not the 28×28"):
        load_arrays("imagenet", out, "train", img_size=28)
    with pytest.raises(ValueError, match="square"):
        load_arrays("imagenet", root, "train", img_size=(4, 6))


def test_unprepared_root_says_what_to_run(tmp_path):
    make_imagenet_folders(tmp_path, wnids=("n01",), n_train=1, n_val=1)
    with pytest.raises(FileNotFoundError, match=r"has not been run\. Run: pixelvit prepare imagenet --root .* --size 28"):
        load_arrays("imagenet", tmp_path, "val", img_size=28)
    with pytest.raises(FileNotFoundError, match="no prepared cache"):
        load_arrays("imagenet", tmp_path, "val")


def test_prepare_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="train/<class>/<image files>"):
        prepare_imagenet(tmp_path, 8, workers=1)
    fake = make_imagenet_folders(tmp_path, wnids=("n01", "n02"), n_train=2, n_val=2)
    (tmp_path / "val" / "n03").mkdir()
    with pytest.raises(ValueError, match=r"different class folders.*n03"):
        prepare_imagenet(tmp_path, 8, workers=1)
    (tmp_path / "val" / "n03").rmdir()
    bad = corrupt_image(fake.files["val"][3])
    with pytest.raises(ImageDecodeError, match=re.escape(str(bad))):
        prepare_imagenet(tmp_path, 8, workers=1)
    with pytest.raises(ValueError, match="valid splits: train, val"):
        prepare_imagenet(tmp_path, 8, splits=("test",))
