"""How many CPU threads torch may use: ``train.threads`` (and the ``--threads`` of eval and sampling).

``auto`` takes the cores that are actually free when the run starts: the cores this process may run
on (affinity, and a cgroup CPU quota where one is set), less the load other processes put on them
(the cores busy right now, sampled for a quarter of a second; the 1-minute load average where that
cannot be read), shared among the processes of this node under torchrun. On 2 cores, two
jobs that each spin 2 threads run many times slower than a fair share would (measured: 15x instead
of 2x); with ``auto`` the second job takes what is left. Jobs that start together see an idle machine in
their quarter-second samples, so each ``auto`` decision is also announced in a small per-user folder of
the temporary directory (:class:`PeerRegistry`: one file per process id, removed at exit, a dead process's
ignored): processes deciding at the same moment split the free cores between them (measured: two demos
started together each took 2 threads on 2 cores and ran at 16 % of their solo speed). ``OMP_NUM_THREADS``,
when set, is the user's choice and wins over ``auto``. A number is used as given.

The thread count can change the order of float reductions, so two runs of the same seed agree to
float rounding, not bit for bit, when their thread counts differ; a resumed run uses the count of
its first start, so resuming stays exact.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import torch


@dataclass(frozen=True)
class ThreadChoice:
    """The thread count a run uses and why (recorded in ``summary.json``)."""

    threads: int
    source: str  # "auto" | "OMP_NUM_THREADS" | "config" | "resumed"
    reason: str

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def cgroup_cpu_limit(cpu_max: Path = Path("/sys/fs/cgroup/cpu.max")) -> float | None:
    """The cgroup (v2) CPU quota in cores ("200000 100000" -> 2.0), None where there is none or no file."""
    try:
        quota, period = cpu_max.read_text().split()[:2]
    except (OSError, ValueError):
        return None
    if quota == "max":
        return None
    try:
        return max(0.01, int(quota) / int(period))
    except (ValueError, ZeroDivisionError):
        return None


def usable_cores() -> int:
    """The cores this process may run on: its affinity mask, capped by a cgroup CPU quota."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    quota = cgroup_cpu_limit()
    return max(1, min(cores, int(quota)) if quota is not None else cores)


