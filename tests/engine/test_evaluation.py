"""The one evaluation path: the same numbers as a hand-made loop, every sample once, and no side effects
on training (global random streams, train/eval mode)."""

import torch

from pixelvit.config import load_config
from pixelvit.engine.evaluation import evaluate
from pixelvit.tasks import build_task

TINY = ["data.name=digits", "data.img_size=[8,8]", "model.name=vit_t/2", "model.embed_dim=16", "model.depth=1",
        "model.num_heads=2", "data.limit_train=32", "data.limit_eval=37", "train.precision=fp32"]  # fmt: skip


def test_evaluate_matches_a_hand_made_loop_and_touches_no_global_state():
    task = build_task(load_config(None, TINY))
    model = task.model.train()
    rng = torch.get_rng_state()
    metrics = evaluate(task.evaluation, model, batch_size=8, device=torch.device("cpu"))
    assert torch.equal(torch.get_rng_state(), rng), "evaluation drew from the global generator"
    assert model.training  # put back as it was
    images = torch.stack([task.evaluation.dataset[i][0] for i in range(37)])
    targets = torch.tensor([int(task.evaluation.dataset[i][1]) for i in range(37)])
    with torch.no_grad():
        logits = model.eval()(images)
    assert metrics["acc1"] == 100.0 * float((logits.argmax(1) == targets).sum()) / 37
    assert abs(metrics["loss"] - float(torch.nn.functional.cross_entropy(logits, targets))) < 1e-5
