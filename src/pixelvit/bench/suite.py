"""``pixelvit bench``: our ViT against timm's identical ViT, training and inference, per precision;
plus sequence-length scaling. Prints a table and writes JSON (see BENCHMARKS.md)."""

from __future__ import annotations

import json
import platform
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from ..engine.optim import build_optimizer, param_groups
from ..engine.precision import autocast, bf16_is_native
from ..io import write_text_atomic
from ..models import create_model
from .measure import PeakMemory, count_flops, matmul_peak, median_time

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


@dataclass
class Case:
    """One measured configuration."""

    impl: str  # "pixelvit" or "timm"
    preset: str
    img_size: int
    batch: int
    precision: str
    mode: str  # "train" or "infer"


@dataclass
class Result(Case):
    tokens: int = 0
    images_per_s: float = 0.0
    step_ms: float = 0.0
    tflops: float = 0.0
    peak_fraction: float = 0.0
    peak_memory_mb: float | None = None


def build(case: Case, device: torch.device) -> torch.nn.Module:
    """Our model, or timm's identical one (same weights' shapes, same computation)."""
    ours = create_model(case.preset, img_size=case.img_size, num_classes=100)
    if case.impl == "pixelvit":
        return ours.to(device)
    from timm.models.vision_transformer import VisionTransformer

    from ..models.convert import timm_kwargs

    return VisionTransformer(**timm_kwargs(ours)).to(device)


def make_step(model: torch.nn.Module, case: Case, device: torch.device):
    """A closure running one training step (forward, backward, AdamW) or one inference forward."""
    x = torch.randn(case.batch, 3, case.img_size, case.img_size, device=device)
    y = torch.randint(0, 100, (case.batch,), device=device)
    if case.mode == "infer":
        model.eval()

        def infer() -> None:
            with torch.no_grad(), autocast(case.precision, device):
                model(x)

        return infer
    model.train()
    optimizer = build_optimizer(param_groups(model, 0.05), 1e-4, (0.9, 0.999), device)

    def train() -> None:
        with autocast(case.precision, device):
            loss = F.cross_entropy(model(x).float(), y)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return train


def measure(case: Case, device: torch.device, peaks: dict[str, float], warmup: int, repeats: int) -> Result:
    """One case. On a CPU it runs in a fresh process, so that its resident-set peak is its own (memory
    freed by an earlier case stays mapped in this process and would hide the next case's peak)."""
    if device.type == "cpu":
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            return pool.submit(measure_here, case, device, peaks, warmup, repeats, torch.get_num_threads()).result()
    return measure_here(case, device, peaks, warmup, repeats)


def measure_here(
    case: Case, device: torch.device, peaks: dict[str, float], warmup: int, repeats: int, threads: int = 0
) -> Result:
    """One case in this process."""
    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = build(case, device)
    step = make_step(model, case, device)
    with PeakMemory(device) as memory:
        seconds = median_time(step, device, warmup, repeats)
    flops = count_flops(step)
    tokens = (case.img_size // int(case.preset.split("/")[1])) ** 2
    return Result(
        **asdict(case), tokens=tokens, images_per_s=case.batch / seconds, step_ms=1e3 * seconds,
        tflops=flops / seconds / 1e12, peak_fraction=flops / seconds / peaks[case.precision],
        peak_memory_mb=None if memory.bytes is None else memory.bytes / 2**20,
    )  # fmt: skip


def run_suite(
    presets: list[str],
    img_sizes: list[int],
    batches: list[int],
    precisions: list[str],
    modes: list[str],
    scaling_sizes: list[int],
    device: torch.device,
    warmup: int = 1,
    repeats: int = 3,
    compare_timm: bool = True,
) -> dict[str, Any]:
    """Every (preset, size, batch, precision, mode) for pixelvit (and timm), then the scaling sweep."""
    usable = [p for p in precisions if p == "fp32" or bf16_is_native(device)]
    skipped = sorted(set(precisions) - set(usable))
    peaks = {p: matmul_peak(device, DTYPES[p]) for p in usable}
    impls = ["pixelvit", "timm"] if compare_timm else ["pixelvit"]
    results = []
    for preset in presets:
        for size in img_sizes:
            for batch in batches:
                for precision in usable:
                    for mode in modes:
                        for impl in impls:
                            results.append(
                                measure(Case(impl, preset, size, batch, precision, mode), device, peaks, warmup, repeats)
                            )
    scaling = [
        measure(Case("pixelvit", presets[0], size, 1, "fp32", "train"), device, peaks, warmup, repeats) for size in scaling_sizes
    ]
    return {
        "device": describe_device(device),
        "matmul_peak_tflops": {p: v / 1e12 for p, v in peaks.items()},
        "skipped_precisions": {p: "no native bf16 on this device: emulated bf16 is far slower than fp32" for p in skipped},
        "results": [asdict(r) for r in results],
        "scaling": [asdict(r) for r in scaling],
        "torch": torch.__version__,
    }


def describe_device(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {torch.get_num_threads()} threads, {torch.backends.cpu.get_cpu_capability()}"


KEY = ("preset", "img_size", "batch", "precision", "mode")
HEADER = [
    "| model | img | batch | prec | mode | tokens | pixelvit img/s | timm img/s | ours/timm | TFLOP/s | % of peak | peak MB |",
    "|---|---:|---:|---|---|---:|---:|---:|---:|---:|---:|---:|",
]


def _mb(r: dict[str, Any]) -> str:
    return f"{r['peak_memory_mb']:.0f}" if r["peak_memory_mb"] is not None else "-"


def format_report(report: dict[str, Any]) -> str:
    """Markdown tables: ours vs timm side by side, and the scaling sweep."""
    rows = report["results"]
    peaks = ", ".join(f"{p} {v:.3f} TFLOP/s" for p, v in report["matmul_peak_tflops"].items())
    lines = [f"device: {report['device']}; torch {report['torch']}; matmul peak {peaks}"]
    lines += [f"skipped {p}: {why}" for p, why in report["skipped_precisions"].items()]
    lines += ["", *HEADER]
    timm = {tuple(t[k] for k in KEY): t for t in rows if t["impl"] == "timm"}
    for r in (r for r in rows if r["impl"] == "pixelvit"):
        twin = timm.get(tuple(r[k] for k in KEY))
        theirs = [f"{twin['images_per_s']:.2f}", f"{r['images_per_s'] / twin['images_per_s']:.2f}"] if twin else ["-", "-"]
        cells = [r["preset"], r["img_size"], r["batch"], r["precision"], r["mode"], r["tokens"], f"{r['images_per_s']:.2f}",
                 *theirs, f"{r['tflops']:.3f}", f"{100 * r['peak_fraction']:.0f}%", _mb(r)]  # fmt: skip
        lines.append("| " + " | ".join(map(str, cells)) + " |")
    lines += ["", "| tokens | img | train step ms (batch 1) | TFLOP/s | % of peak | peak MB |", "|---:|---:|---:|---:|---:|---:|"]
    for r in report["scaling"]:
        cells = [
            r["tokens"],
            r["img_size"],
            f"{r['step_ms']:.1f}",
            f"{r['tflops']:.3f}",
            f"{100 * r['peak_fraction']:.0f}%",
            _mb(r),
        ]
        lines.append("| " + " | ".join(map(str, cells)) + " |")
    return "\n".join(lines)


def save_report(report: dict[str, Any], out: Path) -> None:
    write_text_atomic(out / "bench.json", json.dumps(report, indent=2) + "\n")
    write_text_atomic(out / "bench.md", format_report(report) + "\n")
