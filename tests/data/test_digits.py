"""scikit-learn's digits: sizes, the fixed stratified split, pixel scaling, the recorded statistics."""

import numpy as np
from sklearn.datasets import load_digits

from pixelvit.data import load_arrays
from pixelvit.data.digits import MEAN, STD


def test_split_sizes_and_determinism():
    train, test = load_arrays("digits", split="train"), load_arrays("digits", split="test")
    assert len(train.images) + len(test.images) == 1797
    assert (len(train.images), len(test.images)) == (1437, 360)
    assert train.images.shape[1:] == (1, 8, 8) and train.classes == [str(d) for d in range(10)]
    again = load_arrays("digits", split="test")
    assert np.array_equal(again.images, test.images) and np.array_equal(again.targets, test.targets)
    assert np.bincount(test.targets, minlength=10).min() >= 35  # stratified: ~36 per class


def test_splits_partition_the_data_with_scaled_values():
    digits = load_digits()
    expected = np.rint(digits.images * 255 / 16).astype(np.uint8)
    rows = {row.tobytes(): label for row, label in zip(expected.reshape(1797, 64), digits.target)}
    train, test = load_arrays("digits", split="train"), load_arrays("digits", split="test")
    both = np.concatenate([train.images, test.images]).reshape(-1, 64)
    assert all(rows[row.tobytes()] == t for row, t in zip(both, np.concatenate([train.targets, test.targets])))
    assert sorted(map(bytes, both)) == sorted(map(bytes, expected.reshape(1797, 64)))
    assert both.dtype == np.uint8 and both.max() == 255 and both.min() == 0


def test_recorded_statistics_match_the_train_split():
    pixels = load_arrays("digits", split="train").images / 255.0
    assert abs(pixels.mean() - MEAN[0]) < 1e-4 and abs(pixels.std() - STD[0]) < 1e-4


def test_resize():
    arrays = load_arrays("digits", split="train", img_size=(16, 16))
    assert arrays.images.shape == (1437, 1, 16, 16) and arrays.images.dtype == np.uint8
