"""Training crops cut from a higher-resolution source and downsampled (the crop-and-resize recipes), and
ImageNet's crop-from-source cache: prepare, load, evaluation at crop_pct."""

import json
import math

import numpy as np
import pytest
import torch

from fixtures.fabricate import make_imagenet_folders, save_image
from pixelvit.config import load_config
from pixelvit.data import ArrayDataset, ImageArrays, prepare_imagenet
from pixelvit.data.imagenet import load_imagenet
from pixelvit.data.source_crop import SourceRandomResizedCrop, min_source_side, upsampled_share, virtual_size
from pixelvit.data.splits import load_split


def test_virtual_size_keeps_the_short_side_and_the_ratio():
    assert virtual_size(100, 1.5) == (100, 150) and virtual_size(100, 0.5) == (200, 100) and virtual_size(100, 1.0) == (100, 100)


def test_crop_area_and_ratio_are_drawn_in_the_images_own_geometry():
    """A 2:1 image squashed to 64x64: a crop's area share (in the image's geometry) stays in the scale range, and
    a crop of ratio r there is r/2 wide in the squashed array (width halved)."""
    crop = SourceRandomResizedCrop((8, 8), scale=(0.25, 0.5), ratio=(1.0, 1.0))
    torch.manual_seed(0)
    for _ in range(200):
        top, left, h, w = crop.box(64, 2.0)
        assert top >= 0 and top + h <= 64 and left >= 0 and left + w <= 64
        assert w == pytest.approx(h / 2, abs=1.01)  # square in the 2:1 image = half as wide in the squashed array
        assert 0.25 - 0.05 <= h * w / 64**2 <= 0.5 + 0.05


def test_crops_are_downsampled_from_a_large_enough_source():
    assert min_source_side(28, 0.08) == 115  # the short side of the smallest, most elongated crop is 0.245 of the image
    assert upsampled_share(28, 28, (0.08, 1.0), draws=500) > 0.95  # cropping the 28x28 cache enlarges nearly every crop
    assert upsampled_share(112, 28, (0.08, 1.0), draws=2000) < 0.01


def test_a_crop_of_the_whole_image_is_the_antialiased_resize():
    image = torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8)
    crop = SourceRandomResizedCrop((8, 8), scale=(1.0, 1.0), ratio=(1.0, 1.0))
    from torchvision.transforms.v2 import functional as F

    expected = F.resize(image, [8, 8], interpolation=F.InterpolationMode.BICUBIC, antialias=True)
    assert torch.equal(crop(image, 1.0), expected)


def test_dataset_crops_are_reproducible_per_seed():
    arrays = ImageArrays(np.random.default_rng(0).integers(0, 256, (4, 3, 32, 32), dtype=np.uint8), np.arange(4),
                         aspect=np.array([1.0, 1.5, 0.7, 2.0], dtype=np.float32))  # fmt: skip
    ds = ArrayDataset(arrays, crop=SourceRandomResizedCrop((8, 8), (0.08, 1.0)))
    a, b, c = ds[(1, 7)][0], ds[(1, 7)][0], ds[(1, 8)][0]
    assert a.shape == (3, 8, 8) and a.dtype == torch.uint8 and torch.equal(a, b) and not torch.equal(a, c)


def test_prepare_with_a_source_size_and_crop_pct_then_load(tmp_path):
    root = tmp_path / "imagenet"
    make_imagenet_folders(root, n_train=2, n_val=1, size=(20, 40))  # 2:1 images
    out = prepare_imagenet(root, 8, workers=1, source_size=16, crop_pct=0.875)
    assert out.name == "cache_8_src16_crop0.875"
    meta = json.loads((out / "meta.json").read_text())
    assert meta["source_size"] == 16 and meta["crop_pct"] == 0.875
    train = load_imagenet(root, "train", (8, 8), 16, 0.875)
    assert train.images.shape[1:] == (3, 16, 16) and np.allclose(train.aspect, 2.0)
    val = load_imagenet(root, "val", (8, 8), 16, 0.875)
    assert val.images.shape[1:] == (3, 8, 8) and val.aspect is None
    with pytest.raises(FileNotFoundError, match=r"--size 8 --source-size 32 --crop-pct 0.875"):
        load_imagenet(root, "train", (8, 8), 32, 0.875)
    cfg = load_config(None, ["data.name=imagenet", f"data.root={root}", "data.img_size=[8,8]", "data.source_size=16",
                             "data.crop_pct=0.875", "augment.crop=rrc", "data.limit_train=3"])  # fmt: skip
    _, arrays = load_split(cfg.data, "train", 3, train=True)
    assert arrays.images.shape == (3, 3, 16, 16) and arrays.aspect.shape == (3,)


def test_evaluation_resizes_then_centre_crops_at_crop_pct(tmp_path):
    """A 32x32 image with a 2-pixel red frame around blue: crop_pct 0.875 (resize 32, centre crop 28) cuts the
    frame away; crop_pct 1 (resize to 28) keeps it."""
    pixels = np.zeros((32, 32, 3), dtype=np.uint8)
    pixels[...] = (255, 0, 0)
    pixels[2:-2, 2:-2] = (0, 0, 255)
    for split in ("train", "val"):
        save_image(tmp_path / "in" / split / "n01" / "a.png", pixels)
    cut = load_imagenet(prepare_imagenet(tmp_path / "in", 28, workers=1, crop_pct=0.875), "val", (28, 28), None, 0.875)
    whole = load_imagenet(prepare_imagenet(tmp_path / "in", 28, workers=1), "val", (28, 28))
    assert cut.images[0, 0].max() <= 2 and whole.images[0, 0, 0].max() > 100
    assert math.floor(28 / 0.875) == 32
