"""Crash safety: SIGKILL at random points, resume=true, NaN losses, atomic artifacts."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time

import pytest
import torch
from conftest import TINY_TRAIN, run_main

ARTIFACTS = ("model.pt", "final_model.pt", "resume_state.pt")


def _loadable(models) -> None:
    for name in ARTIFACTS:
        path = models / name
        if path.exists():  # never truncated: the old file or the new one
            torch.load(path, weights_only=True)
    if (models / "train_stats.json").exists():
        json.loads((models / "train_stats.json").read_text())


@pytest.mark.slow
def test_sigkill_at_random_points_then_resume(tiny_demo):
    models = tiny_demo / "models"
    cmd = [
        sys.executable,
        "-m",
        "mmar_hydra",
        f"mmar={tiny_demo}",
        "task=train",
        *TINY_TRAIN,
        "epochs=600",
        "resume=true",
    ]
    rng = random.Random(0)
    kills, best_seen = 0, None
    log = tiny_demo / "kill_test.log"
    for _ in range(7):
        with log.open("w") as out:
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
            time.sleep(rng.uniform(5.5, 9.0))
        if proc.poll() is not None:
            assert proc.returncode == 0, log.read_text()[-3000:]  # it must not have failed
            break  # finished before this kill
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
        _loadable(models)
        if (models / "resume_state.pt").exists():
            state = torch.load(models / "resume_state.pt", weights_only=True)
            best = state["callbacks"]["ClaraCheckpointCallback"]["best_value"]
            best_seen = best if best_seen is None or (best or 0) > best_seen else best_seen
    assert kills >= 5
    proc = run_main(*cmd[3:])  # resume to the end
    assert proc.returncode == 0, proc.stderr[-3000:]
    _loadable(models)
    stats = json.loads((models / "train_stats.json").read_text())
    assert stats["epochs"] == 600 and stats["iterations"] == 600 * 2
    assert best_seen is None or stats["best_key_metric"] >= best_seen - 1e-9


def test_resume_continues_to_the_same_epoch_count(tiny_demo):
    models = tiny_demo / "models"
    assert run_main(f"mmar={tiny_demo}", "task=train", *TINY_TRAIN, "epochs=1").returncode == 0
    first = json.loads((models / "train_stats.json").read_text())
    proc = run_main(f"mmar={tiny_demo}", "task=train", *TINY_TRAIN, "epochs=3", "resume=true")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "resume: continuing from" in proc.stdout
    stats = json.loads((models / "train_stats.json").read_text())
    assert stats["iterations"] == 3 * first["iterations"]  # 2 more epochs, not 3
    assert len(stats["epoch_times"]) == 3  # the history carried over
    assert stats["best_key_metric"] >= first["best_key_metric"]


def test_nan_loss_stops_with_epoch_and_iteration(tiny_demo):
    before = None
    assert run_main(f"mmar={tiny_demo}", "task=train", *TINY_TRAIN, "epochs=1").returncode == 0
    before = (tiny_demo / "models" / "model.pt").read_bytes()
    proc = run_main(
        f"mmar={tiny_demo}",
        "task=train",
        *TINY_TRAIN,
        "learning_rate=1e30",
        "train.loss.name=DiceLoss",
    )
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert (
        "training loss is" in proc.stderr and "epoch" in proc.stderr and "iteration" in proc.stderr
    )
    # the last good best model is kept (the NaN run never beat it)
    assert (tiny_demo / "models" / "model.pt").read_bytes() == before


def test_kill_during_a_save_leaves_a_loadable_file(tmp_path):
    """SIGKILL a process that keeps rewriting a large checkpoint: the file is never half-written."""
    target = tmp_path / "model.pt"
    code = (
        "import torch, sys\n"
        "from mmar_hydra.writers.atomic import atomic_torch_save\n"
        "i = 0\n"
        "while True:\n"
        "    atomic_torch_save({'model': {'w': torch.full((4_000_000,), float(i))}}, sys.argv[1])\n"
        "    i += 1\n"
    )
    rng = random.Random(1)
    for _ in range(5):
        before = target.stat().st_mtime_ns if target.exists() else None
        proc = subprocess.Popen([sys.executable, "-c", code, str(target)])
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # once this process has saved, it is in its loop
            if target.exists() and target.stat().st_mtime_ns != before:
                break
            time.sleep(0.02)
        time.sleep(rng.uniform(0.0, 0.4))  # then kill it somewhere inside a save
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        state = torch.load(target, weights_only=True)["model"]["w"]
        assert state.numel() == 4_000_000 and bool((state == state[0]).all())
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "model.pt"]
    assert all(name.startswith(".model.pt.tmp-") for name in leftovers)  # only killed temp files
