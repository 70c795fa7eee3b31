"""The one training loop, shared by every task.

It owns: the optimizer and schedule, mixed precision, gradient accumulation and clipping, EMA,
evaluation cadence, checkpoints and exact resume, logging, and stopping cleanly on a signal.
A task (see :class:`pixelvit.tasks.base.Task`) supplies the model, data, loss and metrics.
"""

from __future__ import annotations

import contextlib
import math
import signal
import time
import warnings
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from torch.utils.data import DataLoader

from ..config import Config
from ..io import write_json_atomic
from ..models.hub import describe, save_pretrained
from ..tasks.base import Task
from .checkpoint import latest_valid_checkpoint, rng_state, save_checkpoint, set_rng_state
from .logging import MetricWriter, progress_bar
from .optim import build_optimizer, param_groups, set_lr, warmup_cosine
from .sampler import EpochBatchSampler


class NonFiniteLossError(FloatingPointError):
    """The loss or gradient norm became NaN/inf; the last good checkpoint is left intact."""


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"train.device={name} but CUDA is not available; use train.device=cpu or auto")
    return device


def bf16_is_native(device: torch.device) -> bool:
    """Whether bf16 matmuls run natively: CUDA with bf16 support, or a CPU with AVX512-BF16/AMX.
    Elsewhere bf16 autocast is emulated and far slower than fp32 (measured: 0.9 vs 150 GFLOP/s on AVX2)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return True  # cannot tell; trust the user's choice
    return "avx512_bf16" in flags or "amx_bf16" in flags


@dataclass
class Progress:
    """Where the run is: optimizer steps done, the current epoch and micro-batches consumed in it."""

    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    best: float | None = None


class StopSignal:
    """SIGINT/SIGTERM set a flag; the loop saves a checkpoint at the next step and returns.
    A second SIGINT interrupts at once."""

    def __init__(self) -> None:
        self.requested: str | None = None
        self._old: dict[int, Any] = {}

    def __enter__(self) -> StopSignal:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(ValueError):  # not the main thread: no handlers, no graceful stop
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = signal.Signals(signum).name

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self._old.items():
            signal.signal(sig, handler)


class Trainer:
    """Runs ``task`` under ``cfg.train`` / ``cfg.optim`` in ``run_dir``; resumes from it if it holds checkpoints."""

    def __init__(self, cfg: Config, task: Task, run_dir: str | Path):
        self.cfg, self.task, self.run_dir = cfg, task, Path(run_dir)
        t, o = cfg.train, cfg.optim
        self.device = resolve_device(t.device)
        self.model = task.model.to(self.device)
        if t.precision == "bf16" and not bf16_is_native(self.device):
            warnings.warn(
                f"train.precision=bf16 on a {self.device.type} without native bf16 matmuls is emulated and much slower "
                "than fp32; pass train.precision=fp32 here",
                stacklevel=2,
            )
        if cfg.model.grad_checkpointing and hasattr(self.model, "set_grad_checkpointing"):
            self.model.set_grad_checkpointing(True)
        self.global_batch = t.batch_size * t.accum_steps
        self.lr = o.lr if o.lr is not None else o.blr * self.global_batch / 256
        groups = param_groups(self.model, o.weight_decay, lr_scale=task.lr_scale)
        self.optimizer = build_optimizer(groups, self.lr, tuple(o.betas), self.device)
        self.ema = (
            AveragedModel(self.model, multi_avg_fn=get_ema_multi_avg_fn(t.ema_decay), use_buffers=True) if t.ema_decay else None
        )
        self.batches_per_epoch = len(self._sampler(0, 0))
        if self.batches_per_epoch < t.accum_steps:
            raise ValueError(
                f"the training set gives {self.batches_per_epoch} batches of {t.batch_size} per epoch, fewer than "
                f"train.accum_steps={t.accum_steps}; lower train.batch_size or add data"
            )
        self.steps_per_epoch = self.batches_per_epoch // t.accum_steps
        self.total_steps = t.epochs * self.steps_per_epoch
        self.warmup_steps = round(o.warmup_epochs * self.steps_per_epoch)
        self.progress = Progress()

    # ---- pieces -----------------------------------------------------------------------------

    def _sampler(self, epoch: int, start_batch: int) -> EpochBatchSampler:
        t = self.cfg.train
        return EpochBatchSampler(len(self.task.train_set), t.batch_size, seed=t.seed, epoch=epoch, start_batch=start_batch)

    def _loader(self, dataset, batch_sampler) -> DataLoader:
        workers = self.cfg.data.num_workers
        return DataLoader(
            dataset,
            batch_sampler=batch_sampler,
            num_workers=workers,
            pin_memory=self.device.type == "cuda",
            persistent_workers=False,
            generator=torch.Generator().manual_seed(self.cfg.train.seed),
        )

    def _autocast(self):
        if self.cfg.train.precision == "bf16":
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return nullcontext()

    def state_dict(self) -> dict[str, Any]:
        p = self.progress
        return {
            "model": self.model.state_dict(),
            "model_description": describe(self.model),
            "optimizer": self.optimizer.state_dict(),
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "progress": {"step": p.step, "epoch": p.epoch, "batch_in_epoch": p.batch_in_epoch, "best": p.best},
            "rng": rng_state(),
            "config": self.cfg.to_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.ema is not None and state.get("ema") is not None:
            self.ema.load_state_dict(state["ema"])
        self.progress = Progress(**state["progress"])
        set_rng_state(state["rng"])

    def save(self) -> Path:
        return save_checkpoint(self.state_dict(), self.run_dir, self.progress.step, self.cfg.train.keep_checkpoints)

    def evaluate(self) -> dict[str, float]:
        """Main metrics of the model (and ``ema_*`` of the EMA weights) on the evaluation set."""
        sampler = EpochBatchSampler(len(self.task.eval_set), self.cfg.train.batch_size, shuffle=False, drop_last=False)
        results: dict[str, float] = {}
        models = [("", self.model)] + ([("ema_", self.ema.module)] if self.ema is not None else [])
        for prefix, model in models:
            model.eval()
            with torch.no_grad(), self._autocast():
                totals = self.task.evaluate(model, self._loader(self.task.eval_set, sampler), self.device)
            results.update({prefix + k: v for k, v in self.task.summarize(totals).items()})
        self.model.train()
        return results

    # ---- the loop ---------------------------------------------------------------------------

    def fit(self) -> dict[str, Any]:
        """Train to the end (or to ``train.max_steps``, or a stop signal); returns the run summary."""
        t = self.cfg.train
        resumed = latest_valid_checkpoint(self.run_dir, self.device)
        if resumed is not None:
            self.load_state_dict(resumed)
            print(f"resuming from {resumed['path']} (step {self.progress.step}, epoch {self.progress.epoch})")
        writer = MetricWriter(self.run_dir)
        bar = progress_bar(self.total_steps, self.progress.step, t.progress)
        start, images_seen, last_eval = time.perf_counter(), 0, {}
        stop_reason = "finished"
        self.model.train()
        try:
            with StopSignal() as stop:
                while self.progress.epoch < t.epochs and stop_reason == "finished":
                    images_seen += self._train_epoch(writer, bar, stop)
                    if stop.requested or (t.max_steps is not None and self.progress.step >= t.max_steps):
                        stop_reason = (
                            f"stopped by {stop.requested}" if stop.requested else f"reached train.max_steps={t.max_steps}"
                        )
                        break
                    self.progress.epoch, self.progress.batch_in_epoch = self.progress.epoch + 1, 0
                    if self.progress.epoch % t.eval_every == 0 or self.progress.epoch == t.epochs:
                        last_eval = self._eval_and_keep_best(writer)
                    self.save()
                if stop_reason != "finished":
                    path = self.save()
                    print(
                        f"\n{stop_reason} at step {self.progress.step}; checkpoint {path}. Run the same command again to resume."
                    )
        finally:
            bar.close()
            writer.close()
        wall = time.perf_counter() - start
        summary = {
            "status": stop_reason,
            "step": self.progress.step,
            "epoch": self.progress.epoch,
            "wall_time_s": round(wall, 2),
            "train_images_per_s": round(images_seen / wall, 2) if wall > 0 else None,
            "final": last_eval,
            "best": {self.task.main_metric: self.progress.best},
            "paper": self.cfg.paper.metrics,
        }
        if stop_reason == "finished":
            final_model = self.ema.module if self.ema is not None else self.model
            save_pretrained(final_model, self.run_dir / "final")
        write_json_atomic(self.run_dir / "summary.json", summary)
        return summary

    def _train_epoch(self, writer: MetricWriter, bar, stop: StopSignal) -> int:
        t, o, p = self.cfg.train, self.cfg.optim, self.progress
        loader = self._loader(self.task.train_set, self._sampler(p.epoch, p.batch_in_epoch))
        seen, window_loss, window_images, window_start = 0, 0.0, 0, time.perf_counter()
        set_lr(self.optimizer, self._lr_at(p.step))
        for batch in loader:
            with self._autocast():
                loss = self.task.loss(self.model, batch, self.device)
            (loss / t.accum_steps).backward()
            p.batch_in_epoch += 1
            n = len(batch[0])
            seen, window_images, window_loss = seen + n, window_images + n, window_loss + loss.detach().float()
            if p.batch_in_epoch % t.accum_steps:
                continue
            if p.batch_in_epoch // t.accum_steps > self.steps_per_epoch:
                break  # leftover micro-batches that would not fill an optimizer step
            self._optimizer_step(o.clip_grad)
            p.step += 1
            bar.update(1)
            if p.step % t.log_every_steps == 0 or p.step == self.total_steps:
                elapsed = time.perf_counter() - window_start
                record = {
                    "loss": float(window_loss) / (window_images / t.batch_size),
                    "lr": self.optimizer.param_groups[0]["lr"] / self.optimizer.param_groups[0].get("lr_scale", 1.0),
                    "images_per_s": window_images / elapsed,
                    "epoch": p.epoch + p.batch_in_epoch / self.batches_per_epoch,
                }
                writer.log(p.step, "train", record)
                bar.set_postfix(loss=f"{record['loss']:.4f}", lr=f"{record['lr']:.2e}", img_s=f"{record['images_per_s']:.0f}")
                window_loss, window_images, window_start = 0.0, 0, time.perf_counter()
            set_lr(self.optimizer, self._lr_at(p.step))
            if t.checkpoint_every_steps and p.step % t.checkpoint_every_steps == 0:
                self.save()
            if stop.requested or (t.max_steps is not None and p.step >= t.max_steps):
                break
        return seen

    def _lr_at(self, step: int) -> float:
        return warmup_cosine(step, self.total_steps, self.warmup_steps, self.lr, self.cfg.optim.min_lr)

    def _optimizer_step(self, clip_grad: float | None) -> None:
        params = [q for g in self.optimizer.param_groups for q in g["params"]]
        norm = torch.nn.utils.clip_grad_norm_(params, clip_grad if clip_grad else math.inf)
        if not torch.isfinite(norm):
            raise NonFiniteLossError(
                f"non-finite gradient norm ({norm.item()}) at step {self.progress.step + 1}; the last good checkpoint "
                f"in {self.run_dir / 'checkpoints'} is intact. Lower optim.lr, set optim.clip_grad, or check the data"
            )
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        if self.ema is not None:
            self.ema.update_parameters(self.model)

    def _eval_and_keep_best(self, writer: MetricWriter) -> dict[str, float]:
        metrics = self.evaluate()
        writer.log(self.progress.step, "eval", {**metrics, "epoch": self.progress.epoch})
        key = ("ema_" if self.ema is not None else "") + self.task.main_metric
        value = metrics[key]
        best = self.progress.best
        if best is None or (value > best if self.task.higher_is_better else value < best):
            self.progress.best = value
            save_pretrained(self.ema.module if self.ema is not None else self.model, self.run_dir / "best")
        print(f"\nepoch {self.progress.epoch}: " + ", ".join(f"{k} {v:.3f}" for k, v in metrics.items()))
        return metrics
