"""Workers started independently share one Optuna study in a database (issue #30).

``hparams_search`` sweeps (``python -m mmar_hydra -m ... hparams_search=demo_optuna``) against
a real PostgreSQL server (3 workers: one killed mid-trial, one started late) and against a
SQLite file (2 workers, one killed). ``slow``: each worker is a process that trains.
"""

from __future__ import annotations

import csv
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from conftest import run_main

from mmar_hydra.study.worker import DUPLICATE_OF, WORKER, retry_of

pytestmark = pytest.mark.slow

SMALL = [
    "num_interval_per_valid=1",
    "train.pre_transforms.6.args.spatial_size=[16,16,16]",
    "validate.inferer.args.roi_size=[16,16,16]",
    "train.model.args.strides=[2,2,2]",
]


def _sweep_worker(
    spawned: list, mmar: Path, url: str, study: str, log: Path, *extra: str
) -> subprocess.Popen:
    cmd = [
        sys.executable, "-m", "mmar_hydra", "-m", f"mmar={mmar}", "task=train",
        "hparams_search=demo_optuna", *SMALL, "epochs=6",
        f"hydra.sweeper.storage='{url}'", f"hydra.sweeper.study_name={study}",
        "hydra.sweeper.n_trials=6", "hydra.sweeper.heartbeat_s=1", "hydra.sweeper.grace_s=5",
        "hydra.sweeper.poll_s=0.5", *extra,
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=log.open("w"), stderr=subprocess.STDOUT)
    spawned.append(proc)
    return proc


def _study(url: str, name: str) -> Any:
    import optuna

    return optuna.load_study(study_name=name, storage=url)


def _trials_of(url: str, name: str) -> list[Any]:
    return [t for t in _study(url, name).get_trials() if DUPLICATE_OF not in t.user_attrs]


def _wait_running(url: str, name: str, proc: subprocess.Popen, log: Path) -> Any:
    """The trial ``proc`` runs, once its training has written something."""
    from optuna.trial import TrialState

    deadline = time.monotonic() + 240
    while True:
        assert proc.poll() is None, log.read_text()[-3000:]
        assert time.monotonic() < deadline, "the worker never ran a trial"
        try:
            for t in _trials_of(url, name):
                mine = str(t.user_attrs.get(WORKER, "")).endswith(f":{proc.pid}")
                run = Path(str(t.user_attrs.get("run_dir", "-"))) / "mmar" / "models"
                if mine and t.state == TrialState.RUNNING and run.is_dir():
                    return t
        except KeyError:  # the study is not created yet
            pass
        time.sleep(0.3)


def _check_study(url: str, name: str, killed: subprocess.Popen, dead_trial: Any) -> list[Any]:
    """6 distinct finished trials, the killed worker's trial failed and run again by another."""
    from optuna.trial import TrialState

    from mmar_hydra.study.worker import _key

    trials = _trials_of(url, name)
    done = [t for t in trials if t.state == TrialState.COMPLETE]
    failed = [t for t in trials if t.state == TrialState.FAIL]
    assert len(done) == 6, [(t.number, t.state, t.params) for t in trials]
    assert len({_key(t.params) for t in done}) == 6  # no configuration trained twice
    assert [t.number for t in failed] == [dead_trial.number]
    again = [t for t in done if retry_of(t) == dead_trial.number]
    assert len(again) == 1 and again[0].params == dead_trial.params
    assert not again[0].user_attrs[WORKER].endswith(f":{killed.pid}")
    for t in done:
        assert (Path(t.user_attrs["run_dir"]) / "mmar" / "models" / "final_model.pt").is_file()
    return done


def _sweep_with_a_killed_worker(
    spawned: list, tiny_demo: Path, tmp_path: Path, url: str, late: bool
) -> None:
    name = f"s{uuid.uuid4().hex[:8]}"
    first = _sweep_worker(spawned, tiny_demo, url, name, tmp_path / "first.log")
    victim = _sweep_worker(spawned, tiny_demo, url, name, tmp_path / "victim.log")
    dead_trial = _wait_running(url, name, victim, tmp_path / "victim.log")
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    workers = [first]
    if late:  # joins a study that is half done, with a trial of a dead worker in it
        workers.append(_sweep_worker(spawned, tiny_demo, url, name, tmp_path / "late.log"))
    for proc, log in zip(workers, ("first.log", "late.log"), strict=False):
        assert proc.wait(timeout=600) == 0, (tmp_path / log).read_text()[-3000:]
    done = _check_study(url, name, victim, dead_trial)
    if late:
        late_pid = f":{workers[1].pid}"
        assert any(t.user_attrs[WORKER].endswith(late_pid) for t in done), (
            "the late worker ran none"
        )

    out = tmp_path / "cmp"
    proc = run_main("task=compare", f"runs='optuna:{url}/{name}'", f"out={out}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = list(csv.DictReader((out / "compare.csv").open()))
    assert len(rows) == 7  # 6 finished trials and the killed one; no duplicates listed
    assert {r["status"] for r in rows} == {"finished", "failed"}
    finished = [r for r in rows if r["status"] == "finished"]
    assert all(Path(r["run folder"]).is_dir() and r["learning_rate"] != "-" for r in finished)
    assert all(r["best val_mean_dice"] != "-" and r["worker"] != "-" for r in finished)
    assert sum(r["run"].endswith(f"(retry of {dead_trial.number})") for r in rows) == 1


def test_three_workers_share_a_postgresql_study(tiny_demo, tmp_path, postgres_url, spawned):
    _sweep_with_a_killed_worker(spawned, tiny_demo, tmp_path, postgres_url, late=True)


def test_two_workers_share_a_sqlite_study(tiny_demo, tmp_path, spawned):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    _sweep_with_a_killed_worker(spawned, tiny_demo, tmp_path, url, late=False)
