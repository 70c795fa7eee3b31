"""Mean attention distance and offset (metrics.attention): hand-made maps with known answers, chunking, pixel units."""

import itertools
import math

import numpy as np
import pytest
import torch

from pixelvit import create_model
from pixelvit.metrics.attention import (
    attention_rows,
    attention_statistics,
    distance_and_offset,
    drop_prefix,
    token_centres,
)


def grid(h, w):
    return token_centres((h, w), 1)


def test_token_centres_are_patch_centres_in_input_pixels():
    torch.testing.assert_close(grid(2, 3), torch.tensor([[0, 0], [0, 1], [0, 2], [1, 0], [1, 1], [1, 2]], dtype=torch.float64))
    # a /2 model of a 4x4 input: token (r, c) covers pixels 2r..2r+1, centred at 2r + 0.5
    torch.testing.assert_close(
        token_centres((2, 2), 2), torch.tensor([[0.5, 0.5], [0.5, 2.5], [2.5, 0.5], [2.5, 2.5]], dtype=torch.float64)
    )
    # /4 of 8x8: centres 1.5 and 5.5
    assert token_centres((2, 2), 4)[:, 0].tolist() == [1.5, 1.5, 5.5, 5.5]


def test_uniform_attention_gives_the_mean_pairwise_distance():
    h, w = 3, 4
    pos = grid(h, w)
    n = h * w
    attn = torch.full((1, 1, n, n), 1.0 / n, dtype=torch.float64)
    distance, offset = distance_and_offset(attn, pos, pos)
    brute = np.mean([math.dist(a, b) for a, b in itertools.product(pos.tolist(), repeat=2)])
    assert distance.mean().item() == pytest.approx(brute, rel=1e-12)
    # the centre of mass of uniform attention is the grid's centre (1, 1.5): offset = distance of the query to it
    centre_distances = [math.dist(p, (1.0, 1.5)) for p in pos.tolist()]
    torch.testing.assert_close(offset[0, 0], torch.tensor(centre_distances, dtype=torch.float64))


def test_two_pixels_closed_form():
    pos = grid(1, 2)
    attn = torch.full((2, 2), 0.5, dtype=torch.float64)
    distance, offset = distance_and_offset(attn, pos, pos)
    assert distance.tolist() == [0.5, 0.5] and offset.tolist() == [0.5, 0.5]


def test_attention_to_self_has_zero_distance_and_offset():
    pos = grid(4, 4)
    distance, offset = distance_and_offset(torch.eye(16, dtype=torch.float64)[None, None], pos, pos)
    assert distance.abs().max() == 0 and offset.abs().max() == 0


def test_attention_to_one_pixel_gives_its_distance_as_both():
    pos = grid(4, 5)
    k = 7  # pixel (1, 2)
    attn = torch.zeros(20, 20, dtype=torch.float64)
    attn[:, k] = 1.0
    distance, offset = distance_and_offset(attn, pos, pos)
    expected = torch.tensor([math.dist(p, (1.0, 2.0)) for p in pos.tolist()], dtype=torch.float64)
    torch.testing.assert_close(distance, expected)
    torch.testing.assert_close(offset, expected)


def test_class_token_mass_is_removed_and_the_rest_renormalised():
    attn = torch.tensor([[0.5, 0.25, 0.125, 0.125]])
    torch.testing.assert_close(drop_prefix(attn, 1), torch.tensor([[0.5, 0.25, 0.25]]))


def reference_statistics(model, images):
    """Full (L, L) maps from VisionTransformer.attention_maps, class token dropped, per-query distances."""
    prefix = model.num_prefix_tokens
    pos = token_centres(model.grid_size, model.patch_size)
    maps = model.attention_maps(images)
    out = {"distance": [], "offset": []}
    for i in sorted(maps):
        attn = maps[i][:, :, prefix:, prefix:].double()
        attn = attn / attn.sum(-1, keepdim=True)
        d = torch.cdist(pos, pos)
        out["distance"].append((attn * d).sum(-1).mean(dim=(0, 2)))
        out["offset"].append((attn @ pos - pos).norm(dim=-1).mean(dim=(0, 2)))
    return {k: torch.stack(v).numpy() for k, v in out.items()}


@pytest.mark.parametrize("class_token", [True, False])
def test_chunked_equals_unchunked_and_the_full_maps(class_token):
    model = create_model(
        "vit_t/1", img_size=6, in_chans=1, num_classes=3, embed_dim=16, depth=2, num_heads=2, pos_embed_std=1.0,
        class_token=class_token, global_pool="token" if class_token else "avg",
    ).eval()  # fmt: skip
    images = torch.randint(0, 256, (5, 1, 6, 6), dtype=torch.uint8)
    whole = attention_statistics(model, images, batch_size=5, max_elements=2**30)
    chunked = attention_statistics(model, images, batch_size=2, max_elements=1)  # one query at a time
    reference = reference_statistics(model, images)
    for key in ("distance", "offset"):
        assert whole[key].shape == (2, 2)
        np.testing.assert_allclose(chunked[key], whole[key], rtol=1e-6)
        np.testing.assert_allclose(whole[key], reference[key], rtol=1e-5)
    assert (whole["distance"] >= whole["offset"] - 1e-9).all()  # the centre of mass is never farther (triangle inequality)


def test_patch_2_model_reports_input_pixels():
    """A /2 model whose attention is uniform (zero query/key weights) has the uniform-attention
    distance of its token centres, which sit on a 2-pixel lattice of the 8x8 input."""
    model = create_model("vit_t/2", img_size=8, in_chans=1, num_classes=3, embed_dim=16, depth=1, num_heads=2).eval()
    with torch.no_grad():
        model.blocks[0].attn.qkv.weight.zero_()
        model.blocks[0].attn.qkv.bias.zero_()
    stats = attention_statistics(model, torch.zeros(1, 1, 8, 8, dtype=torch.uint8))
    pos = token_centres((4, 4), 2)  # 0.5, 2.5, 4.5, 6.5
    brute = np.mean([math.dist(a, b) for a, b in itertools.product(pos.tolist(), repeat=2)])
    np.testing.assert_allclose(stats["distance"], brute, rtol=1e-5)
    # the same in /1 token units would be half as large
    assert brute == pytest.approx(2 * np.mean([math.dist(a, b) for a, b in itertools.product(grid(4, 4).tolist(), repeat=2)]))


def test_attention_rows_equal_block_attention_probs_on_query_slices():
    model = create_model("vit_t/1", img_size=5, in_chans=3, num_classes=2, embed_dim=16, depth=1, num_heads=4).eval()
    x = model.prepend_prefix(model.embed(torch.randint(0, 256, (2, 3, 5, 5), dtype=torch.uint8)))
    block = model.blocks[0]
    with torch.no_grad():
        rows = list(attention_rows(block, x, 1, 26, 7))
        assert [q0 for q0, _ in rows] == [1, 8, 15, 22]
        for q0, probs in rows:
            expected = block.attention_probs(x, queries=slice(q0, min(q0 + 7, 26)))
            torch.testing.assert_close(probs, expected, rtol=1e-6, atol=1e-7)
