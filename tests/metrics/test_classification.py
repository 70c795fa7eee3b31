"""Top-k accuracy on hand-made logits."""

import pytest
import torch

from pixelvit.metrics.classification import AccuracyMeter, topk_correct


def test_topk_on_hand_made_logits():
    logits = torch.tensor(
        [
            [0.9, 0.1, 0.0, 0.0, 0.0, 0.0],  # target 0: top-1 hit
            [0.1, 0.9, 0.5, 0.4, 0.3, 0.2],  # target 0: rank 6 -> miss at 5
            [0.1, 0.9, 0.5, 0.4, 0.3, 0.2],  # target 4: rank 5 -> top-5 hit
            [0.0, 0.3, 0.2, 0.9, 0.1, 0.0],  # target 1: rank 2
        ]
    )
    targets = torch.tensor([0, 0, 4, 1])
    assert topk_correct(logits, targets, (1, 2, 5)) == {1: 1, 2: 2, 5: 3}
    meter = AccuracyMeter((1, 5))
    meter.update(logits[:2], targets[:2])
    meter.update(logits[2:], targets[2:])
    assert meter.compute() == {"acc1": 25.0, "acc5": 75.0}


def test_k_beyond_classes_counts_everything_and_shapes_are_checked():
    assert topk_correct(torch.randn(3, 2), torch.tensor([0, 1, 1]), (5,)) == {5: 3}
    with pytest.raises(ValueError, match="expected logits"):
        topk_correct(torch.randn(3, 2), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="no samples"):
        AccuracyMeter().compute()
