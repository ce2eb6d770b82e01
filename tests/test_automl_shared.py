"""``task=automl automl.storage=URL``: workers share one Clara AutoML search (issue #30).

Clara's ``cte_automl_40`` (``trn_autoML_LR_LP.json``, unmodified) on tiny synthetic data, 3
workers against PostgreSQL: one killed mid-trial, one started after the kill; every worker ends with the
same report. ``slow``; skipped without ../shared/clara_examples or a PostgreSQL server.
"""

from __future__ import annotations

import csv
import json
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from mmar_hydra.study.worker import WORKER, retry_of

pytestmark = [pytest.mark.slow, pytest.mark.real_clara]

NAME = "trn_autoML_LR_LP.json"


def _worker(
    spawned: list, mmar: Path, data: Path, url: str, study: str, log: Path
) -> subprocess.Popen:
    cmd = [
        sys.executable, "-m", "mmar_hydra", f"mmar={mmar}", "task=automl",
        f"config_file=config/{NAME}", "automl.trials=5", f"automl.storage='{url}'",
        f"automl.study={study}", "automl.heartbeat_s=1", "automl.grace_s=5", "epochs=10",
        f"DATA_ROOT={data}", f"DATASET_JSON={data / 'dataset.json'}",
        "train.pre_transforms.5.args.spatial_size=[32,32,32]",
        "train.pre_transforms.5.args.num_samples=1", "validate.inferer.args.roi_size=[32,32,32]",
        "train.dataloader.args.num_workers=0", "validate.dataloader.args.num_workers=0",
        "num_interval_per_valid=1",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=log.open("w"), stderr=subprocess.STDOUT)
    spawned.append(proc)
    return proc


def test_three_automl_workers_share_a_postgresql_search(
    clara_examples, tmp_path, postgres_url, spawned
):
    import optuna
    from optuna.trial import TrialState

    from mmar_hydra.demo.synthetic import generate_dataset

    data = tmp_path / "data"
    generate_dataset(data, n_train=2, n_val=1, n_test=1, shape=(40, 40, 32))
    mmar = tmp_path / "cte_automl_40"
    shutil.copytree(clara_examples / "public" / "cte_automl_40", mmar)
    crop = json.loads((mmar / "config" / NAME).read_text())["train"]["pre_transforms"][5]
    assert "RandCrop" in crop["name"]  # the overrides above shrink this crop
    study = f"a{uuid.uuid4().hex[:8]}"
    first = _worker(spawned, mmar, data, postgres_url, study, tmp_path / "first.log")
    victim = _worker(spawned, mmar, data, postgres_url, study, tmp_path / "victim.log")
    deadline = time.monotonic() + 300
    dead = None
    while dead is None:
        assert victim.poll() is None and time.monotonic() < deadline, (
            tmp_path / "victim.log"
        ).read_text()[-3000:]
        time.sleep(0.3)
        try:
            trials = optuna.load_study(study_name=study, storage=postgres_url).get_trials()
        except KeyError:
            continue
        for t in trials:
            folder = Path(str(t.user_attrs.get("run_dir", "-"))) / "models"
            mine = str(t.user_attrs.get(WORKER, "")).endswith(f":{victim.pid}")
            if mine and t.state == TrialState.RUNNING and folder.is_dir():
                dead = t
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    late = _worker(spawned, mmar, data, postgres_url, study, tmp_path / "late.log")
    for proc, log in ((first, "first.log"), (late, "late.log")):
        assert proc.wait(timeout=600) == 0, (tmp_path / log).read_text()[-3000:]

    trials = [  # a sample equal to an earlier one is recorded as its duplicate, not trained
        t
        for t in optuna.load_study(study_name=study, storage=postgres_url).get_trials()
        if "mmar_hydra.duplicate_of" not in t.user_attrs
    ]
    done = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(done) == 5 and len({json.dumps(t.params, sort_keys=True) for t in done}) == 5
    assert [t.number for t in trials if t.state == TrialState.FAIL] == [dead.number]
    assert [t.params for t in done if retry_of(t) == dead.number] == [dead.params]
    assert any(t.user_attrs[WORKER].endswith(f":{late.pid}") for t in done)
    search = mmar / "automl" / NAME.removesuffix(".json")
    rows = list(csv.DictReader((search / "automl_report.csv").open()))
    assert len(rows) == 6  # 5 trials and the killed one
    assert sum("its worker stopped" in r["status"] for r in rows) == 1
    assert (search / "best" / "models" / "model.pt").is_file()
    best = json.loads((search / "best" / "best.json").read_text())["trial"]
    assert best in {t.number for t in done}
