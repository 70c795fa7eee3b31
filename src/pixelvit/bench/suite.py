"""``pixelvit bench``: pixelvit's default training step against timm's default one (eager) and both compiled with
the same settings, per precision and SDPA backend; achieved FLOP/s against two ceilings measured in the same run
(the 2048³ matmul peak and the matmul throughput at the model's own shapes); plus sequence-length scaling.
Prints Markdown tables and writes JSON (see BENCHMARKS.md)."""

from __future__ import annotations

import json
import platform
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from ..config import ConfigError
from ..engine.attention import sdpa_backend
from ..engine.optim import build_optimizer, param_groups
from ..engine.parallel import should_compile
from ..engine.precision import autocast, bf16_is_native, resolve_precision
from ..io import write_text_atomic
from ..models import create_model
from .measure import PeakMemory, count_flops, matmul_peak, median_time, shape_ceiling

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}
SDPA_BACKENDS = ("default", "math", "flash", "efficient", "cudnn")


@dataclass(frozen=True)
class Shape:
    """What is measured: a preset at an image size and batch."""

    preset: str
    img_size: int
    batch: int

    @classmethod
    def parse(cls, text: str) -> Shape:
        """ "vit_t/1@32:32" -> preset vit_t/1, 32×32 images, batch 32."""
        try:
            preset, rest = text.split("@")
            size, batch = rest.split(":")
            return cls(preset, int(size), int(batch))
        except ValueError:
            raise ConfigError(f"bench case {text!r}: write PRESET@IMG:BATCH, e.g. vit_t/1@32:32") from None

    @property
    def tokens(self) -> int:
        return (self.img_size // int(self.preset.split("/")[1])) ** 2


@dataclass
class Case:
    """One measured configuration."""

    impl: str  # "pixelvit" or "timm"
    preset: str
    img_size: int
    batch: int
    precision: str
    mode: str  # "train" or "infer"
    compiled: bool = False
    sdpa: str = "default"  # an SDPA backend forced with torch.nn.attention.sdpa_kernel, or the default choice
    compile_backend: str = "inductor"
    token_keep: float = 1.0  # pixel dropout (pixelvit's training step only)


@dataclass
class Result(Case):
    tokens: int = 0
    images_per_s: float = 0.0
    step_ms: float = 0.0
    flops: int = 0
    tflops: float = 0.0
    peak_fraction: float = 0.0
    shape_fraction: float = 0.0
    peak_memory_mb: float | None = None
    error: str | None = None


def build(case: Case, device: torch.device) -> torch.nn.Module:
    """Our model, or timm's identical one (same weights' shapes, same computation)."""
    ours = create_model(case.preset, img_size=case.img_size, num_classes=100)
    if case.impl == "pixelvit":
        return ours.to(device)
    from timm.models.vision_transformer import VisionTransformer

    from ..models.convert import timm_kwargs

    return VisionTransformer(**timm_kwargs(ours)).to(device)


def sdpa_context(name: str):
    """``sdpa_kernel`` forcing one SDPA backend, or nothing for "default" (PyTorch's own choice)."""
    return sdpa_backend("auto" if name == "default" else name)


def make_step(model: torch.nn.Module, case: Case, device: torch.device):
    """A closure running one training step or one inference forward.

    pixelvit's step is the engine's default one: fused AdamW (``engine.optim.build_optimizer``), the gradient norm
    taken on the device and a non-finite one skipping the update through the optimizer's ``found_inf`` flag, no host
    synchronisation. timm's is timm's default: ``timm.optim.create_optimizer_v2(model, "adamw")``, no norm.
    """
    x = torch.randn(case.batch, 3, case.img_size, case.img_size, device=device)
    y = torch.randint(0, 100, (case.batch,), device=device)
    forward = torch.compile(model, backend=case.compile_backend) if case.compiled else model
    if case.mode == "infer":
        model.eval()

        def infer() -> None:
            with torch.no_grad(), autocast(case.precision, device), sdpa_context(case.sdpa):
                forward(x)

        return infer
    model.train()
    if case.impl == "pixelvit":
        optimizer = build_optimizer(param_groups(model, 0.05), 1e-4, (0.9, 0.999), device)
    else:
        from timm.optim import create_optimizer_v2

        optimizer = create_optimizer_v2(model, "adamw", lr=1e-4, weight_decay=0.05)
    params = [p for g in optimizer.param_groups for p in g["params"]]

    keep = {"token_keep": case.token_keep} if case.token_keep < 1 else {}

    def train() -> None:
        with sdpa_context(case.sdpa):
            with autocast(case.precision, device):
                loss = F.cross_entropy(forward(x, **keep).float(), y)
            loss.backward()
        if case.impl == "pixelvit":
            norm = torch.nn.utils.get_total_norm([p.grad for p in params if p.grad is not None])
            optimizer.found_inf = (~torch.isfinite(norm)).float()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return train


def measure(
    case: Case, device: torch.device, ceilings: dict[str, float], flops: int, warmup: int, repeats: int, isolate: bool = True
) -> Result:
    """One case. On a CPU with ``isolate`` it runs in a fresh process, so that its resident-set peak is its own (memory
    freed by an earlier case stays mapped in this process and would hide the next case's peak)."""
    if device.type == "cpu" and isolate:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            job = pool.submit(measure_here, case, device, ceilings, flops, warmup, repeats, torch.get_num_threads())
            return job.result()
    return measure_here(case, device, ceilings, flops, warmup, repeats)


def measure_here(
    case: Case, device: torch.device, ceilings: dict[str, float], flops: int, warmup: int, repeats: int, threads: int = 0
) -> Result:
    """One case in this process. ``flops`` of the step (0: count them here, on an eager step of one image, times the
    batch: exact, every counted op is per image, and cheaper than one more full step); ``ceilings``: the
    2048³ peak ("peak") and the model-shape ceiling ("shape") in FLOP/s. A backend that cannot run the case (e.g.
    flash attention on fp32) gives a row with ``error`` set."""
    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(0)
    tokens = Shape(case.preset, case.img_size, case.batch).tokens
    try:
        model = build(case, device)
        step = make_step(model, case, device)
        with PeakMemory(device) as memory:
            seconds = median_time(step, device, max(warmup, 1) if case.compiled else warmup, repeats)
        flops = flops or case.batch * count_flops(make_step(model, replace(case, batch=1, compiled=False), device))
    except Exception as error:  # an unsupported backend or a compiler failure is a result too
        if device.type == "cuda":
            torch.cuda.empty_cache()
        return Result(**asdict(case), tokens=tokens, error=f"{type(error).__name__}: {str(error).splitlines()[0][:200]}")
    return Result(
        **asdict(case), tokens=tokens, images_per_s=case.batch / seconds, step_ms=1e3 * seconds, flops=flops,
        tflops=flops / seconds / 1e12, peak_fraction=flops / seconds / ceilings["peak"],
        shape_fraction=flops / seconds / ceilings["shape"],
        peak_memory_mb=None if memory.bytes is None else memory.bytes / 2**20,
    )  # fmt: skip


def embed_dim(preset: str) -> int:
    return int(create_model(preset, img_size=8, num_classes=1).embed_dim)


def run_suite(
    shapes: list[Shape],
    precisions: list[str],
    modes: list[str],
    scaling_sizes: list[int],
    device: torch.device,
    warmup: int = 1,
    repeats: int = 2,
    compare_timm: bool = True,
    compiled: str = "first",
    compile_precisions: tuple[str, ...] = ("auto",),
    sdpa_backends: tuple[str, ...] = ("default",),
    compile_backend: str = "inductor",
    isolate: bool = True,
    token_keeps: tuple[float, ...] = (),
) -> dict[str, Any]:
    """Every (shape, precision, mode): pixelvit and timm eager, both compiled (``compiled``: "first" shape, "all"
    or "none"; in ``compile_precisions``, "auto" being the engine's default precision here), each extra SDPA backend
    (eager); pixelvit's training step with pixel dropout at each of ``token_keeps`` (first shape, eager); then the
    scaling sweep (pixelvit, batch 1, fp32 training).
    ``isolate=False`` measures every case in this process (faster; CPU memory peaks then overlap)."""
    usable = [p for p in precisions if p == "fp32" or bf16_is_native(device)]
    skipped = sorted(set(precisions) - set(usable))
    peaks = {p: matmul_peak(device, DTYPES[p]) for p in dict.fromkeys(["fp32", *usable])}  # fp32: the scaling sweep
    impls = ["pixelvit", "timm"] if compare_timm else ["pixelvit"]
    compile_precisions = tuple(resolve_precision(p, device) for p in compile_precisions)
    results, shape_tflops = [], {}
    for i, shape in enumerate(shapes):
        compile_here = compiled == "all" or (compiled == "first" and i == 0)
        for precision in usable:
            rows = shape.batch * (shape.tokens + 1)  # + the class token
            ceiling = shape_ceiling(device, DTYPES[precision], rows, embed_dim(shape.preset))
            shape_tflops[f"{shape.preset}@{shape.img_size}:{shape.batch}/{precision}"] = ceiling / 1e12
            ceilings = {"peak": peaks[precision], "shape": ceiling}
            for mode in modes:
                with_compiled = compile_here and precision in compile_precisions
                variants = [(c, "default") for c in ([False, True] if with_compiled else [False])]
                variants += [(False, b) for b in sdpa_backends if b != "default"]
                flops = 0
                for is_compiled, sdpa in variants:
                    for impl in impls:
                        case = Case(impl, shape.preset, shape.img_size, shape.batch, precision, mode, is_compiled, sdpa,
                                    compile_backend)  # fmt: skip
                        result = measure(case, device, ceilings, flops, warmup, repeats, isolate)
                        flops = flops or result.flops
                        results.append(result)
    first = shapes[0]
    dropout = [
        measure(Case("pixelvit", first.preset, first.img_size, first.batch, precision, "train", token_keep=keep), device,
                {"peak": peaks[precision], "shape": peaks[precision]}, 0, warmup, repeats, isolate)
        for precision in usable for keep in token_keeps
    ]  # fmt: skip
    scaling_peaks = {"peak": peaks["fp32"], "shape": peaks["fp32"]}
    scaling = [
        measure(Case("pixelvit", shapes[0].preset, size, 1, "fp32", "train"), device, scaling_peaks, 0, warmup, repeats, isolate)
        for size in scaling_sizes
    ]
    return {
        "device": describe_device(device),
        "matmul_peak_tflops": {p: v / 1e12 for p, v in peaks.items()},
        "shape_ceiling_tflops": shape_tflops,
        "pixelvit_default_compiles": should_compile("auto", device, 10**6),
        "pixelvit_default_precision": resolve_precision("auto", device),
        "skipped_precisions": {p: "no native bf16 on this device: emulated bf16 is far slower than fp32" for p in skipped},
        "results": [asdict(r) for r in results],
        "pixel_dropout": [asdict(r) for r in dropout],
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


KEY = ("preset", "img_size", "batch", "precision", "mode", "sdpa")
HEADER = [
    "| model | img | batch | prec | mode | sdpa | tokens | pixelvit img/s | timm img/s | ours/timm | pixelvit compiled img/s "
    "| timm compiled img/s | compiled ours/timm | default ours/timm | TFLOP/s | % of 2048³ peak | % of shape ceiling | peak MB |",
    "|---|---:|---:|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
]


def _mb(r: dict[str, Any]) -> str:
    return f"{r['peak_memory_mb']:.0f}" if r["peak_memory_mb"] is not None else "-"


def _pct(fraction: float) -> str:
    return f"{100 * fraction:.0f}%"


def _rate(r: dict[str, Any] | None) -> str:
    if r is None:
        return "-"
    return "error" if r["error"] else f"{r['images_per_s']:.2f}"


def _ratio(a: dict[str, Any] | None, b: dict[str, Any] | None) -> str:
    if a is None or b is None or a["error"] or b["error"]:
        return "-"
    return f"{a['images_per_s'] / b['images_per_s']:.2f}"


def _row(cells: list[Any]) -> str:
    return "| " + " | ".join(map(str, cells)) + " |"


def format_report(report: dict[str, Any]) -> str:
    """Markdown: the run's ceilings, one row per (shape, precision, mode, SDPA backend) with the four variants
    and their ratios, the errors, and the scaling sweep."""
    rows = report["results"]
    peaks = ", ".join(f"{p} {v:.3f} TFLOP/s" for p, v in report["matmul_peak_tflops"].items())
    shapes = ", ".join(f"{k} {v:.3f}" for k, v in report["shape_ceiling_tflops"].items())
    lines = [f"device: {report['device']}; torch {report['torch']}; matmul peak (2048³) {peaks}"]
    lines += [f"shape ceilings (TFLOP/s, B·L×D×3D and B·L×D×4D): {shapes}"]
    lines += [f"skipped {p}: {why}" for p, why in report["skipped_precisions"].items()]
    lines += ["", *HEADER]
    index = {(r["impl"], r["compiled"], *(r[k] for k in KEY)): r for r in rows}
    default_compiled = report["pixelvit_default_compiles"]
    for r in rows:
        if r["impl"] != "pixelvit" or r["compiled"]:
            continue
        key = tuple(r[k] for k in KEY)
        timm, ours_c, timm_c = (index.get((impl, c, *key)) for impl, c in (("timm", False), ("pixelvit", True), ("timm", True)))
        default = ours_c if default_compiled else r
        efficiency = ["-", "-", "-"] if r["error"] else [
            f"{r['tflops']:.3f}", _pct(r["peak_fraction"]), _pct(r["shape_fraction"])]  # fmt: skip
        cells = [r["preset"], r["img_size"], r["batch"], r["precision"], r["mode"], r["sdpa"], r["tokens"], _rate(r),
                 _rate(timm), _ratio(r, timm), _rate(ours_c), _rate(timm_c), _ratio(ours_c, timm_c), _ratio(default, timm),
                 *efficiency, _mb(r)]  # fmt: skip
        lines.append(_row(cells))
    lines += format_defaults(report)
    errors = [r for r in rows if r["error"]]
    if errors:
        lines += ["", "errors:"]
        lines += [f"- {r['impl']} {r['preset']} {r['precision']} {r['mode']} sdpa={r['sdpa']} "
                  f"compiled={r['compiled']}: {r['error']}" for r in errors]  # fmt: skip
    lines += format_dropout(report.get("pixel_dropout", []), rows)
    lines += ["", "| tokens | img | train step ms (batch 1) | TFLOP/s | % of 2048³ peak | peak MB |", "|" + "---:|" * 6]
    for r in report["scaling"]:
        lines.append(
            _row([r["tokens"], r["img_size"], f"{r['step_ms']:.1f}", f"{r['tflops']:.3f}", _pct(r["peak_fraction"]), _mb(r)])
        )
    return "\n".join(lines)


def save_report(report: dict[str, Any], out: Path, name: str = "bench") -> None:
    write_text_atomic(out / f"{name}.json", json.dumps(report, indent=2) + "\n")
    write_text_atomic(out / f"{name}.md", format_report(report) + "\n")


def find_row(rows: list[dict[str, Any]], **fields: Any) -> dict[str, Any] | None:
    """The first result row whose ``fields`` all have the given values, or None."""
    return next((r for r in rows if all(r[k] == v for k, v in fields.items())), None)


def format_dropout(dropout: list[dict[str, Any]], rows: list[dict[str, Any]]) -> list[str]:
    """Markdown lines: pixelvit's training step with pixel dropout against the same step on every token."""
    if not dropout:
        return []
    lines = ["", "| model | img | batch | prec | tokens | token_keep | img/s | all tokens img/s | speed-up | peak MB |",
             "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    for r in dropout:
        same_case = {k: r[k] for k in ("preset", "img_size", "batch", "precision")}
        full = find_row(rows, impl="pixelvit", compiled=False, sdpa="default", mode="train", **same_case)
        cells = [r["preset"], r["img_size"], r["batch"], r["precision"], r["tokens"], f"{r['token_keep']:g}", _rate(r),
                 _rate(full), _ratio(r, full), _mb(r)]  # fmt: skip
        lines.append(_row(cells))
    return lines


def format_defaults(report: dict[str, Any]) -> list[str]:
    """One line: what each library gives out of the box on the first training case, pixelvit's defaults (its
    ``auto`` precision and compile) against timm's (fp32, eager, as timm's train.py without --amp)."""
    precision = report.get("pixelvit_default_precision")
    rows = [r for r in report["results"] if r["mode"] == "train" and r["sdpa"] == "default"]
    if not rows or precision is None:
        return []
    first = {k: rows[0][k] for k in ("preset", "img_size", "batch")}
    ours = find_row(rows, impl="pixelvit", precision=precision, compiled=report["pixelvit_default_compiles"], **first)
    theirs = find_row(rows, impl="timm", precision="fp32", compiled=False, **first)
    if ours is None or theirs is None:
        return []
    how = f"{precision}{', compiled' if report['pixelvit_default_compiles'] else ', eager'}"
    return ["", f"defaults out of the box, {first['preset']}@{first['img_size']}:{first['batch']} training: pixelvit ({how}) "
            f"{_rate(ours)} img/s, timm (fp32, eager) {_rate(theirs)} img/s: {_ratio(ours, theirs)}x"]  # fmt: skip
