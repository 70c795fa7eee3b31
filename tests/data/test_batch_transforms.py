"""Batched pad-crop and flip: each output is an exact crop / mirror of its own input."""

import torch
import torch.nn.functional as F

from pixelvit.data.batch_transforms import random_hflip, random_pad_crop


def test_pad_crop_gives_a_shifted_window_of_each_sample():
    images = torch.randint(1, 256, (64, 3, 6, 5), dtype=torch.uint8)
    out = random_pad_crop(images, 2)
    assert out.shape == images.shape and out.dtype == torch.uint8
    padded = F.pad(images, (2, 2, 2, 2))
    offsets = set()
    for i in range(64):
        windows = [(dy, dx) for dy in range(5) for dx in range(5) if torch.equal(padded[i, :, dy : dy + 6, dx : dx + 5], out[i])]
        assert windows, f"sample {i} is not a crop of its padded input"
        offsets.add(windows[0])
    assert len(offsets) > 10  # offsets vary across the batch
    assert torch.equal(random_pad_crop(images, 0), images)


def test_hflip_mirrors_about_half_the_samples():
    images = torch.randint(0, 256, (400, 1, 4, 4), dtype=torch.uint8)
    out = random_hflip(images, 0.5)
    flipped = [torch.equal(out[i], images[i].flip(-1)) for i in range(400)]
    kept = [torch.equal(out[i], images[i]) for i in range(400)]
    assert all(f or k for f, k in zip(flipped, kept))
    assert 150 < sum(flipped) < 250
    assert torch.equal(random_hflip(images, 0.0), images)
