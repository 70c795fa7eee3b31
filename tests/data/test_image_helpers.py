"""Shared image helpers: cover-resize + center crop, array resizing, decoding modes, sizes."""

import numpy as np
import pytest
import torch

from fixtures.fabricate import save_image
from pixelvit.data.imageio import as_size, decode_image, fit_images, resize_array


def test_fit_keeps_the_centre_of_a_wide_image():
    image = torch.zeros(3, 16, 32, dtype=torch.uint8)
    image[0, :, :16] = 255  # left half red
    image[2, :, 16:] = 255  # right half blue
    out = fit_images(image, (8, 8))  # 16×32 -> 8×16, then the middle 8 columns
    assert out.shape == (3, 8, 8) and out.dtype == torch.uint8
    assert out[0, :, :3].min() == 255 and out[2, :, :3].max() == 0
    assert out[2, :, 5:].min() == 255 and out[0, :, 5:].max() == 0


def test_resize_array_is_a_no_op_at_the_same_size():
    images = np.random.default_rng(0).integers(0, 256, (3, 1, 8, 8), dtype=np.uint8)
    assert resize_array(images, (8, 8)) is images and resize_array(images, None) is images
    flat = np.full((2, 3, 5, 5), 123, dtype=np.uint8)
    assert np.array_equal(resize_array(flat, (11, 7)), np.full((2, 3, 11, 7), 123, dtype=np.uint8))


def test_decode_modes_and_palette_images(tmp_path):
    grey = np.arange(64, dtype=np.uint8).reshape(8, 8)
    path = save_image(tmp_path / "g.png", grey)
    assert np.array_equal(decode_image(path, (8, 8), mode="L")[0], grey)
    assert np.array_equal(decode_image(path, (8, 8)), np.stack([grey] * 3))
    from PIL import Image

    palette = Image.fromarray(np.full((4, 4, 3), 200, np.uint8)).convert("P")
    palette.info["transparency"] = 0
    palette.save(tmp_path / "p.png")
    assert decode_image(tmp_path / "p.png", (4, 4)).shape == (3, 4, 4)


def test_as_size():
    assert as_size(7) == (7, 7) and as_size((3, 5)) == (3, 5) and as_size([2, 2]) == (2, 2)
    with pytest.raises(ValueError, match="img_size"):
        as_size((1, 2, 3))
