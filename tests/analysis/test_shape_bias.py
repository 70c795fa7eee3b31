"""Shape bias on a fabricated cue-conflict folder, with a fake model whose decisions are known."""

import numpy as np
import pytest
import torch
from torch import nn

from fixtures.fabricate import flat_image, save_image
from pixelvit.analysis.shape_bias import CATEGORIES, CATEGORY_INDICES, category_probabilities, cue_conflict_files, shape_bias

FOLLOW_TEXTURE, FOLLOW_SHAPE, OTHER = 0, 255, 128


class CueModel(nn.Module):
    """Reads its decision off the image's flat colour: red = 10·texture, green = 10·shape, blue = which
    cue to follow (0 texture, 255 shape, 128 a third category). Puts logit 10 on all of that
    category's ImageNet classes."""

    img_size, in_chans, patch_size = (8, 8), 3, 1

    def forward(self, x):
        assert x.dtype == torch.uint8 and x.shape[1:] == (3, 8, 8)
        logits = torch.zeros(len(x), 1000)
        for i, (r, g, b) in enumerate(x[:, :, 4, 4].tolist()):
            texture, shape = round(r / 10), round(g / 10)
            pick = {FOLLOW_TEXTURE: texture, FOLLOW_SHAPE: shape}.get(b, next(c for c in range(16) if c not in (shape, texture)))
            logits[i, CATEGORY_INDICES[CATEGORIES[pick]]] = 10.0
        return logits


def make_stimuli(root, items):
    """items: (shape, texture, follow) -> root/<shape>/<shape><n>-<texture><m>.png, flat colour."""
    for n, (shape, texture, follow) in enumerate(items):
        colour = (10 * CATEGORIES.index(texture), 10 * CATEGORIES.index(shape), follow)
        save_image(root / shape / f"{shape}{n}-{texture}{n % 3 + 1}.png", flat_image(colour, (16, 16)))


def test_shape_bias_counts_shape_and_texture_decisions_only(tmp_path):
    items = [
        ("cat", "elephant", FOLLOW_TEXTURE), ("cat", "clock", FOLLOW_TEXTURE), ("dog", "knife", FOLLOW_TEXTURE),
        ("truck", "bird", FOLLOW_TEXTURE), ("oven", "bear", FOLLOW_TEXTURE), ("airplane", "boat", FOLLOW_TEXTURE),
        ("cat", "bottle", FOLLOW_SHAPE), ("keyboard", "car", FOLLOW_SHAPE), ("bicycle", "chair", FOLLOW_SHAPE),
        ("dog", "cat", OTHER),
        ("cat", "cat", FOLLOW_SHAPE), ("bird", "bird", FOLLOW_TEXTURE),  # shape = texture: excluded
    ]  # fmt: skip
    make_stimuli(tmp_path, items)
    result = shape_bias(CueModel(), tmp_path, batch_size=5)
    assert result["shape_bias"] == pytest.approx(100 * 3 / 9)
    assert (result["shape_decisions"], result["texture_decisions"], result["other_decisions"]) == (3, 6, 1)
    assert result["images"] == 10 and result["excluded_same_cue"] == 2
    assert result["per_category"]["cat"] == {"images": 3, "shape": 1, "texture": 2}


def test_category_probabilities_are_means_over_each_categorys_imagenet_classes():
    assert len(CATEGORIES) == 16 and sorted(CATEGORIES) == CATEGORIES
    flat = [i for c in CATEGORIES for i in CATEGORY_INDICES[c]]
    assert len(flat) == len(set(flat)) and min(flat) >= 0 and max(flat) < 1000
    assert CATEGORY_INDICES["knife"] == [499] and CATEGORY_INDICES["elephant"] == [385, 386]
    logits = torch.zeros(1, 1000)
    logits[0, 385] = np.log(3.0)  # one of elephant's two classes three times as likely as any other class
    probs = category_probabilities(logits)[0]
    z = 999 + 3.0
    assert probs[CATEGORIES.index("elephant")].item() == pytest.approx((3 + 1) / 2 / z)
    assert probs[CATEGORIES.index("knife")].item() == pytest.approx(1 / z)


def test_bad_stimuli_are_named(tmp_path):
    save_image(tmp_path / "cat" / "dog1-cat2.png", flat_image((0, 0, 0), (4, 4)))
    with pytest.raises(ValueError, match=r"dog1-cat2\.png: expected a name"):
        cue_conflict_files(tmp_path)
    with pytest.raises(FileNotFoundError, match="cue-conflict"):
        cue_conflict_files(tmp_path / "missing")
