"""Console progress: the live bar on a terminal only; elsewhere one plain line per log interval, no carriage return."""

import io
import os
import re
import subprocess
import sys

import pytest
from tqdm.auto import tqdm

from pixelvit.engine import logging as run_logging
from pixelvit.engine.logging import NoProgress, PlainProgress, format_duration, progress_bar
from pixelvit.tasks.recipes import DIGITS
from pixelvit.tasks.training import train_from_config

TINY = [*DIGITS, "model.patch_size=2", "model.embed_dim=16", "model.depth=1", "model.num_heads=2", "train.epochs=1",
        "train.log_every_steps=5", "data.num_workers=0"]  # fmt: skip
# 1,437 training digits in batches of 64: 22 steps, logged at 5, 10, 15, 20 and the last
LINE = re.compile(r"step (\d+)/22 \(\d+%\)  epoch \d\.\d\d/1  loss \d\.\d{4}  lr \d\.\d\de-0\d  img/s \d+  (ETA \S+|done in \S+)")


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_plain_line_has_step_epoch_metrics_and_eta(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(run_logging.time, "perf_counter", clock)
    stream = io.StringIO()
    bar = PlainProgress(total=100, initial=10, steps_per_epoch=10, stream=stream)
    bar.update(1)
    clock.now += 2.0
    bar.update(19)  # 20 steps in 2 s since the (resumed) start: 0.1 s per step, 70 to go
    bar.set_postfix(loss="1.2345", lr="1.00e-03", img_s="500")
    bar.update(70)
    clock.now += 65
    bar.set_postfix(loss="0.5000", lr="1.00e-06", img_s="510")
    bar.close()
    assert stream.getvalue() == (
        "step 30/100 (30%)  epoch 3.00/10  loss 1.2345  lr 1.00e-03  img/s 500  ETA 7s\n"
        "step 100/100 (100%)  epoch 10.00/10  loss 0.5000  lr 1.00e-06  img/s 510  done in 1m07s\n"
    )
    assert [format_duration(s) for s in (0.4, 59.6, 3725)] == ["0s", "1m00s", "1h02m05s"]


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_the_live_bar_only_on_a_terminal_and_nothing_off_the_main_process(monkeypatch, capsys):
    assert isinstance(progress_bar(10, 0), PlainProgress)  # pytest's captured stdout is not a terminal
    quiet = progress_bar(10, 0, show=False)
    quiet.update(3)
    quiet.set_postfix(loss="1.0")
    assert isinstance(quiet, NoProgress) and capsys.readouterr() == ("", "")
    monkeypatch.setattr(sys, "stdout", Terminal())
    monkeypatch.setattr(sys, "stderr", Terminal())
    live = progress_bar(10, 0)
    assert isinstance(live, tqdm)
    live.close()
    assert isinstance(progress_bar(10, 0, live=False), PlainProgress)  # train.progress=false: plain lines on a terminal too


@pytest.mark.usefixtures("one_thread")
def test_training_off_a_terminal_prints_plain_lines_only(tmp_path, capfd):
    train_from_config(None, [*TINY, f"run_dir={tmp_path / 'run'}"])
    out, err = capfd.readouterr()
    assert "\r" not in out + err and "step/s" not in out + err  # no tqdm bar fragments anywhere
    lines = [m for m in map(LINE.fullmatch, out.splitlines()) if m]
    assert [int(m.group(1)) for m in lines] == [5, 10, 15, 20, 22]
    assert [m.group(2).split()[0] for m in lines] == ["ETA"] * 4 + ["done"]
    assert "epoch 1: acc1" in out  # the evaluation line follows, as before


def test_demo_redirected_to_a_file_writes_a_plain_log(tmp_path):
    log = tmp_path / "log.txt"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    overrides = ["train.epochs=1", "model.embed_dim=16", "model.depth=1", "model.num_heads=2", "train.log_every_steps=5"]
    with open(log, "w") as f:
        result = subprocess.run(
            [sys.executable, "-m", "pixelvit", "demo", "--patch-sizes", "2", "--out", str(tmp_path / "demo"), *overrides],
            stdout=f, stderr=subprocess.STDOUT, env=env, timeout=120, check=False,
        )  # fmt: skip
    text = log.read_text()
    assert result.returncode == 0, text
    assert "\r" not in text
    assert [int(m.group(1)) for m in map(LINE.fullmatch, text.splitlines()) if m] == [5, 10, 15, 20, 22]
    assert "| /2 | 16 |" in text  # the demo's table follows
