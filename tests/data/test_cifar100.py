"""CIFAR-100 pickles: exact round trip, lists or arrays, errors, download plumbing, the restricted unpickler."""

import codecs
import os
import pickle
import urllib.error

import numpy as np
import pytest

from fixtures.fabricate import make_cifar100
from pixelvit.data import load_arrays
from pixelvit.data.safepickle import RefusedPickleError, load_restricted


@pytest.mark.parametrize("as_lists", [False, True])
def test_round_trip(tmp_path, as_lists):
    fake = make_cifar100(tmp_path, n_train=6, n_test=3, as_lists=as_lists)
    for split in ("train", "test"):
        arrays = load_arrays("cifar100", tmp_path, split)
        assert arrays.images.dtype == np.uint8 and arrays.images.shape == (len(fake.targets[split]), 3, 32, 32)
        assert np.array_equal(arrays.images, fake.images[split])
        assert np.array_equal(arrays.targets, fake.targets[split]) and arrays.targets.dtype == np.int64
        assert arrays.classes == fake.classes


def test_root_may_be_the_pickle_folder_and_resize(tmp_path):
    fake = make_cifar100(tmp_path, n_train=2, n_test=2)
    folder = tmp_path / "cifar-100-python"
    with open(folder / "test", "wb") as f:  # a flat-colour image must stay that colour when resized
        data = np.repeat(np.array([10, 200, 77], dtype=np.uint8), 1024)[None].repeat(2, axis=0)
        pickle.dump({"data": data, "fine_labels": [3, 4]}, f, protocol=2)
    arrays = load_arrays("cifar100", folder, "test", img_size=(12, 20))
    assert arrays.images.shape == (2, 3, 12, 20)
    assert np.array_equal(arrays.images[:, :, 5, 7], [[10, 200, 77]] * 2)
    assert np.array_equal(load_arrays("cifar100", folder, "train").images, fake.images["train"])


def test_bytes_keys_as_python2_pickles_have_them(tmp_path):
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    data = np.arange(2 * 3072).astype(np.uint8).reshape(2, 3072)
    (folder / "train").write_bytes(pickle.dumps({b"data": data, b"fine_labels": [1, 0]}, protocol=2))
    (folder / "meta").write_bytes(pickle.dumps({b"fine_label_names": [b"apple", b"aquarium_fish"]}, protocol=2))
    arrays = load_arrays("cifar100", tmp_path, "train")
    assert arrays.classes == ["apple", "aquarium_fish"] and np.array_equal(arrays.images.reshape(2, 3072), data)


def test_missing_files_name_what_is_expected(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        load_arrays("cifar100", tmp_path / "nowhere", "train")
    message = str(info.value)
    assert "cifar-100-python/train" in message and "cifar-100-python/meta" in message
    assert "download=True" in message and "cifar-100-python.tar.gz" in message
    with pytest.raises(ValueError, match="needs root"):
        load_arrays("cifar100", None, "train")


def test_download_without_network_says_how_to_get_the_files(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr("torchvision.datasets.CIFAR100", offline)
    with pytest.raises(RuntimeError, match="could not download cifar100") as info:
        load_arrays("cifar100", tmp_path, "train", download=True)
    assert "offline" in str(info.value) and "cifar-100-python.tar.gz" in str(info.value)


def test_download_through_torchvision(tmp_path, monkeypatch):
    calls = []

    def fake_cifar100(root, train=True, download=False):
        calls.append((root, download))
        make_cifar100(root, n_train=4, n_test=2)

    monkeypatch.setattr("torchvision.datasets.CIFAR100", fake_cifar100)
    arrays = load_arrays("cifar100", tmp_path / "new", "test", download=True)
    assert calls == [(str(tmp_path / "new"), True)] and len(arrays.images) == 2
    load_arrays("cifar100", tmp_path / "new", "train", download=True)  # already there: no second download
    assert len(calls) == 1


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickle_is_refused_without_running(tmp_path):
    make_cifar100(tmp_path, n_train=2, n_test=2)
    marker = tmp_path / "pwned"
    path = tmp_path / "cifar-100-python" / "train"
    path.write_bytes(pickle.dumps({"data": _Exploit(marker), "fine_labels": [0]}, protocol=2))
    with pytest.raises(RefusedPickleError, match=r"refused to load (posix|os|nt)\.system") as info:
        load_arrays("cifar100", tmp_path, "train")
    assert str(path) in str(info.value)
    assert not marker.exists()
    path.write_bytes(pickle.dumps({"data": eval}, protocol=2))  # any other global too
    with pytest.raises(RefusedPickleError, match=r"refused to load (builtins|__builtin__)\.eval"):
        load_restricted(path)


class _Rot13:
    def __reduce__(self):
        return (codecs.encode, ("abc", "rot13"))


def test_only_latin1_codec_is_allowed(tmp_path):
    path = tmp_path / "p"
    path.write_bytes(pickle.dumps({"x": _Rot13()}, protocol=2))
    with pytest.raises(RefusedPickleError, match="encoding 'rot13'"):
        load_restricted(path)


def test_restricted_unpickler_reads_arrays_of_any_protocol(tmp_path):
    array = np.arange(24, dtype=np.int32).reshape(2, 3, 4)
    for protocol in (2, 4, 5):
        path = tmp_path / f"p{protocol}"
        path.write_bytes(pickle.dumps({"a": array, "b": [1, "x", b"y", 2.5, None]}, protocol=protocol))
        loaded = load_restricted(path)
        assert np.array_equal(loaded["a"], array) and loaded["a"].dtype == np.int32
        assert loaded["b"] == [1, "x", b"y", 2.5, None]


def test_damaged_pickle(tmp_path):
    fake = make_cifar100(tmp_path, n_train=2, n_test=2)
    path = fake.root / "cifar-100-python" / "test"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(pickle.UnpicklingError, match="not a readable pickle"):
        load_arrays("cifar100", tmp_path, "test")
    path.write_bytes(pickle.dumps({"data": np.zeros((1, 100), np.uint8), "fine_labels": [0]}, protocol=2))
    with pytest.raises(ValueError, match="not a multiple of 3072"):
        load_arrays("cifar100", tmp_path, "test")
