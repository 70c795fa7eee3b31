"""train.threads: the decision from given load/affinity values, the cgroup quota, and what a run records."""

import json

import pytest
import torch

from pixelvit.config import ConfigError, load_config
from pixelvit.engine import threads as threads_module
from pixelvit.engine.threads import busy_cores, cgroup_cpu_limit, decide_threads, free_cores
from pixelvit.tasks.training import train_from_config


@pytest.mark.parametrize(
    ("cores", "load", "local", "expected"),
    [
        (2, 0.0, 1, 2),  # idle 2-core machine: both cores
        (2, 1.2, 1, 2),  # this process's own data loading is not another job
        (2, 2.0, 1, 1),  # one other busy job: one core left
        (2, 4.0, 1, 1),  # three other jobs: never fewer than one
        (16, 3.0, 1, 14),
        (16, 1.0, 4, 4),  # torchrun with 4 processes on the node share the free cores
        (16, 9.0, 4, 2),
    ],
)
def test_auto_takes_the_free_cores(cores, load, local, expected):
    choice = decide_threads("auto", None, current=8, cores=cores, load=load, local_processes=local)
    assert (choice.threads, choice.source) == (expected, "auto")
    assert f"of {cores} cores free (load {load:.1f})" in choice.reason


def test_omp_num_threads_and_a_number_win_over_auto():
    omp = decide_threads("auto", "3", current=3, cores=16, load=0.0)
    assert (omp.threads, omp.source) == (3, "OMP_NUM_THREADS")
    assert decide_threads(5, "3", current=3, cores=2, load=9.0).threads == 5  # a number is used as given
    assert decide_threads("auto", "", current=3, cores=2, load=0.0).source == "auto"  # empty means unset


def test_free_cores_counts_one_core_of_load_as_this_process():
    assert [free_cores(4, load) for load in (0.0, 1.0, 1.4, 1.6, 2.5, 3.6, 10.0)] == [4, 4, 4, 3, 2, 1, 1]


def test_two_jobs_started_together_see_each_other_through_the_busy_cores():
    """The load average lags a minute: a job started beside another sees load ~0, but the other's core busy."""
    first = decide_threads("auto", None, current=2, cores=2, load=0.1, busy=0.0)
    second = decide_threads("auto", None, current=2, cores=2, load=0.1, busy=1.0)
    assert (first.threads, second.threads) == (2, 1)
    assert second.reason == "1 of 2 cores free (load 0.1, 1.0 busy now)"
    # the busy sample wins over the load average, which also counts this process's own earlier runs
    assert free_cores(8, 5.0, busy=2.0) == 6 and free_cores(8, 1.0, busy=2.6) == 5 and free_cores(2, 2.0, busy=0.0) == 2


def test_busy_cores_reads_the_cpu_time_spent_while_it_sleeps(tmp_path, monkeypatch):
    monkeypatch.setattr(threads_module.time, "sleep", lambda s: None)
    assert busy_cores(0.0, tmp_path / "absent") is None
    stat = tmp_path / "stat"
    # user nice system idle iowait irq softirq steal: 600 of 1000 jiffies idle -> 40 % of the cores busy
    samples = iter(["cpu 100 0 100 800 0 0 0 0\ncpu0 1 2 3 4\n", "cpu 300 0 300 1400 0 0 0 0\n"])
    monkeypatch.setattr(threads_module.time, "sleep", lambda s: stat.write_text(next(samples)))
    monkeypatch.setattr(threads_module.os, "cpu_count", lambda: 4)
    stat.write_text(next(samples))
    assert busy_cores(0.0, stat) == pytest.approx(0.4 * 4)


@pytest.mark.parametrize(("text", "cores"), [("max 100000", None), ("200000 100000", 2.0), ("50000 100000", 0.5), ("junk", None)])
def test_cgroup_quota(tmp_path, text, cores):
    path = tmp_path / "cpu.max"
    path.write_text(text + "\n")
    assert cgroup_cpu_limit(path) == cores
    assert cgroup_cpu_limit(tmp_path / "absent") is None


def test_the_config_takes_auto_or_a_positive_count():
    assert load_config(None).train.threads == "auto"
    assert load_config(None, ["train.threads=3"]).train.threads == 3
    with pytest.raises(ConfigError, match=r"train.threads='many' must be auto or int"):
        load_config(None, ["train.threads=many"])
    with pytest.raises(ConfigError, match=r"train.threads=0 must be auto or a number >= 1"):
        load_config(None, ["train.threads=0"])


TINY = ["data.name=digits", "data.img_size=[8,8]", "model.name=vit_t/4", "model.embed_dim=16", "model.depth=1",
        "model.num_heads=2", "train.epochs=2", "train.batch_size=64", "data.limit_train=128", "data.limit_eval=32",
        "train.progress=false", "train.precision=fp32", "optim.warmup_epochs=0"]  # fmt: skip


