"""The one training loop, shared by every task.

It owns: the optimizer and schedule, mixed precision, gradient accumulation and clipping, EMA,
evaluation cadence, checkpoints and exact resume, logging, stopping cleanly on a signal, and
scale-out under ``torchrun`` (DDP, or FSDP2 with ``train.fsdp``). A task (see
:class:`pixelvit.engine.task.Task`) supplies the model, data, loss and metrics.
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from torch.utils.data import DataLoader

from ..config import Config
from ..data.batch_transforms import BatchDraws
from ..io import remove_stale_temp_files, write_json_atomic
from ..models.hub import describe, save_pretrained
from ..provenance import provenance
from . import distributed as dist
from .attention import CPU_BACKENDS, sdpa_backend
from .checkpoint import (
    RESUME_ENTRIES,
    clean_checkpoint_dir,
    latest_valid_checkpoint,
    list_checkpoints,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from .context_parallel import context_mesh, method_for, sharded_tokens
from .device import device_text
from .evaluation import Evaluation, Evaluator, evaluate
from .loading import WEIGHTS_INFO
from .logging import MetricWriter, progress_bar
from .optim import build_optimizer, lr_at, param_groups, set_lr, supports_found_inf
from .parallel import full_training_state, load_full_training_state, shard_model, should_compile, training_module
from .precision import autocast, bf16_is_native, resolve_precision
from .run_dir import config_changes, model_changes, refuse_changes
from .run_info import saved_weights_metrics
from .sampler import EpochBatchSampler
from .signals import StopSignal
from .task import Task
from .threads import ThreadChoice, choose_threads, torch_threads

log = logging.getLogger(__name__)


def seed_rank_streams(seed: int, rank: int) -> None:
    """Give rank ``rank`` its own global random streams (Python, NumPy, torch), derived from ``seed``."""
    import random

    import numpy as np

    mixed = (seed * 1_000_003 + rank * 998_244_353) % (2**63 - 1)
    random.seed(mixed)
    np.random.seed(mixed % 2**32)
    torch.manual_seed(mixed)


class NonFiniteLossError(FloatingPointError):
    """The loss or gradient norm became NaN/inf; the checkpoints written so far are left intact."""


def ema_with_warmup(decay: float):
    """An AveragedModel ``multi_avg_fn`` whose decay ramps up: min(decay, (1 + n) / (10 + n)) at the
    n-th update (timm's and the TF EMA's warm-up), so a short run's average forgets the init."""

    def update(ema_params: list[torch.Tensor], params: list[torch.Tensor], num_averaged: torch.Tensor) -> None:
        n = float(num_averaged)
        d = min(decay, (1.0 + n) / (10.0 + n))
        torch._foreach_lerp_(ema_params, params, 1.0 - d)

    return update


@dataclass
class Progress:
    """Where the run is: optimizer steps done, the current epoch and micro-batches consumed in it."""

    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    best: float | None = None  # the main metric of best/ on the validation set (None: no validation set)
    best_epoch: int | None = None
    skipped_steps: int = 0
    consecutive_skips: int = 0
    wall_time_s: float = 0.0  # training time over every session of the run (kept across resumes)
    images_seen: int = 0  # training images over every session and process
    last_eval: dict[str, float] = field(default_factory=dict)
    threads: int | None = None  # CPU threads of the run's first start (train.threads=auto keeps them on resume)


