"""scripts/slurm/train.sbatch's time-limit logic, with stub ``srun`` and ``scontrol`` on PATH (no SLURM needed):
the signal SLURM sends the batch shell reaches the training step, and the job requeues itself once the step has
saved and stopped; a run that ends on its own is not requeued and keeps its exit status."""

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parents[1] / "scripts" / "slurm" / "train.sbatch"

# The training step: logs its arguments, checkpoints on SIGTERM (as pixelvit does) and exits 130; else it
# runs for $STEP_SECONDS and exits with $STEP_STATUS.
SRUN = """#!/bin/bash
echo "srun $*" >> "$LOG"
trap 'echo "step got TERM, saved" >> "$LOG"; exit 130' TERM
echo started > "$LOG.started"
for _ in $(seq 1 $((STEP_SECONDS * 10))); do sleep 0.1; done
exit "$STEP_STATUS"
"""
SCONTROL = """#!/bin/bash
if [ "$1" = show ]; then echo node7; echo node8; exit 0; fi
echo "scontrol $*" >> "$LOG"
"""


@pytest.fixture
def stubs(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("srun", SRUN), ("scontrol", SCONTROL)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    log = tmp_path / "log"
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "LOG": str(log), "SLURM_JOB_ID": "42",
           "SLURM_NNODES": "2", "SLURM_JOB_NODELIST": "node[7-8]", "SLURM_GPUS_ON_NODE": "4"}  # fmt: skip
    return env, log


def start(env, seconds, status=0):
    env = {**env, "STEP_SECONDS": str(seconds), "STEP_STATUS": str(status)}
    return subprocess.Popen(["bash", str(SCRIPT), "configs/imagenet/vit_l1.yaml", "train.epochs=2"], env=env,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip


def wait_for(path: Path, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < end, f"{path} never appeared"
        time.sleep(0.05)


def test_the_script_asks_for_the_signal_on_the_batch_shell_and_requeues():
    text = SCRIPT.read_text()
    assert "#SBATCH --signal=B:USR1@120" in text and "#SBATCH --requeue" in text and "trap on_time_limit USR1" in text


def test_time_limit_stops_the_step_then_requeues_the_job(stubs):
    env, log = stubs
    job = start(env, seconds=30)
    wait_for(Path(f"{log}.started"))
    job.send_signal(signal.SIGUSR1)  # what SLURM sends 120 s before the limit
    _, err = job.communicate(timeout=60)
    assert job.returncode == 0, err
    lines = log.read_text().splitlines()
    assert lines[0].startswith("srun torchrun --nnodes=2 --nproc_per_node=4 --rdzv_id=42")
    assert "--rdzv_endpoint=node7:29500 -m pixelvit train configs/imagenet/vit_l1.yaml train.epochs=2" in lines[0]
    assert lines[1:] == ["step got TERM, saved", "scontrol requeue 42"]  # requeued only after the step saved
    assert "requeueing job 42" in err


@pytest.mark.parametrize("status", [0, 1])
def test_a_run_that_ends_on_its_own_is_not_requeued_and_keeps_its_status(stubs, status):
    env, log = stubs
    job = start(env, seconds=0, status=status)
    job.communicate(timeout=60)
    assert job.returncode == status
    assert not any(line.startswith("scontrol") for line in log.read_text().splitlines())
