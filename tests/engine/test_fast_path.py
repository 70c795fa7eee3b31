"""The engine's fast path: compile and precision "auto", compiled = eager, a skipped step is exact without a host
synchronisation per step."""

import pytest
import torch

from pixelvit.config import load_config
from pixelvit.engine import parallel
from pixelvit.engine.parallel import should_compile
from pixelvit.engine.precision import bf16_is_native, resolve_precision
from pixelvit.engine.trainer import Trainer
from pixelvit.tasks import build_task

TINY = ["data.name=digits", "data.img_size=[8,8]", "model.name=vit_t/2", "model.embed_dim=32", "model.depth=2",
        "model.num_heads=2", "train.precision=fp32", "train.progress=false", "train.batch_size=32", "data.limit_train=96",
        "data.limit_eval=32", "train.epochs=1", "model.drop_path_rate=0"]  # fmt: skip


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: one thread is faster on a shared 2-core machine


def trainer(tmp_path, *extra) -> Trainer:
    cfg = load_config(None, [*TINY, f"run_dir={tmp_path}", *extra])
    torch.manual_seed(0)
    return Trainer(cfg, build_task(cfg), tmp_path)


def test_auto_defaults_resolve_per_device():
    cfg = load_config(None, ["data.name=digits", "data.img_size=[8,8]", "model.name=vit_t/2"])
    assert cfg.train.precision == "auto" and cfg.train.compile == "auto"
    cpu = torch.device("cpu")
    assert resolve_precision("auto", cpu) == ("bf16" if bf16_is_native(cpu) else "fp32")
    assert resolve_precision("fp32", cpu) == "fp32"
    assert not should_compile("auto", cpu, 10**6) and should_compile(True, cpu, 1) and not should_compile(False, cpu, 10**6)
    cuda = torch.device("cuda")
    assert should_compile("auto", cuda, parallel.COMPILE_MIN_STEPS) and not should_compile("auto", cuda, 10)


def test_compiled_training_gives_the_eager_parameters(tmp_path, monkeypatch):
    """aot_eager: the compile path (Dynamo graphs, AOTAutograd's joint forward-backward) without inductor's CPU build
    time; inductor itself is exercised by test_trainer.py::test_torch_compile_option_trains."""
    monkeypatch.setattr(parallel, "COMPILE_BACKEND", "aot_eager")
    eager = trainer(tmp_path / "eager", "train.compile=false")
    compiled = trainer(tmp_path / "compiled", "train.compile=true")
    first, second = eager.fit(), compiled.fit()
    assert first["compile"] is False and second["compile"] is True and second["precision"] == "fp32"
    for (name, a), b in zip(eager.model.named_parameters(), compiled.model.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5, msg=name)


def test_a_failing_compiler_falls_back_to_eager_with_one_warning(tmp_path, monkeypatch):
    def broken(graph, inputs):
        raise RuntimeError("no compiler here")

    monkeypatch.setattr(parallel, "COMPILE_BACKEND", broken)
    run = trainer(tmp_path, "train.compile=true")
    with pytest.warns(UserWarning, match="torch.compile failed") as caught:
        summary = run.fit()
    assert summary["status"] == "finished" and summary["compile"] is False
    assert sum("torch.compile failed" in str(w.message) for w in caught) == 1


def test_a_non_finite_step_leaves_weights_and_optimizer_state_exactly_and_is_read_back_later(tmp_path):
    run = trainer(tmp_path, "train.on_nonfinite=skip")
    assert run._defer_checks  # fused AdamW, no EMA: no host synchronisation per step
    params = list(run.model.parameters())
    for p in params:
        p.grad = torch.ones_like(p)
    run._optimizer_step()  # step 1 is good: the optimizer has state
    run.progress.step = 1
    before = [p.detach().clone() for p in params]
    state = [{k: v.clone() for k, v in run.optimizer.state[p].items()} for p in params]
    for p in params:
        p.grad = torch.full_like(p, float("nan"))
    run._optimizer_step()  # step 2 is not
    assert all(torch.equal(a, p) for a, p in zip(before, params, strict=True))
    for p, saved in zip(params, state, strict=True):
        assert all(torch.equal(v, run.optimizer.state[p][k]) for k, v in saved.items())
    assert run.progress.skipped_steps == 0  # not read back yet
    with pytest.warns(UserWarning, match="skipping step 2"):
        assert run._read_norms() is True
    assert run.progress.skipped_steps == 1 and run.progress.consecutive_skips == 1
