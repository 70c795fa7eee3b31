"""Run logs: metrics as JSON lines and TensorBoard scalars, plus console progress: a live bar on a
terminal, one plain line per log interval anywhere else (CI, ``nohup``, SLURM logs, ``> log.txt``)."""

from __future__ import annotations

import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from tqdm.auto import tqdm

from ..io import open_no_follow, refuse_link, write_text_atomic


class MetricWriter:
    """Appends ``{"step": s, "tag": ..., **metrics}`` lines to ``metrics.jsonl`` and mirrors scalars to
    TensorBoard (``RUN_DIR/tb``). Lines are flushed at once so a killed run keeps its history.

    ``resume_step``: the step of the checkpoint a resumed run starts from. Records logged after it by
    the interrupted session are dropped first (the resumed run logs those steps again), in the JSON
    lines and in TensorBoard (``purge_step``), so no step appears twice. ``redo_evals``: the checkpoint
    was written at the end of an epoch before its evaluation, which the resumed run does again, so the
    interrupted session's evaluation records at ``resume_step`` are dropped too.
    """

    def __init__(
        self, run_dir: str | os.PathLike, tensorboard: bool = True, resume_step: int | None = None, redo_evals: bool = False
    ):
        self.path = Path(run_dir) / "metrics.jsonl"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        refuse_link(self.path)
        if resume_step is not None:
            drop_records_after(self.path, resume_step, evals_at_step=redo_evals)
        fd = open_no_follow(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)  # a symlink is refused, not followed
        self._file = os.fdopen(fd, "a", buffering=1)  # closed in close()
        self._tb = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            purge = resume_step + 1 if resume_step is not None else None
            self._tb = SummaryWriter(str(Path(run_dir) / "tb"), purge_step=purge)

    def log(self, step: int, tag: str, metrics: dict[str, Any]) -> None:
        record = {"step": step, "tag": tag, **metrics}
        self._file.write(json.dumps(record) + "\n")
        if self._tb is not None:
            for k, v in metrics.items():
                if isinstance(v, int | float) and math.isfinite(v):
                    self._tb.add_scalar(f"{tag}/{k}", v, step)

    def close(self) -> None:
        self._file.close()
        if self._tb is not None:
            self._tb.close()


def parsed_lines(path: Path) -> list[tuple[str, dict[str, Any]]]:
    """(line, record) of every well-formed line of a ``metrics.jsonl`` (a torn line is skipped)."""
    if not path.is_file():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append((line, json.loads(line)))
        except json.JSONDecodeError:
            continue
    return out


def drop_records_after(path: Path, step: int, evals_at_step: bool = False) -> None:
    """Rewrite a ``metrics.jsonl`` (atomically) without its records of steps after ``step`` and any torn line;
    ``evals_at_step``: without its records at ``step`` other than training ones too."""

    def keep(record: Any) -> bool:
        if not isinstance(record, dict) or type(record.get("step", 0)) is not int:
            return False  # not a record pixelvit writes
        at = record.get("step", 0)
        return at < step or (at == step and (not evals_at_step or record.get("tag") == "train"))

    if path.is_file():
        write_text_atomic(path, "".join(line + "\n" for line, record in parsed_lines(path) if keep(record)))


def read_metrics(run_dir: str | os.PathLike, tag: str | None = None) -> list[dict[str, Any]]:
    """All records of a run's ``metrics.jsonl`` (optionally one tag), skipping a torn line and any record that is
    not an object with an integer step."""
    records = [record for _, record in parsed_lines(Path(run_dir) / "metrics.jsonl")]
    records = [r for r in records if isinstance(r, dict) and type(r.get("step")) is int]  # a hand-edited line is skipped
    return [r for r in records if tag is None or r.get("tag") == tag]


def format_duration(seconds: float) -> str:
    """3725 -> "1h02m05s", 65 -> "1m05s", 7 -> "7s"."""
    seconds = max(0, round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s" if m else f"{s}s"


class PlainProgress:
    """The progress bar's interface (``update``, ``set_postfix``, ``close``) as plain lines: each
    ``set_postfix`` (once per log interval) prints ``step 40/220 (18%)  epoch 1.82/10  loss 2.1034
    lr 1.00e-03  img/s 2383  ETA 1m05s`` and nothing else, no carriage return."""

    def __init__(self, total: int, initial: int, steps_per_epoch: int | None = None, stream: TextIO | None = None):
        self.total, self.n, self.initial = total, initial, initial
        self.steps_per_epoch = steps_per_epoch
        self.stream = stream
        self.start = time.perf_counter()

    def update(self, n: int = 1) -> None:
        self.n += n

    def line(self, **postfix: Any) -> str:
        """The status line for the current step with ``postfix`` values (``img_s`` shown as ``img/s``)."""
        parts = [f"step {self.n}/{self.total} ({100 * self.n / max(self.total, 1):.0f}%)"]
        if self.steps_per_epoch:
            parts.append(f"epoch {self.n / self.steps_per_epoch:.2f}/{self.total / self.steps_per_epoch:g}")
        parts += [f"{'img/s' if k == 'img_s' else k} {v}" for k, v in postfix.items()]
        done, elapsed = self.n - self.initial, time.perf_counter() - self.start
        if done > 0 and self.n < self.total:
            parts.append(f"ETA {format_duration(elapsed / done * (self.total - self.n))}")
        elif self.n >= self.total:
            parts.append(f"done in {format_duration(elapsed)}")
        return "  ".join(parts)

    def set_postfix(self, ordered_dict: dict | None = None, refresh: bool = True, **postfix: Any) -> None:
        stream = self.stream or sys.stdout  # the progress display writes where it is told, as tqdm does
        stream.write(self.line(**{**(ordered_dict or {}), **postfix}) + "\n")
        stream.flush()

    def close(self) -> None:
        pass


class NoProgress(PlainProgress):
    """Prints nothing (processes other than the main one)."""

    def set_postfix(self, ordered_dict: dict | None = None, refresh: bool = True, **postfix: Any) -> None:
        pass


def is_terminal() -> bool:
    """Whether both stdout and stderr are terminals (the live bar draws on stderr, prints go to stdout)."""
    return all(getattr(stream, "isatty", lambda: False)() for stream in (sys.stdout, sys.stderr))


def progress_bar(
    total: int, initial: int, show: bool = True, live: bool | None = None, steps_per_epoch: int | None = None
) -> tqdm | PlainProgress:
    """Training progress, ``total`` optimizer steps from ``initial``.

    ``show=False`` (a process other than the main one) prints nothing. Otherwise: the live tqdm bar
    when ``live`` (default: when stdout and stderr are terminals) and both are terminals; else one plain
    line per ``set_postfix`` call (:class:`PlainProgress`). ``live=False`` (``train.progress=false``)
    asks for the plain lines on a terminal too. ``steps_per_epoch`` lets the plain line show the epoch.
    """
    if not show:
        return NoProgress(total, initial)
    if (live is None or live) and is_terminal():
        return tqdm(total=total, initial=initial, unit="step", dynamic_ncols=True, leave=True)
    return PlainProgress(total, initial, steps_per_epoch)
