"""The benchmark suite: measurements are sane and the report compares against timm."""

import json

import pytest
import torch

from pixelvit.bench.measure import PeakMemory, count_flops, median_time
from pixelvit.commands import main


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


def test_bench_command_writes_a_report_with_timm_ratios(tmp_path, capsys):
    args = ["bench", "--presets", "vit_t/2", "--img-sizes", "4", "--batches", "2", "--precisions", "fp32",
            "--modes", "train,infer", "--scaling-sizes", "4,8", "--warmup", "1", "--repeats", "1", "--device", "cpu",
            "--out", str(tmp_path)]  # fmt: skip
    assert main(args) == 0
    report = json.loads((tmp_path / "bench.json").read_text())
    impls = {(r["impl"], r["mode"]) for r in report["results"]}
    assert impls == {("pixelvit", "train"), ("timm", "train"), ("pixelvit", "infer"), ("timm", "infer")}
    for r in report["results"]:
        assert r["images_per_s"] > 0 and r["tflops"] > 0 and 0 < r["peak_fraction"] < 5
        assert r["tokens"] == 4
    assert [r["tokens"] for r in report["scaling"]] == [4, 16]
    out = capsys.readouterr().out
    assert "ours/timm" in out and (tmp_path / "bench.md").read_text().startswith("device:")


@pytest.mark.parametrize("precision", ["bf16"])
def test_bf16_is_skipped_with_a_reason_where_not_native(precision, tmp_path, monkeypatch):
    from pixelvit.bench import suite

    monkeypatch.setattr(suite, "bf16_is_native", lambda device: False)
    report = suite.run_suite(["vit_t/2"], [4], [2], ["fp32", precision], ["infer"], [4], torch.device("cpu"), 0, 1, False)
    assert precision in report["skipped_precisions"] and all(r["precision"] == "fp32" for r in report["results"])
