"""The dataset registry: names, specs, split and size checks, download plumbing."""

import numpy as np
import pytest
import torch

from fixtures.fabricate import make_fashion_mnist
from pixelvit.data import DATASETS, ArrayDataset, get_dataset_spec, load_arrays

NAMES = {"digits", "cifar100", "flowers102", "imagenet", "fashion_mnist", "imagefolder", "nyu_depth_v2", "depth_folder"}


def test_every_dataset_has_a_consistent_spec():
    assert set(DATASETS) == NAMES
    for name, spec in DATASETS.items():
        assert spec.name == name
        assert len(spec.mean) == len(spec.std) == spec.channels
        assert all(0 < m < 1 for m in spec.mean) and all(0 < s < 1 for s in spec.std)
        assert "ROOT" in spec.how_to_get or name == "digits"
    assert DATASETS["cifar100"].mean == (0.5071, 0.4865, 0.4409)
    assert DATASETS["imagenet"].std == (0.229, 0.224, 0.225)


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(ValueError, match="known datasets: digits, cifar100") as info:
        get_dataset_spec("cifar10")
    assert "Did you mean: cifar100" in str(info.value)
    assert get_dataset_spec("Fashion-MNIST") is DATASETS["fashion_mnist"]


def test_bad_split_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"no split 'validation'; valid splits: train, val, test"):
        load_arrays("flowers102", "anywhere", "validation")


@pytest.mark.parametrize("size", [0, (8,), (8, -1), "8"])
def test_bad_img_size(size):
    with pytest.raises(ValueError, match="img_size"):
        load_arrays("digits", split="test", img_size=size)


def test_int_img_size_and_array_dataset():
    arrays = load_arrays("digits", split="test", img_size=12)
    assert arrays.images.shape == (360, 1, 12, 12)
    image, target = ArrayDataset(arrays)[5]
    assert image.dtype == torch.uint8 and image.shape == (1, 12, 12)
    assert torch.equal(image, torch.from_numpy(arrays.images[5])) and int(target) == arrays.targets[5]


def test_download_where_not_offered(tmp_path):
    with pytest.raises(ValueError, match="cannot be downloaded automatically"):
        load_arrays("imagenet", tmp_path, "train", download=True)
    with pytest.raises(ValueError, match="needs root"):
        load_arrays("cifar100", None, "train", download=True)


def test_download_skipped_when_files_are_there(tmp_path, monkeypatch):
    fake = make_fashion_mnist(tmp_path, n_train=3, n_test=2)

    def no_network(*args, **kwargs):
        raise AssertionError("must not download files that are already there")

    monkeypatch.setattr("torchvision.datasets.FashionMNIST", no_network)
    arrays = load_arrays("fashion_mnist", tmp_path, "test", download=True)
    assert np.array_equal(arrays.images, fake.images["test"])