class Trainer:
    """Runs ``task`` under ``cfg.train`` / ``cfg.optim`` in ``run_dir``; resumes from it if it holds checkpoints.

    Under torchrun every process builds the same task and Trainer; rank 0 alone writes files.
    """

    def __init__(self, cfg: Config, task: Task, run_dir: str | Path, evaluators: Sequence[Evaluator] = ()):
        self.cfg, self.task, self.run_dir = cfg, task, Path(run_dir)
        self.evaluators = list(evaluators)
        t, o = cfg.train, cfg.optim
        self.dist = dist.init_distributed(t.device, t.dist_timeout_s)
        self.device = self.dist.device
        if self.device.type == "cpu" and t.sdpa_backend not in CPU_BACKENDS:
            raise ValueError(f"train.sdpa_backend={t.sdpa_backend} has no CPU kernel: choose {', '.join(CPU_BACKENDS)} here")
        self.context = None  # context parallelism: the mesh of this process's context group
        if t.context_parallel > 1:
            self.context = context_mesh(self.dist, t.context_parallel)
            self.dist = replace(self.dist, context_parallel=t.context_parallel)
        if t.batch_size % self.dist.data_size:
            raise ValueError(
                f"train.batch_size={t.batch_size} (the global batch) is not divisible by the {self.dist.data_size} "
                "data-parallel shares (processes / train.context_parallel)"
            )
        self.rank_batch = t.batch_size // self.dist.data_size
        if self.dist.data_rank > 0:  # every rank built the same model from the seed; from here each draws its own
            seed_rank_streams(t.seed, self.dist.data_rank)  # drop path, mixup, noise (rank 0 keeps the seed's; a
            # context-parallel group shares one stream: its processes hold parts of the same images)
        self.precision = resolve_precision(t.precision, self.device)  # "auto": bf16 where native, else fp32
        if t.precision == "bf16" and not bf16_is_native(self.device) and self.dist.is_main:
            warnings.warn(
                f"train.precision=bf16 on a {self.device.type} without native bf16 matmuls is emulated and much slower "
                "than fp32; pass train.precision=fp32 here",
                stacklevel=2,
            )
        self.model = task.model.to(self.device)
        if cfg.model.grad_checkpointing and hasattr(self.model, "set_grad_checkpointing"):
            self.model.set_grad_checkpointing(True)
        if t.fsdp:
            shard_model(self.model, self.dist, self.precision)
        self.lr = o.lr if o.lr is not None else o.blr * t.batch_size * t.accum_steps / 256
        groups = param_groups(self.model, o.weight_decay, lr_scale=task.lr_scale)
        self.optimizer = build_optimizer(groups, self.lr, tuple(o.betas), self.device)
        self._params = [p for g in self.optimizer.param_groups for p in g["params"]]
        self.ema = None
        if t.ema_decay:
            average = ema_with_warmup(t.ema_decay) if t.ema_warmup else get_ema_multi_avg_fn(t.ema_decay)
            self.ema = AveragedModel(self.model, multi_avg_fn=average, use_buffers=True)
        self.batches_per_epoch = len(self._sampler(0, 0))
        if self.batches_per_epoch < t.accum_steps:
            raise ValueError(
                f"the training set gives {self.batches_per_epoch} batches of {self.rank_batch} per process and epoch, fewer "
                f"than train.accum_steps={t.accum_steps}; lower train.batch_size or add data"
            )
        self.steps_per_epoch = self.batches_per_epoch // t.accum_steps
        self.total_steps = t.epochs * self.steps_per_epoch
        self.warmup_steps = round(o.warmup_epochs * self.steps_per_epoch)
        self.compiled = self.context is None and should_compile(t.compile, self.device, t.max_steps or self.total_steps)
        self.train_model = training_module(self.model, self.dist, t.fsdp, self.compiled)
        self._compile_unproven = self.compiled  # the first compiled micro-step may fail: then train eagerly
        # Non-finite gradient norms are checked on the device: fused AdamW skips such a step on a device flag,
        # and the norms are read back once per log interval, before a checkpoint and at the end of an epoch.
        # With EMA (its update is not masked) or an optimizer without that flag, they are read every step.
        self._defer_checks = supports_found_inf(self.optimizer) and self.ema is None
        self._pending_norms: list[tuple[int, torch.Tensor]] = []
        self.progress = Progress()

    # ---- pieces -----------------------------------------------------------------------------

    def _sampler(self, epoch: int, start_batch: int) -> EpochBatchSampler:
        t, d = self.cfg.train, self.dist
        return EpochBatchSampler(
            len(self.task.train_set), self.rank_batch, seed=t.seed, epoch=epoch, start_batch=start_batch,
            rank=d.data_rank, world_size=d.data_size,
        )  # fmt: skip

    def _loader(self, dataset, batch_sampler) -> DataLoader:
        return DataLoader(
            dataset,
            batch_sampler=batch_sampler,
            num_workers=self.cfg.data.num_workers,
            pin_memory=self.device.type == "cuda",
            generator=torch.Generator().manual_seed(self.cfg.train.seed),
        )

    def state_dict(self) -> dict[str, Any]:
        """The full training state (a collective under FSDP: call on every rank)."""
        model_state, optim_state = full_training_state(self.model, self.optimizer)
        return {
            "model": model_state,
            "model_description": describe(self.model),
            "optimizer": optim_state,
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "progress": asdict(self.progress),
            "rng": dist.gather_objects(rng_state(), self.dist),  # one entry per rank
            "world_size": self.dist.world_size,
            "config": self.cfg.to_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        load_full_training_state(self.model, self.optimizer, state["model"], state["optimizer"])
        if self.ema is not None and state.get("ema") is not None:
            self.ema.load_state_dict(state["ema"])
        self.progress = Progress(**state["progress"])
        rngs = state["rng"]
        if len(rngs) == self.dist.world_size:
            set_rng_state(rngs[self.dist.rank])
        else:
            warnings.warn(
                f"resuming with {self.dist.world_size} processes from a checkpoint written by {len(rngs)}: the data order "
                "is kept, but random augmentation and dropout draws will differ from an uninterrupted run",
                stacklevel=2,
            )
            set_rng_state(rngs[0])
            torch.manual_seed(self.cfg.train.seed + 7919 * self.progress.step + self.dist.rank)

    def _account_time(self) -> None:
        """Add the time since the last call to the run's total (so a resumed run reports all its sessions)."""
        now = time.perf_counter()
        self.progress.wall_time_s += now - self._clock
        self._clock = now

    def save(self) -> Path | None:
        """Write a checkpoint (rank 0) after gathering the state from every rank."""
        self._read_norms()
        self._account_time()
        state = self.state_dict()
        path = None
        if self.dist.is_main:
            path = save_checkpoint(state, self.run_dir, self.progress.step, self.cfg.train.keep_checkpoints)
        dist.barrier(self.dist)
        return path

    def _save_model(self, name: str) -> None:
        """``RUN_DIR/<name>/``: model.safetensors + config.json of the EMA weights if any, else the model, and
        weights.json saying which (``weights``: "ema" or "raw"), with the step and epoch."""
        if self.ema is not None:
            model, state = self.ema.module, self.ema.module.state_dict()
        else:
            model, state = self.model, full_training_state(self.model, self.optimizer)[0]
        if self.dist.is_main:
            save_pretrained(model, self.run_dir / name, state_dict=state)
            info = {"weights": self.weights, "step": self.progress.step, "epoch": self.progress.epoch}
            write_json_atomic(self.run_dir / name / WEIGHTS_INFO, info)

    @property
    def weights(self) -> str:
        """Which weights ``final/`` and ``best/`` hold: "ema" (the EMA average) or "raw" (the trained model)."""
        return "ema" if self.ema is not None else "raw"

    def evaluate(self, evaluation: Evaluation | None = None) -> dict[str, float]:
        """The task's metrics of the model (and ``ema_*`` of the EMA weights) on ``evaluation`` (default: the
        task's evaluation set)."""
        evaluation = evaluation if evaluation is not None else self.task.evaluation
        results: dict[str, float] = {}
        models = [("", self.model)] + ([("ema_", self.ema.module)] if self.ema is not None else [])
        for prefix, model in models:
            metrics = evaluate(
                evaluation, model, self.rank_batch, self.device, self.dist, self.precision, self.cfg.data.num_workers
            )
            results.update({prefix + k: v for k, v in metrics.items()})
        self.model.train()
        return results

    def run_evaluators(self) -> dict[str, float]:
        """The extra evaluators due after this epoch, on the weights a run saves (the EMA's if kept)."""
        model = self.ema.module if self.ema is not None else self.model
        results: dict[str, float] = {}
        for evaluator in self.evaluators:
            if evaluator.due(self.progress.epoch, self.cfg.train.epochs):
                model.eval()
                devices = [self.device] if self.device.type == "cuda" else []
                with torch.random.fork_rng(devices=devices):  # evaluating must not move training's random streams
                    metrics = evaluator(model, self.device, self.dist)
                results.update({f"{evaluator.prefix}/{k}": v for k, v in metrics.items()})
        self.model.train()
        return results

    # ---- the loop ---------------------------------------------------------------------------

    def resume_state(self) -> dict[str, Any] | None:
        """The newest valid checkpoint of the run directory (None: a fresh start), refused with the differing
        keys named when it was written by another config or for another model."""
        if self.dist.is_main:  # what a killed write left behind (the run directory's lock is held)
            clean_checkpoint_dir(self.run_dir)
            for folder in (self.run_dir, self.run_dir / "final", self.run_dir / "best"):
                remove_stale_temp_files(folder)
        dist.barrier(self.dist)
        state = latest_valid_checkpoint(self.run_dir, "cpu", RESUME_ENTRIES)
        if state is not None:
            refuse_changes(config_changes(state["config"], self.cfg.to_dict()), self.run_dir, "config")
            refuse_changes(model_changes(state["model_description"], describe(self.model)), self.run_dir, "model")
        return state

    def fit(self, resumed: dict[str, Any] | bool | None = True) -> dict[str, Any]:
        """Train to the end (or to ``train.max_steps``, or a stop signal); returns the run summary.

        ``resumed``: the state from :meth:`resume_state` (None: start fresh); by default it is looked up here.
        """
        t = self.cfg.train
        if resumed is True:
            resumed = self.resume_state()
        if resumed is not None:
            self.load_state_dict(resumed)
            if self.dist.is_main:
                log.info(f"resuming from {resumed['path']} (step {self.progress.step}, epoch {self.progress.epoch})")
        # a fresh start (no checkpoint, or none usable) drops what a failed earlier attempt logged: resume_step 0
        resume_step = self.progress.step if resumed is not None else 0
        threads = self._thread_choice(resumed is not None)
        epoch_end_pending = resumed is not None and self.progress.batch_in_epoch >= self.batches_per_epoch  # evaluates again
        writer = MetricWriter(self.run_dir, resume_step=resume_step, redo_evals=epoch_end_pending) if self.dist.is_main else None
        bar = progress_bar(self.total_steps, self.progress.step, self.dist.is_main, t.progress, self.steps_per_epoch)
        self._clock = time.perf_counter()
        stop_reason = "finished"
        if t.max_steps is not None and self.progress.step >= t.max_steps:  # a re-run trains no further step
            stop_reason = f"reached train.max_steps={t.max_steps}"
        self.model.train()
        try:
            with StopSignal() as stop, torch_threads(threads.threads):
                while self.progress.epoch < t.epochs and stop_reason == "finished":
                    self._train_epoch(writer, bar, stop)
                    requested = dist.any_rank(stop.requested is not None, self.dist)
                    if requested or (t.max_steps is not None and self.progress.step >= t.max_steps):
                        stop_reason = (
                            f"stopped by {stop.requested or 'a signal'}"
                            if requested
                            else f"reached train.max_steps={t.max_steps}"
                        )
                        break
                    self.progress.epoch, self.progress.batch_in_epoch = self.progress.epoch + 1, 0
                    if self.progress.epoch % t.eval_every == 0 or self.progress.epoch == t.epochs:
                        self.progress.last_eval = self._eval_and_keep_best(writer)
                    extra = self.run_evaluators()
                    if extra:
                        self._log_eval(writer, extra)
                        if self.progress.epoch == t.epochs:
                            self.progress.last_eval = {**self.progress.last_eval, **extra}
                    self.save()
                if stop_reason != "finished":
                    path = self.save() if resumed is None or self.progress.step != resume_step else resumed["path"]
                    if self.dist.is_main:
                        where = f"at step {self.progress.step}; checkpoint {path}"
                        log.info(f"\n{stop_reason} {where}. Run the same command again to resume.")
        finally:
            bar.close()
            if writer is not None:
                writer.close()
        self._account_time()
        wall, images = self.progress.wall_time_s, self.progress.images_seen
        summary = {
            "status": stop_reason,
            "step": self.progress.step,
            "epoch": self.progress.epoch,
            "skipped_steps": self.progress.skipped_steps,
            "precision": self.precision,
            "compile": self.compiled,
            "world_size": self.dist.world_size,
            "threads": threads.to_dict(),
            "wall_time_s": round(wall, 2),
            "train_images_per_s": round(images / wall, 2) if wall > 0 else None,
            "final": self.progress.last_eval,  # kept in checkpoints: a re-run of a finished run reports it too
            "weights": self.weights,  # what final/ and best/ hold
            "reported": saved_weights_metrics(self.progress.last_eval, self.weights),
            "eval_split": self.cfg.data.eval_split,
            "best": {self.task.main_metric: self.progress.best} if self.progress.best is not None else {},
            "selection": self.selection_info(),
            "paper": {} if self.cfg.paper.mismatch else self.cfg.paper.metrics,
            "paper_mismatch": self.cfg.paper.mismatch,
            "provenance": provenance(device_text(self.device)) if self.dist.is_main else {},  # rank 0 writes it
        }
        if stop_reason == "finished":
            self._save_model("final")
        if self.dist.is_main:
            write_json_atomic(self.run_dir / "summary.json", summary)
        dist.barrier(self.dist)
        return summary

    def _thread_choice(self, resumed: bool) -> ThreadChoice:
        """``train.threads`` for this session; ``auto`` on a resume keeps the first start's count (the count can
        change float reduction order, and a resume is exact)."""
        choice = choose_threads(self.cfg.train.threads)
        if resumed and choice.source == "auto" and self.progress.threads:
            choice = ThreadChoice(self.progress.threads, "resumed", "train.threads=auto keeps the count of the run's first start")
        self.progress.threads = choice.threads
        return choice

    def _train_epoch(self, writer: MetricWriter | None, bar, stop: StopSignal) -> None:
        """One epoch from the current position."""
        t, p = self.cfg.train, self.progress
        loader = self._loader(self.task.train_set, self._sampler(p.epoch, p.batch_in_epoch))
        window_loss, window_batches, window_start = 0.0, 0, time.perf_counter()
        set_lr(self.optimizer, self._lr_at(p.step))
        for batch in loader:
            draws = BatchDraws(t.seed, p.epoch, p.batch_in_epoch, self.dist.data_rank, self.dist.data_size)
            p.batch_in_epoch += 1
            last_micro = p.batch_in_epoch % t.accum_steps == 0
            loss = self._micro_step(batch, draws, last_micro)
            p.images_seen += len(batch[0]) * self.dist.data_size
            window_batches += 1
            window_loss = window_loss + loss.detach().float()
            if not last_micro:
                continue
            if p.batch_in_epoch // t.accum_steps > self.steps_per_epoch:
                break  # leftover micro-batches that would not fill an optimizer step
            self._optimizer_step()
            p.step += 1
            bar.update(1)
            if p.step % t.log_every_steps == 0 or p.step == self.total_steps:
                self._read_norms()
                elapsed = time.perf_counter() - window_start
                record = {
                    "loss": float(window_loss) / window_batches,
                    "lr": self._lr_at(p.step - 1),
                    "images_per_s": window_batches * t.batch_size / elapsed,
                    "epoch": p.epoch + p.batch_in_epoch / self.batches_per_epoch,
                }
                if writer is not None:
                    writer.log(p.step, "train", record)
                bar.set_postfix(loss=f"{record['loss']:.4f}", lr=f"{record['lr']:.2e}", img_s=f"{record['images_per_s']:.0f}")
                window_loss, window_batches, window_start = 0.0, 0, time.perf_counter()
            set_lr(self.optimizer, self._lr_at(p.step))
            if t.checkpoint_every_steps and p.step % t.checkpoint_every_steps == 0:
                self.save()
            if dist.any_rank(stop.requested is not None, self.dist) or (t.max_steps is not None and p.step >= t.max_steps):
                break
        self._read_norms()

    def _micro_step(self, batch, draws: BatchDraws, last_micro: bool) -> torch.Tensor:
        """Forward and backward of one micro-batch; returns the loss. If the first compiled step fails, warn
        once and train eagerly from then on."""
        t = self.cfg.train
        sync = last_micro or not hasattr(self.train_model, "no_sync")
        try:
            with self.train_model.no_sync() if not sync else nullcontext(), sdpa_backend(t.sdpa_backend), self._sharding():
                with autocast(self.precision, self.device):
                    loss = self.task.loss(self.train_model, batch, self.device, draws)
                (loss / t.accum_steps).backward()
        except Exception as error:  # any compiler failure: fall back to eager, once
            if not self._compile_unproven:
                raise
            warnings.warn(f"train.compile: torch.compile failed ({type(error).__name__}: {error}); training eagerly",
                          stacklevel=2)  # fmt: skip
            self._compile_unproven = self.compiled = False
            self.optimizer.zero_grad(set_to_none=True)
            self.train_model = training_module(self.model, self.dist, t.fsdp, False)
            return self._micro_step(batch, draws, last_micro)
        self._compile_unproven = False
        return loss

    def _sharding(self) -> AbstractContextManager:
        """Context parallelism around a micro-step (forward and backward), else nothing."""
        if self.context is None:
            return nullcontext()
        method = method_for(self.device)
        return sharded_tokens(self.model, self.context, self.model.num_patches, self.cfg.train.sdpa_backend, method)

    def _lr_at(self, step: int) -> float:
        return lr_at(self.cfg.optim, step, self.total_steps, self.warmup_steps, self.lr)

    def _optimizer_step(self) -> None:
        """Clip, step, update the EMA; a non-finite gradient norm skips the step (see ``_read_norms``). The
        gradient norm is the same on every rank."""
        clip = self.cfg.optim.clip_grad
        norm = torch.nn.utils.get_total_norm([q.grad for q in self._params if q.grad is not None])
        if clip:
            torch.nn.utils.clip_grads_with_norm_(self._params, clip, norm)
        full = norm.full_tensor() if hasattr(norm, "full_tensor") else norm  # FSDP: a DTensor
        self._pending_norms.append((self.progress.step + 1, full.detach()))
        if self._defer_checks:  # fused AdamW leaves parameters and state untouched where found_inf is 1
            self.optimizer.found_inf = (~torch.isfinite(norm)).float()
        elif self._read_norms():
            self.optimizer.zero_grad(set_to_none=True)
            return
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        if self.ema is not None:
            self.ema.update_parameters(self.model)

    def _read_norms(self) -> bool:
        """Read back the gradient norms of the steps since the last call (one host synchronisation) and apply
        ``train.on_nonfinite`` to each in order; returns whether the last of them was non-finite."""
        if not self._pending_norms:
            return False
        steps = [step for step, _ in self._pending_norms]
        norms = torch.stack([norm.float() for _, norm in self._pending_norms]).tolist()
        self._pending_norms.clear()
        for step, norm in zip(steps, norms, strict=True):
            if math.isfinite(norm):
                self.progress.consecutive_skips = 0
                continue
            if self.cfg.train.on_nonfinite == "stop":
                raise NonFiniteLossError(
                    f"non-finite gradient norm ({norm}) at step {step}; {self._last_good()}. Lower optim.lr, set "
                    "optim.clip_grad, or check the data (train.on_nonfinite=skip skips such steps instead)"
                )
            self.progress.skipped_steps += 1
            self.progress.consecutive_skips += 1
            limit = self.cfg.train.max_consecutive_skips
            if self.progress.consecutive_skips >= limit:
                raise NonFiniteLossError(
                    f"{limit} steps in a row had a non-finite gradient norm (the last at step {step}): the run is not "
                    f"learning. Lower optim.lr, set optim.clip_grad, or check the data; {self._last_good()} "
                    "(train.max_consecutive_skips sets this limit)"
                )
            warnings.warn(f"skipping step {step}: non-finite gradient norm ({norm})", stacklevel=2)
        return not math.isfinite(norms[-1])

    def selection_info(self) -> dict[str, Any] | None:
        """How ``best/`` is chosen: the validation set (a split of its own, or held out of the training split by a
        seeded draw), the metric and the epoch of best/; None when there is no validation set (no best/)."""
        if self.task.selection is None:
            return None
        d = self.cfg.data
        source = {"split": d.val_split} if d.val_split is not None else {"held_out_of": d.train_split,
                  "val_fraction": d.val_fraction, "val_seed": d.val_seed}  # fmt: skip
        return {**source, "images": len(self.task.selection.dataset), "metric": self._selection_key(),
                "best": self.progress.best, "best_epoch": self.progress.best_epoch}  # fmt: skip

    def _selection_key(self) -> str:
        return "val_" + ("ema_" if self.ema is not None else "") + self.task.main_metric

    def _last_good(self) -> str:
        """Where the run can go on from after a stop: its newest checkpoint, or that it has none yet."""
        found = list_checkpoints(self.run_dir)
        if not found:
            return "no checkpoint was written yet, so a rerun starts from step 0"
        return f"the last checkpoint, {found[-1].name} in {found[-1].parent}, is intact"

    def _eval_and_keep_best(self, writer: MetricWriter | None) -> dict[str, float]:
        """Evaluate on the evaluation split (curves, the reported number) and, when the task has a validation
        set, on it too (``val_*``); only the validation set chooses ``best/``."""
        metrics = self.evaluate()
        if self.task.selection is not None:
            metrics.update({"val_" + k: v for k, v in self.evaluate(self.task.selection).items()})
            value, best = metrics[self._selection_key()], self.progress.best
            if best is None or (value > best if self.task.higher_is_better else value < best):
                self.progress.best, self.progress.best_epoch = value, self.progress.epoch
                self._save_model("best")
        self._log_eval(writer, metrics)
        return metrics

    def _log_eval(self, writer: MetricWriter | None, metrics: dict[str, float]) -> None:
        if writer is not None:
            writer.log(self.progress.step, "eval", {**metrics, "epoch": self.progress.epoch})
            log.info(f"\nepoch {self.progress.epoch}: " + ", ".join(f"{k} {v:.3f}" for k, v in metrics.items()))