def load_average() -> float:
    """The 1-minute load average (0.0 where the platform has none)."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return 0.0


def cpu_times(stat: Path = Path("/proc/stat")) -> tuple[int, int] | None:
    """(idle, total) jiffies of all CPUs from ``/proc/stat`` (None where there is none)."""
    try:
        fields = [int(v) for v in stat.read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError, IndexError):
        return None
    if len(fields) < 4:
        return None
    return fields[3] + (fields[4] if len(fields) > 4 else 0), sum(fields[:8])  # idle + iowait; user..steal


def busy_cores(window_s: float = 0.25, stat: Path = Path("/proc/stat")) -> float | None:
    """How many of the machine's cores other processes keep busy right now: the CPU time spent over
    ``window_s`` while this process sleeps. The load average lags by a minute, so two jobs started together
    would each see an idle machine; this sees the other one. None where ``/proc/stat`` is missing."""
    before = cpu_times(stat)
    time.sleep(window_s)
    after = cpu_times(stat)
    if before is None or after is None or after[1] <= before[1]:
        return None
    idle, total = after[0] - before[0], after[1] - before[1]
    return (1.0 - idle / total) * (os.cpu_count() or 1)


def free_cores(cores: int, load: float, busy: float | None = None) -> int:
    """Cores free of other work: ``cores`` less the cores other processes keep ``busy`` now when that was
    measured, else less the 1-minute ``load`` (of which up to one core is taken to be this process itself). The
    load average also counts this process's own earlier runs (a demo or a study training one run after another),
    the busy sample does not; at least one."""
    others = busy if busy is not None else load - 1.0
    return max(1, cores - round(max(0.0, others)))


class PeerRegistry:
    """pixelvit processes of this user deciding or using ``auto`` threads on this machine: ``folder/<pid>`` holds
    the threads a process took (``0`` while it decides). Files of dead processes are ignored and removed."""

    def __init__(self, folder: Path | None = None, pid: int | None = None):
        self.folder = folder or Path(tempfile.gettempdir()) / f"pixelvit-threads-{os.getuid() if hasattr(os, 'getuid') else 0}"
        self.pid = pid if pid is not None else os.getpid()

    def announce(self, threads: int) -> None:
        """Record this process's threads (0: deciding); removed when the process exits. Best effort: a registry
        that cannot be written is no reason to stop a run."""
        try:
            self.folder.mkdir(mode=0o700, exist_ok=True)
            tmp = self.folder / f".{self.pid}.tmp"
            tmp.write_text(str(threads))
            os.replace(tmp, self.folder / str(self.pid))
        except OSError:
            return
        if self.pid == os.getpid():
            atexit.register(self.withdraw)

    def withdraw(self) -> None:
        with contextlib.suppress(OSError):
            (self.folder / str(self.pid)).unlink()

    def peers(self, within_s: float = 10.0) -> dict[int, int]:
        """{pid: threads} of the other live processes that announced in the last ``within_s`` seconds (0: still
        deciding). Older ones already show in the busy-cores sample."""
        out: dict[int, int] = {}
        try:
            entries = list(self.folder.iterdir())
        except OSError:
            return out
        now = time.time()
        for entry in entries:
            if not entry.name.isdigit() or int(entry.name) == self.pid:
                continue
            pid = int(entry.name)
            if not _alive(pid):
                with contextlib.suppress(OSError):
                    entry.unlink()
                continue
            try:
                if now - entry.stat().st_mtime <= within_s:
                    out[pid] = int(entry.read_text().strip() or 0)
            except (OSError, ValueError):
                continue
        return out


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def decide_threads(
    requested: int | str,
    omp_num_threads: str | None,
    current: int,
    cores: int,
    load: float,
    local_processes: int = 1,
    busy: float | None = None,
    option: str = "train.threads",
    deciding_peers: int = 0,
    claimed: int = 0,
) -> ThreadChoice:
    """The thread count for ``requested`` (``"auto"`` or a positive number).

    ``omp_num_threads``: the variable's value (None: unset); when set, ``auto`` keeps torch's ``current`` count
    (which torch took from it, or which the caller set since). ``cores``: usable cores; ``load``: 1-minute load
    average; ``busy``: cores other processes keep busy now (:func:`busy_cores`); ``local_processes``: training
    processes on this node, which share the free cores; ``option``: the setting's name, for the reason;
    ``deciding_peers``: other processes choosing ``auto`` threads at this moment (:class:`PeerRegistry`), which
    share the free cores too; ``claimed``: threads that processes which decided a moment ago took (not yet busy
    enough to show in ``busy``).
    """
    if requested != "auto":
        return ThreadChoice(int(requested), "config", f"{option}={requested}")
    if omp_num_threads:
        return ThreadChoice(current, "OMP_NUM_THREADS", f"OMP_NUM_THREADS={omp_num_threads} is set")
    free = free_cores(cores, load, busy)
    if claimed > 0:
        free = max(1, min(free, cores - claimed))
    sharing = max(1, local_processes) + max(0, deciding_peers)
    threads = max(1, free // sharing)
    share = f", shared by {sharing} processes" if sharing > 1 else ""
    now = f", {busy:.1f} busy now" if busy is not None else ""
    return ThreadChoice(threads, "auto", f"{free} of {cores} cores free (load {load:.1f}{now}){share}")


def choose_threads(requested: int | str, option: str = "train.threads", registry: PeerRegistry | None = None) -> ThreadChoice:
    """:func:`decide_threads` for this process, this machine and this moment (sampling the cores' use for a
    quarter of a second only when ``auto`` has to decide)."""
    local = int(os.environ.get("LOCAL_WORLD_SIZE", "1") or 1)
    omp = os.environ.get("OMP_NUM_THREADS") or None
    if requested != "auto" or omp is not None:
        return decide_threads(requested, omp, torch.get_num_threads(), usable_cores(), load_average(), local, None, option)
    if local > 1:  # torchrun's processes on this node already share the free cores (LOCAL_WORLD_SIZE)
        return decide_threads("auto", None, torch.get_num_threads(), usable_cores(), load_average(), local, busy_cores(), option)
    registry = registry or PeerRegistry()
    registry.announce(0)  # deciding: a process starting now sees this one, and the other way round
    busy = busy_cores()
    peers = registry.peers()
    deciding, claimed = sum(1 for t in peers.values() if t == 0), sum(peers.values())
    choice = decide_threads(
        "auto", None, torch.get_num_threads(), usable_cores(), load_average(), local, busy, option, deciding, claimed
    )
    registry.announce(choice.threads)
    return choice


@contextlib.contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """Run the block with ``threads`` intra-op threads, restoring the previous count after it."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)
