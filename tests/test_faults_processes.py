"""Faults survived (#21) across real processes: SIGTERM, submitit, a killed DDP rank, two runs.

All ``slow``: each starts training processes of its own (``make test-slow``).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import torch
from conftest import TINY_TRAIN, run_main

from mmar_hydra.faults.lock import LOCK_FILENAME
from mmar_hydra.faults.preempt import REQUEUE_EXIT_CODE

pytestmark = pytest.mark.slow

_STARTED: list[subprocess.Popen] = []


@pytest.fixture(autouse=True)
def _stop_leftovers():
    """A failed assertion must not leave a training run (and its DDP children) behind."""
    yield
    while _STARTED:
        proc = _STARTED.pop()
        if proc.poll() is None:
            for child in psutil.Process(proc.pid).children(recursive=True):
                child.kill()
            proc.kill()
            proc.wait()


def _start(mmar: Path, *args: str, log: Path, cmd: list[str] | None = None) -> subprocess.Popen:
    base = [sys.executable, "-m", "mmar_hydra", f"mmar={mmar}", "task=train", *TINY_TRAIN]
    proc = subprocess.Popen(cmd or [*base, *args], stdout=log.open("w"), stderr=subprocess.STDOUT)
    _STARTED.append(proc)
    return proc


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, f"the run ended before {path.name} appeared"
        assert time.monotonic() < deadline, f"no {path} after {timeout} s"
        time.sleep(0.2)


def test_sigterm_to_a_real_run_then_resume_auto(tiny_demo, tmp_path):
    models = tiny_demo / "models"
    log = tmp_path / "run.log"
    proc = _start(tiny_demo, "epochs=40", "resume=auto", log=log)
    _wait_for(models / "resume_state.pt", proc)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == REQUEUE_EXIT_CODE, log.read_text()[-3000:]
    text = log.read_text()
    assert "preempted: training stopped by SIGTERM" in text and "Traceback" not in text
    assert "resume with: python -m mmar_hydra" in text
    stopped = torch.load(models / "resume_state.pt", weights_only=True)["global_step"]
    assert 2 <= stopped < 8  # at least epoch 1 done, well before epoch 4
    proc = run_main(f"mmar={tiny_demo}", "task=train", *TINY_TRAIN, "epochs=4", "resume=auto")
    assert proc.returncode == 0, proc.stderr[-3000:]
    stats = json.loads((models / "train_stats.json").read_text())
    assert stats["epochs"] == 4 and stats["iterations"] == 8


def test_sigterm_under_the_submitit_local_launcher(tiny_demo, tmp_path):
    log = tmp_path / "sweep.log"
    cmd = [
        sys.executable, "-m", "mmar_hydra", "-m", f"mmar={tiny_demo}", "task=train",
        "hydra/launcher=local", *TINY_TRAIN, "epochs=40", "learning_rate=0.001",
    ]  # fmt: skip
    proc = _start(tiny_demo, log=log, cmd=cmd)
    deadline = time.monotonic() + 180
    state = None
    while state is None:
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
        found = list((tiny_demo / "runs").glob("multirun_*/0/mmar/models/resume_state.pt"))
        state = found[0] if found else None
        time.sleep(0.3)
    jobs = [
        p
        for p in psutil.Process(proc.pid).children(recursive=True)
        if "submitit" in " ".join(p.cmdline())
    ]
    assert jobs, "no submitit job process"
    for job in jobs:
        job.send_signal(signal.SIGTERM)
    proc.wait(timeout=120)
    job_dir = state.parents[2]
    logs = "".join(p.read_text() for p in (job_dir.parent / ".submitit").glob("*/*_log.*"))
    assert "stopped by SIGTERM" in logs, logs[-3000:]
    assert "resume=auto" in logs
    torch.load(state, weights_only=True)  # the job's resume state, written and loadable


def test_a_sigkilled_ddp_rank_stops_the_survivor_with_a_message(tiny_demo, tmp_path):
    log = tmp_path / "ddp.log"
    args = ("trainer=ddp_cpu", "trainer.devices=2", "epochs=400", "ddp_timeout=20")
    proc = _start(tiny_demo, *args, log=log)
    _wait_for(tiny_demo / "models" / "resume_state.pt", proc, timeout=180)
    children = [
        p for p in psutil.Process(proc.pid).children() if "mmar_hydra" in " ".join(p.cmdline())
    ]
    assert children, "no rank-1 process"
    children[0].send_signal(signal.SIGKILL)
    killed = time.monotonic()
    code = proc.wait(timeout=90)
    took = time.monotonic() - killed
    text = log.read_text()
    print(f"the survivor exited {took:.1f} s after the kill")
    assert code != 0 and took < 20 + 15, (code, took, text[-3000:])
    assert f"rank 1 (pid {children[0].pid}) killed by SIGKILL" in text, text[-3000:]
    torch.load(tiny_demo / "models" / "resume_state.pt", weights_only=True)


def test_second_run_refused_then_takeover_after_kill_9(tiny_demo, tmp_path):
    models = tiny_demo / "models"
    first = _start(tiny_demo, "epochs=400", log=tmp_path / "first.log")
    _wait_for(models / LOCK_FILENAME, first)
    proc = run_main(f"mmar={tiny_demo}", "task=train", *TINY_TRAIN)
    assert proc.returncode == 2
    assert f"another training run is using this checkpoint folder (pid {first.pid}" in proc.stderr
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert (models / LOCK_FILENAME).exists()  # kill -9 leaves the lock behind
    proc = run_main(f"mmar={tiny_demo}", "task=train", *TINY_TRAIN, "epochs=1")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"taking over the stale lock of a dead run (pid {first.pid}" in proc.stdout
    assert not (models / LOCK_FILENAME).exists()
