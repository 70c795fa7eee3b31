"""Random masking: exact visible counts, restore indices invert the shuffle, whole-block masking."""

import pytest
import torch

from pixelvit.models.masking import block_token_ids, keep_tokens, num_visible, random_masking

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: one thread is faster on a shared 2-core machine


@pytest.mark.parametrize(("grid", "ratio"), [((8, 8), 0.75), ((4, 6), 0.75), ((5, 5), 0.6), ((32, 32), 0.75), ((3, 3), 0.5)])
def test_exactly_round_l_times_one_minus_ratio_tokens_are_kept(grid, ratio):
    length = grid[0] * grid[1]
    m = random_masking(7, grid, ratio, generator=torch.Generator().manual_seed(1))
    expected = round(length * (1 - ratio))
    assert m.len_keep == expected
    assert m.mask.shape == (7, length)
    assert (m.mask.sum(1) == length - expected).all()  # every sample
    assert set(m.mask.unique().tolist()) <= {0.0, 1.0}
    # the visible tokens are exactly the first len_keep of the shuffle
    visible = torch.zeros(7, length).scatter_(1, m.ids_keep, 1.0)
    assert torch.equal(visible, 1 - m.mask)


def test_restore_indices_invert_the_shuffle_and_masks_differ_per_sample():
    m = random_masking(16, (8, 8), 0.75, generator=torch.Generator().manual_seed(0))
    arange = torch.arange(64).expand(16, -1)
    assert torch.equal(torch.gather(m.ids_shuffle, 1, m.ids_restore), arange)
    assert torch.equal(torch.gather(m.ids_restore, 1, m.ids_shuffle), arange)
    assert torch.equal(m.ids_shuffle.sort(1).values, arange)  # a permutation per sample
    assert len({tuple(row.tolist()) for row in m.mask}) == 16  # independent per sample


def test_unshuffling_visible_plus_filler_puts_tokens_back_in_place():
    tokens = torch.arange(2 * 16, dtype=torch.float32).reshape(2, 16, 1)
    m = random_masking(2, (4, 4), 0.5, generator=torch.Generator().manual_seed(3))
    visible = keep_tokens(tokens, m.ids_keep)
    seq = torch.cat([visible, torch.full((2, 16 - m.len_keep, 1), -1.0)], dim=1)
    restored = torch.gather(seq, 1, m.ids_restore[..., None])
    assert torch.equal(restored[m.mask == 0], tokens[m.mask == 0])
    assert (restored[m.mask == 1] == -1).all()


def test_same_generator_seed_gives_the_same_masks():
    a = random_masking(4, (8, 8), 0.75, generator=torch.Generator().manual_seed(5))
    b = random_masking(4, (8, 8), 0.75, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a.mask, b.mask) and torch.equal(a.ids_restore, b.ids_restore)


@pytest.mark.parametrize(("grid", "k"), [((8, 8), 2), ((8, 12), 4), ((6, 6), 3)])
def test_block_masking_masks_whole_k_by_k_blocks(grid, k):
    m = random_masking(5, grid, 0.75, block=k, generator=torch.Generator().manual_seed(2))
    blocks = (grid[0] // k) * (grid[1] // k)
    assert m.len_keep == k * k * round(blocks * 0.25)
    mask = m.mask.reshape(5, grid[0] // k, k, grid[1] // k, k)
    per_block = mask.sum(dim=(2, 4))  # (B, gh/k, gw/k): 0 or k² in every block
    assert ((per_block == 0) | (per_block == k * k)).all()
    assert (m.mask.sum(1) == grid[0] * grid[1] - m.len_keep).all()


def test_block_token_ids_hand_made():
    assert block_token_ids((4, 4), 2).tolist() == [[0, 1, 4, 5], [2, 3, 6, 7], [8, 9, 12, 13], [10, 11, 14, 15]]


def test_block_size_must_divide_the_grid_and_ratio_must_leave_tokens():
    with pytest.raises(ValueError, match="mask_block=3 must divide the 8x8 token grid"):
        random_masking(1, (8, 8), 0.75, block=3)
    with pytest.raises(ValueError, match="at least one must stay visible"):
        num_visible((2, 2), 0.9)
    with pytest.raises(ValueError, match="at least one must stay visible"):
        num_visible((4, 4), 0.0)
