"""task=cv end to end on the tiny demo: fold runs, split files, report, resume, compare; then
an ensemble of well-trained fold models against its members (slow: they train)."""

from __future__ import annotations

import csv
import json

import pytest
from conftest import TINY_EVAL, TINY_TRAIN, run_main

from mmar_hydra.cv.split import case_id

pytestmark = pytest.mark.slow


def _source_cases(mmar, key: str) -> set[str]:
    from mmar_hydra.components.datalist import load_datalist

    return {case_id(i) for i in load_datalist(mmar / "data" / "dataset.json", mmar / "data", key)}


def test_cv_three_folds_two_epochs_split_report_resume_and_compare(tiny_demo, tmp_path):
    proc = run_main(f"mmar={tiny_demo}", "task=cv", "folds=3", *TINY_TRAIN)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    cv = tiny_demo / "cv"
    assert json.loads((cv / "run_info.json").read_text())["cv"]["folds"] == 3
    training = _source_cases(tiny_demo, "training")
    seen: list[str] = []
    for fold in range(3):
        mmar = cv / f"fold_{fold}" / "mmar"
        assert (mmar / "models" / "model.pt").is_file() and (
            mmar / "models" / "final_model.pt"
        ).is_file()
        assert json.loads((mmar / "clone.json").read_text())["parent"] == str(tiny_demo)
        split_file = cv / "splits" / f"fold_{fold}.json"
        env = json.loads((mmar / "config" / "environment.json").read_text())
        assert env["DATASET_JSON"] == str(split_file)  # the fold trained on its own datalist
        datalist = json.loads(split_file.read_text())
        val = {case_id(i) for i in datalist["validation"]}
        train = {case_id(i) for i in datalist["training"]}
        assert val and not val & train and val | train == training
        seen += sorted(val)
        stats = json.loads((mmar / "models" / "train_stats.json").read_text())
        oof = json.loads((cv / "oof" / f"fold_{fold}" / "oof.json").read_text())
        assert oof["cases"] == len(val)
        # the out-of-fold pass reproduces the fold's best validation exactly
        assert oof["value"] == pytest.approx(stats["best_key_metric"], abs=1e-4)
    assert sorted(seen) == sorted(training)  # every case validates in exactly one fold
    assert not (tiny_demo / "models").exists()  # nothing was written into the parent's models/
    rows = list(csv.DictReader((cv / "cv_report.csv").open()))
    assert [r["fold"] for r in rows] == ["0", "1", "2", "mean", "sd"]
    assert {"best val_mean_dice", "best epoch", "out-of-fold val_mean_dice"} <= set(rows[0])
    assert all(r["status"] == "finished" for r in rows[:3])
    best = [float(r["best val_mean_dice"]) for r in rows[:3]]
    assert float(rows[3]["best val_mean_dice"]) == pytest.approx(sum(best) / 3, abs=1e-4)
    assert "+- " in (cv / "cv_report.md").read_text()
    assert (cv / "cv_report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # resume: nothing left to train; then only the fold whose training did not finish
    proc = run_main(f"mmar={tiny_demo}", "task=cv", "folds=3", *TINY_TRAIN)
    assert proc.returncode == 0 and "nothing to train" in proc.stdout
    kept = (cv / "fold_0" / "mmar" / "models" / "model.pt").stat().st_mtime_ns
    (cv / "fold_1" / "mmar" / "models" / "final_model.pt").unlink()
    # ... under another Hydra launcher: submitit's local processes, the path SLURM takes
    proc = run_main(f"mmar={tiny_demo}", "task=cv", "folds=3", *TINY_TRAIN, "hydra/launcher=local")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "cv: training fold(s) 1 as a sweep" in proc.stdout and "cv_fold=1 " in proc.stdout
    assert "hydra/launcher=local" in proc.stdout
    assert list((cv / ".submitit").glob("*/*_log.out"))  # submitit ran the fold
    assert (cv / "fold_1" / "mmar" / "models" / "final_model.pt").is_file()
    assert (cv / "fold_0" / "mmar" / "models" / "model.pt").stat().st_mtime_ns == kept
    retrained = cv / "fold_1" / "mmar" / "models" / "model.pt"
    assert (cv / "oof" / "fold_1" / "oof.json").stat().st_mtime_ns >= retrained.stat().st_mtime_ns
    proc = run_main(f"mmar={tiny_demo}", "task=cv", "folds=2", *TINY_TRAIN)
    assert proc.returncode == 2 and "holds another split" in proc.stderr

    # task=compare reads the CV folder like a sweep
    proc = run_main("task=compare", f"runs={cv}", f"out={tmp_path / 'cmp'}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    table = list(csv.DictReader((tmp_path / "cmp" / "compare.csv").open()))
    assert sorted(r["run"] for r in table) == ["fold_0", "fold_1", "fold_2"]


@pytest.fixture
def demo_9_cases(tmp_path):
    from mmar_hydra.tasks.demo_data import make_demo

    return make_demo(tmp_path / "mmar", n_train=6, n_val=3, n_test=1, shape=(40, 40, 32))


def _dice(proc) -> float:
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    line = next(x for x in proc.stdout.splitlines() if x.startswith("val_mean_dice:"))
    return float(line.split()[1])


def test_fold_ensemble_beats_the_mean_of_its_members(demo_9_cases):
    """3 folds of the 6 training cases, 8 epochs at learning_rate=1e-2, validated on the 3
    held-out validation cases (seeded, so the same on every run here; measured 2026-12-02):

    members 0.7102, 0.5973, 0.7099 (mean 0.6725); mean ensemble 0.6808; vote 0.6807.
    (With 12 epochs: members 0.8839, 0.8662, 0.8825, ensemble 0.8942, flip TTA 0.9032.)
    """
    mmar = demo_9_cases
    train = [*TINY_TRAIN, "epochs=8", "learning_rate=1e-2"]
    proc = run_main(f"mmar={mmar}", "task=cv", "folds=3", *train)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    members = [
        _dice(
            run_main(
                f"mmar={mmar}",
                "task=validate",
                *TINY_EVAL,
                "dont_load_ts_model=true",
                "dont_load_ckpt_model=false",
                f"MMAR_CKPT=cv/fold_{fold}/mmar/models/model.pt",
            )
        )
        for fold in range(3)
    ]
    ensemble = _dice(run_main(f"mmar={mmar}", "task=ensemble", *TINY_EVAL))
    assert ensemble >= sum(members) / 3, (ensemble, members)
    vote = _dice(run_main(f"mmar={mmar}", "task=ensemble", *TINY_EVAL, "ensemble=vote"))
    assert 0.5 < vote <= 1
    print(f"members {members}, ensemble {ensemble:.4f}, vote {vote:.4f}")

    # the post-processing CV chose, applied by the ensemble at inference
    proc = run_main(f"mmar={mmar}", "task=postprocess")
    assert proc.returncode == 0, proc.stderr[-3000:]
    proc = run_main(
        f"mmar={mmar}", "task=ensemble", "config_file=config/config_inference_cv.json", *TINY_EVAL
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert list((mmar / "eval").glob("*/*_seg.nii.gz"))