def test_a_run_records_its_threads_restores_torchs_and_keeps_them_on_resume(tmp_path, monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(threads_module, "usable_cores", lambda: 2)
    monkeypatch.setattr(threads_module, "load_average", lambda: 3.0)  # a busy machine: one core free
    monkeypatch.setattr(threads_module, "busy_cores", lambda: None)
    before = torch.get_num_threads()
    seen, real = [], torch.set_num_threads
    monkeypatch.setattr(torch, "set_num_threads", lambda n: (seen.append(n), real(n)))
    run_dir = tmp_path / "run"
    first = train_from_config(None, [*TINY, f"run_dir={run_dir}", "train.max_steps=2"])
    assert first["threads"] == {"threads": 1, "source": "auto", "reason": "1 of 2 cores free (load 3.0)"}
    assert seen[0] == 1 and torch.get_num_threads() == before  # restored after the run

    monkeypatch.setattr(threads_module, "load_average", lambda: 0.0)  # idle now: auto would take 2
    resumed = train_from_config(None, [*TINY, f"run_dir={run_dir}"])
    assert resumed["threads"]["threads"] == 1 and resumed["threads"]["source"] == "resumed"
    assert json.loads((run_dir / "summary.json").read_text())["threads"]["threads"] == 1

    explicit = train_from_config(None, [*TINY, f"run_dir={tmp_path / 'other'}", "train.threads=2", "train.max_steps=1"])
    assert explicit["threads"]["source"] == "config" and explicit["threads"]["threads"] == 2


def test_eval_sample_and_fid_take_threads(monkeypatch):
    from pixelvit.commands import build_parser
    from pixelvit.commands.arguments import use_threads

    parser = build_parser()
    for argv in (["eval", "runs/x"], ["sample", "runs/x", "--out", "o"], ["fid", "a.npz", "b.npz"]):
        assert parser.parse_args(argv).threads == "auto"
        assert parser.parse_args([*argv, "--threads", "3"]).threads == 3
        for bad in ("0", "-1", "two"):
            with pytest.raises(SystemExit):
                parser.parse_args([*argv, "--threads", bad])
    before = torch.get_num_threads()
    try:
        args = parser.parse_args(["eval", "runs/x", "--threads", "1"])
        assert use_threads(args) == "threads: 1 (--threads=1)" and torch.get_num_threads() == 1
        monkeypatch.setattr(threads_module, "busy_cores", lambda: 1.0)  # one of the cores busy elsewhere
        monkeypatch.setattr(threads_module, "usable_cores", lambda: 2)
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
        assert use_threads(parser.parse_args(["fid", "a.npz", "b.npz"])).startswith("threads: 1 (1 of 2 cores free")
    finally:
        torch.set_num_threads(before)


def test_processes_deciding_together_split_the_free_cores(tmp_path, monkeypatch):
    from pixelvit.engine.threads import PeerRegistry, choose_threads

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    monkeypatch.setattr(threads_module, "usable_cores", lambda: 2)
    monkeypatch.setattr(threads_module, "busy_cores", lambda: 0.0)  # both sample an idle machine
    folder = tmp_path / "registry"
    other = PeerRegistry(folder, pid=1)  # pid 1 lives: a peer announcing it is deciding too
    other.announce(0)
    before = torch.get_num_threads()
    try:
        together = choose_threads("auto", registry=PeerRegistry(folder))
        assert together.threads == 1 and "shared by 2 processes" in together.reason
        assert (folder / str(__import__("os").getpid())).read_text() == "1"  # what this one took, for the next
        other.announce(2)  # the peer decided a moment ago and took both cores: not yet visible as busy
        assert choose_threads("auto", registry=PeerRegistry(folder)).threads == 1
        other.withdraw()
        assert choose_threads("auto", registry=PeerRegistry(folder)).threads == 2  # alone again
        dead = PeerRegistry(folder, pid=2**22 + 12345)  # no such process: its file is ignored and removed
        dead.announce(0)
        assert choose_threads("auto", registry=PeerRegistry(folder)).threads == 2
        assert not (folder / str(2**22 + 12345)).exists()
    finally:
        torch.set_num_threads(before)


def test_the_decision_with_peers():
    assert decide_threads("auto", None, current=2, cores=2, load=0.0, busy=0.0, deciding_peers=1).threads == 1
    assert decide_threads("auto", None, current=2, cores=16, load=0.0, busy=0.0, deciding_peers=3).threads == 4
    assert decide_threads("auto", None, current=2, cores=16, load=0.0, busy=0.0, claimed=12).threads == 4
    assert decide_threads("auto", None, current=2, cores=2, load=0.0, busy=0.0, claimed=2).threads == 1  # at least one
