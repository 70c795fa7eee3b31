"""Fashion-MNIST: IDX round trips in torchvision's and Debian's layouts, the default root, errors."""

import gzip

import numpy as np
import pytest

import pixelvit.data.fashion_mnist as fashion_mnist
from fixtures.fabricate import make_fashion_mnist, write_idx
from pixelvit.data import load_arrays
from pixelvit.data.idx import read_idx


@pytest.mark.parametrize("debian_layout", [False, True])
def test_round_trip(tmp_path, debian_layout):
    fake = make_fashion_mnist(tmp_path, n_train=7, n_test=3, debian_layout=debian_layout)
    for split in ("train", "test"):
        arrays = load_arrays("fashion_mnist", tmp_path, split)
        assert np.array_equal(arrays.images, fake.images[split]) and arrays.images.shape[1:] == (1, 28, 28)
        assert np.array_equal(arrays.targets, fake.targets[split]) and arrays.targets.dtype == np.int64
        assert arrays.classes[0] == "T-shirt/top" and len(arrays.classes) == 10


def test_debian_folder_is_the_default_root(tmp_path, monkeypatch):
    fake = make_fashion_mnist(tmp_path / "fashion-mnist", n_train=2, n_test=2, debian_layout=True)
    monkeypatch.setattr(fashion_mnist, "DEBIAN_ROOT", tmp_path / "fashion-mnist")
    assert np.array_equal(load_arrays("fashion_mnist", None, "test").images, fake.images["test"])
    monkeypatch.setattr(fashion_mnist, "DEBIAN_ROOT", tmp_path / "absent")
    with pytest.raises(ValueError, match="needs root"):
        load_arrays("fashion_mnist", None, "test")


def test_resize(tmp_path):
    make_fashion_mnist(tmp_path, n_train=2, n_test=2)
    assert load_arrays("fashion_mnist", tmp_path, "train", img_size=(14, 14)).images.shape == (2, 1, 14, 14)


def test_missing_files_list_both_layouts(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        load_arrays("fashion_mnist", tmp_path, "test")
    message = str(info.value)
    assert f"{tmp_path}/FashionMNIST/raw/t10k-images-idx3-ubyte[.gz]" in message
    assert f"{tmp_path}/t10k-labels-idx1-ubyte[.gz]" in message
    assert "apt install dataset-fashion-mnist" in message and "download=True" in message


def test_idx_parser(tmp_path):
    ints = np.arange(-6, 6, dtype=np.int32).reshape(3, 4)
    assert np.array_equal(read_idx(write_idx(tmp_path / "a", ints)), ints)
    assert np.array_equal(read_idx(write_idx(tmp_path / "b.gz", ints, gzipped=True)), ints)
    (tmp_path / "c").write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x05abc")
    with pytest.raises(ValueError, match="truncated"):
        read_idx(tmp_path / "c")
    (tmp_path / "d").write_bytes(gzip.compress(b"PK\x03\x04 not idx"))
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(tmp_path / "d")
