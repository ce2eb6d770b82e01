"""Faults survived (#21): preemption, full disks, concurrent runs, dead DDP ranks (fast part).

The multi-process cases (a real SIGTERM, the submitit launcher, a SIGKILLed DDP rank, two
real runs) are in tests/test_faults_processes.py under ``slow``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest
import torch
from conftest import TINY_TRAIN, run_main

from mmar_hydra.errors import CheckpointError, RunLockedError
from mmar_hydra.faults import ddp, lock
from mmar_hydra.faults.preempt import REQUEUE_EXIT_CODE, resume_command
from mmar_hydra.settings import parse_settings
from mmar_hydra.writers import diskspace


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_resume_takes_auto_true_false():
    assert parse_settings({"resume": "auto"}).resume == "auto"
    assert parse_settings({"resume": "true"}).resume is True
    with pytest.raises(Exception, match="auto"):
        parse_settings({"resume": "sometimes"})


def test_sigterm_mid_epoch_writes_resume_state_then_resume_auto_finishes(tiny_demo, monkeypatch):
    from mmar_hydra.engine.module import MMARLightningModule

    step = MMARLightningModule.training_step

    def preempted_step(self, batch, batch_idx):  # noqa: ANN001, ANN202
        if self.trainer.global_step == 0:  # the first of the 2 steps of epoch 1
            os.kill(os.getpid(), signal.SIGTERM)
        return step(self, batch, batch_idx)

    monkeypatch.setattr(MMARLightningModule, "training_step", preempted_step)
    args = (f"mmar={tiny_demo}", "task=train", *TINY_TRAIN, "resume=auto")  # 2 epochs
    proc = run_main(*args)
    assert proc.returncode == REQUEUE_EXIT_CODE, proc.stdout[-2000:] + proc.stderr[-2000:]
    out = proc.stdout + proc.stderr
    assert "stopped by SIGTERM at epoch 1, step 1" in out
    assert "resume with: python -m mmar_hydra" in out and "resume=auto" in out
    models = tiny_demo / "models"
    state = torch.load(models / "resume_state.pt", weights_only=True)
    assert state["global_step"] == 1  # the step in flight finished and is in the state
    assert not (models / lock.LOCK_FILENAME).exists()  # the lock went with the run

    monkeypatch.setattr(MMARLightningModule, "training_step", step)
    proc = run_main(*args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "resume: continuing from" in proc.stdout
    stats = json.loads((models / "train_stats.json").read_text())
    assert stats["epochs"] == 2 and stats["iterations"] == 4


def test_disk_full_during_save_keeps_the_previous_model(tiny_demo, monkeypatch):
    models = tiny_demo / "models"

    def free(folder):  # noqa: ANN001, ANN202 - full once epoch 1's resume state is on disk
        return 0 if (models / "resume_state.pt").exists() else 10**12

    monkeypatch.setattr(diskspace, "free_bytes", free)
    proc = run_main(f"mmar={tiny_demo}", "task=train", *TINY_TRAIN)
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "the disk is full" in proc.stderr and "Traceback" not in proc.stderr
    for name in ("model.pt", "resume_state.pt"):
        torch.load(models / name, weights_only=True)  # epoch 1's files, intact
    assert not list(models.glob(".*.tmp-*"))  # no half-written file left behind


def test_free_space_warns_at_twice_and_stops_at_once(tmp_path, monkeypatch, capsys):
    target = tmp_path / "model.pt"
    monkeypatch.setattr(diskspace, "free_bytes", lambda folder: 150)
    diskspace.check_free_space(target, 100)
    assert "low disk space for model.pt" in capsys.readouterr().out
    diskspace.check_free_space(target, 50)
    assert capsys.readouterr().out == ""
    with pytest.raises(CheckpointError, match="disk is full"):
        diskspace.check_free_space(target, 151)


def test_lock_refuses_a_live_run_and_takes_over_a_dead_ones(tmp_path, capsys):
    path = tmp_path / lock.LOCK_FILENAME
    host = __import__("socket").gethostname()
    path.write_text(json.dumps({"pid": os.getppid(), "host": host, "started": "t0"}))
    with pytest.raises(RunLockedError, match=f"pid {os.getppid()} on {host}, started t0"):
        with lock.run_lock(tmp_path):
            pass
    dead = _dead_pid()
    path.write_text(json.dumps({"pid": dead, "host": host, "started": "t0"}))
    with lock.run_lock(tmp_path):
        assert f"taking over the stale lock of a dead run (pid {dead}" in capsys.readouterr().out
        assert json.loads(path.read_text())["pid"] == os.getpid()
    assert not path.exists()


def test_second_train_on_a_locked_mmar_is_refused(tiny_demo):
    models = tiny_demo / "models"
    models.mkdir(exist_ok=True)
    host = __import__("socket").gethostname()
    record = {"pid": os.getppid(), "host": host, "started": "2026-01-01T03:00:00+00:00"}
    (models / lock.LOCK_FILENAME).write_text(json.dumps(record))
    proc = run_main(f"mmar={tiny_demo}", "task=train", *TINY_TRAIN)
    assert proc.returncode == 2
    assert f"another training run is using this checkpoint folder (pid {os.getppid()}" in (
        proc.stderr
    )
    assert not (models / "model.pt").exists()


def test_ddp_timeout_reaches_the_strategy():
    from pytorch_lightning.strategies import DDPStrategy

    kwargs = {"strategy": DDPStrategy(process_group_backend="gloo")}
    ddp.apply_ddp_timeout(kwargs, 7)
    assert kwargs["strategy"]._timeout.total_seconds() == 7
    kwargs = {"strategy": "ddp"}
    ddp.apply_ddp_timeout(kwargs, 9)
    assert kwargs["strategy"]._timeout.total_seconds() == 9


def test_a_killed_rank_is_named():
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    proc.kill()
    proc.wait()

    class Launcher:
        procs = [proc]

    class Trainer:
        strategy = type("S", (), {"launcher": Launcher()})()
        global_rank, world_size = 0, 2

    error = ddp.dead_rank_error(Trainer(), RuntimeError("gloo: Connection closed by peer"), 5)
    assert error is not None
    assert f"rank 0 stops: rank 1 (pid {proc.pid}) killed by SIGKILL" in error.what
    assert "ddp_timeout=5 s" in error.expected
    assert ddp.dead_rank_error(Trainer(), CheckpointError("disk"), 5) is None  # kept as it is


def test_resume_command_replaces_resume():
    cmd = resume_command(["mmar=/m", "task=train", "resume=false", "epochs=3"])
    assert cmd == "python -m mmar_hydra mmar=/m task=train epochs=3 resume=auto"


def test_loggers_are_flushed_at_every_epoch_end():
    from mmar_hydra.faults.hygiene import FlushLoggersCallback

    flushed = []
    writer = type("W", (), {"flush": lambda self: flushed.append(1)})()
    trainer = type("T", (), {"loggers": [type("L", (), {"experiment": writer})()]})()
    callback = FlushLoggersCallback()
    callback.on_train_epoch_end(trainer, None)
    callback.on_validation_epoch_end(trainer, None)
    assert len(flushed) == 2
