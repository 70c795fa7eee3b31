"""NYU-v2 labeled .mat (MATLAB v7.3 layout) + splits.mat, the depth folder format, depth resizing, caches, errors."""

import json

import numpy as np
import pytest
import torch

import pixelvit.data.nyu_depth as nyu
from fixtures.nyu_depth import make_depth_folder, make_nyu_depth_v2, write_matlab_v73
from pixelvit.data import DATASETS, ImageArrays, load_arrays
from pixelvit.data.depth_dataset import DepthDataset
from pixelvit.data.depth_maps import crop_box, median_pool_depth, resize_images


def test_orientation_pixels_and_depths_at_native_size(tmp_path):
    fake = make_nyu_depth_v2(tmp_path, n=7, size=(24, 32), train=(2, 5, 7))
    for split in ("train", "test"):
        arrays = load_arrays("nyu_depth_v2", tmp_path, split, (24, 32))
        idx = fake.splits[split]
        assert arrays.images.shape == (len(idx), 3, 24, 32) and arrays.images.dtype == np.uint8
        assert arrays.targets.shape == (len(idx), 24, 32) and arrays.targets.dtype == np.float32
        assert np.array_equal(arrays.images, fake.images[idx])  # exact: rows are rows, columns columns, RGB in order
        assert np.array_equal(arrays.targets, fake.depths[idx])
    assert list(fake.splits["train"]) == [1, 4, 6]  # 1-based in splits.mat


