"""The benchmark suite: measurements are sane, the report compares against timm eager and compiled, the GPU check's
dry mode runs on a CPU."""

import json
import re

import pytest
import torch

from fixtures.fabricate import make_fashion_mnist
from pixelvit.bench.measure import PeakMemory, count_flops, median_time, shape_ceiling
from pixelvit.bench.suite import Shape
from pixelvit.commands import main
from pixelvit.config import ConfigError

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: one thread is faster on a shared 2-core machine


def test_flop_count_of_a_matmul_is_exact():
    a, b = torch.randn(16, 32), torch.randn(32, 8)
    assert count_flops(lambda: a @ b) == 2 * 16 * 32 * 8


def test_median_time_and_peak_memory_see_an_allocation():
    calls = []
    assert median_time(lambda: calls.append(1), torch.device("cpu"), warmup=2, repeats=3) >= 0 and len(calls) == 5
    with PeakMemory(torch.device("cpu")) as memory:
        block = torch.ones(64 * 2**20 // 4)  # 64 MiB, touched
        del block
    if memory.bytes is not None:  # Linux only
        assert memory.bytes >= 48 * 2**20


def test_shape_ceiling_and_case_parsing():
    assert shape_ceiling(torch.device("cpu"), torch.float32, rows=64, width=16, repeats=1) > 0
    assert Shape.parse("vit_t/1@64:2") == Shape("vit_t/1", 64, 2) and Shape.parse("vit_t/1@64:2").tokens == 4096
    with pytest.raises(ConfigError, match="PRESET@IMG:BATCH"):
        Shape.parse("vit_t/1:32")


def test_bench_command_writes_a_report_with_timm_ratios(tmp_path, capsys):
    args = ["bench", "--cases", "vit_t/2@4:2", "--precisions", "fp32", "--modes", "train,infer", "--scaling-sizes", "4,8",
            "--warmup", "0", "--repeats", "1", "--compiled", "none", "--in-process", "--device", "cpu",
            "--out", str(tmp_path)]  # fmt: skip
    assert main(args) == 0
    report = json.loads((tmp_path / "bench.json").read_text())
    variants = {(r["impl"], r["mode"], r["compiled"]) for r in report["results"]}
    assert variants == {(i, m, False) for i in ("pixelvit", "timm") for m in ("train", "infer")}
    for r in report["results"]:
        assert r["error"] is None and r["images_per_s"] > 0 and r["tflops"] > 0 and r["tokens"] == 4
        assert 0 < r["peak_fraction"] < 5 and r["shape_fraction"] > 0
    assert list(report["shape_ceiling_tflops"]) == ["vit_t/2@4:2/fp32"]
    assert [r["tokens"] for r in report["scaling"]] == [4, 16]
    (dropout,) = report["pixel_dropout"]  # --token-keep's default 0.5 on the first case's training step
    full = next(r for r in report["results"] if r["impl"] == "pixelvit" and r["mode"] == "train")
    assert dropout["token_keep"] == 0.5 and dropout["error"] is None
    assert 0.3 < dropout["flops"] / full["flops"] < 0.7  # the blocks ran on 2 of the 4 tokens (the embedding on all)
    out = capsys.readouterr().out
    assert "compiled ours/timm" in out and "% of shape ceiling" in out and "| vit_t/2 | 4 | 2 | fp32 | 4 | 0.5 |" in out
    assert (tmp_path / "bench.md").read_text().startswith("device:")


def test_bf16_is_skipped_with_a_reason_where_not_native(tmp_path, monkeypatch):
    from pixelvit.bench import suite

    monkeypatch.setattr(suite, "bf16_is_native", lambda device: False)
    report = suite.run_suite([Shape("vit_t/2", 4, 2)], ["fp32", "bf16"], ["infer"], [4], torch.device("cpu"), 0, 1, False,
                             compiled="none", isolate=False)  # fmt: skip
    assert "bf16" in report["skipped_precisions"] and all(r["precision"] == "fp32" for r in report["results"])


def test_gpu_check_dry_mode_runs_on_the_cpu_with_fashion_mnist_patch_1_and_2(tmp_path, fake_inception):
    make_fashion_mnist(tmp_path / "fmnist", n_train=20, n_test=8)
    assert main(["bench", "--suite", "gpu", "--dry", "--fmnist-root", str(tmp_path / "fmnist"), "--out", str(tmp_path),
                 "--inception", str(fake_inception)]) == 0  # fmt: skip
    report = json.loads((tmp_path / "gpu_bench.json").read_text())
    assert {(r["impl"], r["compiled"]) for r in report["results"] if r["sdpa"] == "default"} == {
        (i, c) for i in ("pixelvit", "timm") for c in (False, True)
    }
    assert all(r["error"] is None for r in report["results"])
    text = (tmp_path / "gpu_check.md").read_text()
    assert "dry run" in text and "| sdpa |" in text and "| vit_t/2 | 4 | 2 | fp32 | train | math |" in text
    table = text.split("Fashion-MNIST /1 vs /2")[1].split("Time to accuracy")[0]
    assert "| 1 | 1 |" in table and "| 2 | 1 |" in table
    tta = text.split("Time to accuracy")[1].split("FID feature pass")[0]
    assert re.search(r"\| plain: every token \| 1 \| (fp32|bf16) \|", tta)  # precision auto: bf16 where native
    assert re.search(r"\| train.precision=auto, model.token_keep=0.25 \| 2 \| (fp32|bf16) \|", tta)
    fid = text.split("FID feature pass")[1].splitlines()
    assert [line.split(" | ")[0] for line in fid if line.startswith("| stored") or line.startswith("| folded")] == [
        "| stored@3", "| folded@3", "| folded_cl@3", "| folded_bf16@3"]  # fmt: skip


def test_gpu_check_skips_absent_fashion_mnist(tmp_path):
    from pixelvit.bench.gpu_check import find_fmnist

    assert find_fmnist(tmp_path / "none") is None
    make_fashion_mnist(tmp_path / "fmnist", n_train=2, n_test=2, debian_layout=True)
    assert find_fmnist(tmp_path / "fmnist") == tmp_path / "fmnist"


def test_the_defaults_line_compares_what_each_library_does_out_of_the_box():
    from pixelvit.bench.suite import format_defaults

    def row(impl, precision, rate, compiled=False):
        return {"impl": impl, "precision": precision, "compiled": compiled, "mode": "train", "sdpa": "default",
                "preset": "vit_t/1", "img_size": 32, "batch": 32, "images_per_s": rate, "error": None}  # fmt: skip

    rows = [row("pixelvit", "fp32", 3.0), row("timm", "fp32", 2.7), row("pixelvit", "bf16", 5.8), row("timm", "bf16", 6.0)]
    report = {"results": rows, "pixelvit_default_precision": "bf16", "pixelvit_default_compiles": False}
    assert format_defaults(report)[-1] == ("defaults out of the box, vit_t/1@32:32 training: pixelvit (bf16, eager) 5.80 "
                                           "img/s, timm (fp32, eager) 2.70 img/s: 2.15x")  # fmt: skip
    assert format_defaults({**report, "results": rows[:2] + rows[3:]}) == []  # pixelvit's default precision not measured