def test_default_size_is_48x64_and_resizing(tmp_path):
    fake = make_nyu_depth_v2(tmp_path, n=4, size=(96, 128), with_invalid=True)
    arrays = load_arrays("nyu_depth_v2", tmp_path, "test")
    idx = fake.splits["test"]
    assert arrays.images.shape == (2, 3, 48, 64)
    assert np.array_equal(arrays.images, resize_images(fake.images[idx], (48, 64)))
    expected = median_pool_depth(fake.depths[idx], (48, 64))
    assert np.array_equal(arrays.targets, expected)
    block = fake.depths[idx[0], 2:4, 6:8].ravel()  # output pixel (1, 3) comes from this 2x2 block
    valid = np.sort(block[block > 0])
    assert arrays.targets[0, 1, 3] == (valid[(len(valid) - 1) // 2] if len(valid) else 0.0)


def test_median_pool_depth_hand_made_and_against_a_loop():
    d = np.array(
        [
            [1, 5, 1, 2, 0, 0],
            [5, 0, 8, 9, 0, np.nan],
        ],
        dtype=np.float32,
    )[None]
    # 2x2 blocks: {1,5,5,0} -> valid 1,5,5 -> 5; {1,2,8,9} -> lower median 2; nothing valid -> 0
    assert median_pool_depth(d, (1, 3)).tolist() == [[[5.0, 2.0, 0.0]]]
    rng = np.random.default_rng(0)
    x = rng.uniform(0.5, 9, (2, 7, 11)).astype(np.float32)
    x[rng.random(x.shape) < 0.3] = 0
    out = median_pool_depth(x, (3, 4))  # non-integer factors: overlapping adaptive bins
    for n in range(2):
        for i in range(3):
            for j in range(4):
                r0, r1 = i * 7 // 3, -(-(i + 1) * 7 // 3)
                c0, c1 = j * 11 // 4, -(-(j + 1) * 11 // 4)
                v = np.sort(x[n, r0:r1, c0:c1][x[n, r0:r1, c0:c1] > 0])
                assert out[n, i, j] == (v[(len(v) - 1) // 2] if len(v) else 0.0)
    # Never a value that was not measured: every output is one of the inputs (or 0).
    assert set(out.ravel()) <= set(x.ravel())


def test_crop_box_keeps_the_aspect_ratio():
    assert crop_box(480, 640, (48, 64)) == (0, 0, 480, 640)
    assert crop_box(100, 200, (48, 64)) == (0, 33, 100, 133)
    assert crop_box(300, 200, (48, 64)) == (75, 0, 150, 200)


def test_cache_is_written_reused_and_rebuilt_when_the_mat_changes(tmp_path, monkeypatch):
    make_nyu_depth_v2(tmp_path, n=4, size=(24, 32))
    first = load_arrays("nyu_depth_v2", tmp_path, "train", (12, 16))
    meta = json.loads((tmp_path / "nyu_depth_v2_train_12x16.json").read_text())
    assert meta["count"] == 2 and meta["size"] == [12, 16]

    def no_read(*args, **kwargs):
        raise AssertionError("the cache must be used")

    monkeypatch.setattr(nyu, "read_labeled", no_read)
    again = load_arrays("nyu_depth_v2", tmp_path, "train", (12, 16))
    assert np.array_equal(again.images, first.images) and np.array_equal(again.targets, first.targets)
    monkeypatch.undo()
    fake = make_nyu_depth_v2(tmp_path, n=6, size=(24, 32), seed=1)  # a different file: rebuilt
    rebuilt = load_arrays("nyu_depth_v2", tmp_path, "train", (24, 32))
    assert np.array_equal(rebuilt.targets, fake.depths[fake.splits["train"]])


def test_missing_files_and_bad_split(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nyu_depth_v2_labeled\.mat[\s\S]*splits\.mat[\s\S]*horatio"):
        load_arrays("nyu_depth_v2", tmp_path, "train")
    with pytest.raises(ValueError, match="no split 'val'; valid splits: train, test"):
        load_arrays("nyu_depth_v2", tmp_path, "val")
    with pytest.raises(ValueError, match="needs root"):
        load_arrays("nyu_depth_v2", None, "train")


def test_wrong_mat_contents_are_named(tmp_path):
    make_nyu_depth_v2(tmp_path, n=4, size=(6, 8))
    mat = tmp_path / "nyu_depth_v2_labeled.mat"
    write_matlab_v73(mat, {"images": np.zeros((6, 8, 3, 4), np.uint8)}, {"images": "uint8"})
    with pytest.raises(ValueError, match=r"no depths array \(found: images\)"):
        load_arrays("nyu_depth_v2", tmp_path, "train")
    write_matlab_v73(
        mat,
        {"images": np.zeros((6, 8, 3, 4), np.uint8), "depths": np.zeros((6, 9, 4), np.float32)},
        {"images": "uint8", "depths": "single"},
    )
    with pytest.raises(ValueError, match=r"expected images \(N, 3, W, H\) and depths \(N, W, H\)"):
        load_arrays("nyu_depth_v2", tmp_path, "train")
    mat.write_bytes(b"MATLAB 5.0 MAT-file, not HDF5")
    with pytest.raises(ValueError, match=r"MATLAB v7\.3"):
        load_arrays("nyu_depth_v2", tmp_path, "train")


def test_wrong_splits_are_named(tmp_path):
    from scipy.io import savemat

    make_nyu_depth_v2(tmp_path, n=4, size=(6, 8))
    savemat(tmp_path / "splits.mat", {"trainNdxs": np.array([[1.0], [9.0]]), "testNdxs": np.array([[2.0]])})
    with pytest.raises(ValueError, match=r"splits\.mat names frame 9 but .* holds 4 frames"):
        load_arrays("nyu_depth_v2", tmp_path, "train")
    savemat(tmp_path / "splits.mat", {"trainIdx": np.array([[1.0]])})
    with pytest.raises(ValueError, match=r"no 'trainNdxs' array \(found: trainIdx\)"):
        load_arrays("nyu_depth_v2", tmp_path, "train")


def test_depth_folder_format(tmp_path):
    fake = make_depth_folder(tmp_path, {"train": 3, "val": 2}, size=(12, 16))
    arrays = load_arrays("depth_folder", tmp_path, "val", (12, 16))
    assert np.array_equal(arrays.images, fake["val"].images)
    assert np.allclose(arrays.targets, fake["val"].depths) and (arrays.targets == 0).any()  # mm -> m, zeros stay 0
    small = load_arrays("depth_folder", tmp_path, "train", (6, 8))
    assert np.array_equal(small.targets, median_pool_depth(fake["train"].depths, (6, 8)))
    assert (tmp_path / "depth_train_6x8.json").is_file()
    assert DATASETS["depth_folder"].splits is None and DATASETS["nyu_depth_v2"].splits == ("train", "test")


def test_depth_folder_errors(tmp_path):
    from PIL import Image

    with pytest.raises(FileNotFoundError, match="16-bit PNG"):
        load_arrays("depth_folder", tmp_path, "train")
    make_depth_folder(tmp_path, {"train": 2}, size=(6, 8))
    folder = tmp_path / "train"
    Image.fromarray(np.zeros((6, 8, 3), np.uint8)).save(folder / "extra.png")
    with pytest.raises(FileNotFoundError, match=r"1 image\(s\) in .* have no depth map; missing:\n  .*extra_depth\.png"):
        load_arrays("depth_folder", tmp_path, "train")
    Image.fromarray(np.zeros((6, 8), np.uint8)).save(folder / "extra_depth.png")
    with pytest.raises(ValueError, match=r"extra_depth\.png is a L image; a depth map must be a single-channel 16-bit PNG"):
        load_arrays("depth_folder", tmp_path, "train")
    Image.fromarray(np.zeros((6, 9), np.uint16)).save(folder / "extra_depth.png")
    with pytest.raises(ValueError, match=r"extra\.png is 6x8 but its depth map extra_depth\.png is 6x9"):
        load_arrays("depth_folder", tmp_path, "train")


def test_depth_dataset_augments_image_and_depth_together(tmp_path):
    from torchvision.transforms import v2

    make_depth_folder(tmp_path, {"train": 2}, size=(6, 8))
    arrays = load_arrays("depth_folder", tmp_path, "train", (6, 8))
    plain = DepthDataset(arrays)
    image, depth = plain[(1, 123)]
    assert torch.equal(image, torch.from_numpy(arrays.images[1])) and torch.equal(depth, torch.from_numpy(arrays.targets[1]))
    flip = DepthDataset(arrays, hflip=1.0)
    image, depth = flip[(1, 5)]
    assert torch.equal(image, torch.from_numpy(arrays.images[1]).flip(-1))
    assert torch.equal(depth, torch.from_numpy(arrays.targets[1]).flip(-1))
    jitter = DepthDataset(arrays, v2.ColorJitter(0.4, 0.4, 0.4, 0.1), hflip=0.5)
    a, b = jitter[(0, 7)], jitter[(0, 7)]
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])  # the seed fixes every draw
    outcomes = [jitter[(0, s)] for s in range(12)]
    flipped = [torch.equal(d, torch.from_numpy(arrays.targets[0]).flip(-1)) for _, d in outcomes]
    assert 0 < sum(flipped) < 12  # p = 0.5 per sample
    for (im, d), was_flipped in zip(outcomes, flipped, strict=True):
        assert was_flipped or torch.equal(d, torch.from_numpy(arrays.targets[0]))  # depth: flipped or untouched
        original = torch.from_numpy(arrays.images[0])
        assert not torch.equal(im, original.flip(-1) if was_flipped else original)  # jittered
    with pytest.raises(ValueError, match=r"depth targets must be \(N, H, W\)"):
        DepthDataset(ImageArrays(np.zeros((2, 3, 4, 4), np.uint8), np.zeros(2, np.int64)))
