"""Sweeps into MMAR-shaped run folders, the sweep summary, and task=compare."""

from __future__ import annotations

import csv
import json
import shutil

import pytest
from conftest import run_main

from mmar_hydra.mmar.keys import flatten
from mmar_hydra.runs.collect import differing_keys

SMALL = [
    "epochs=2",
    "num_interval_per_valid=1",
    "train.pre_transforms.6.args.spatial_size=[16,16,16]",
    "validate.inferer.args.roi_size=[16,16,16]",
]


def test_flatten_and_diff_nested_keys_and_lists():
    a = {
        "lr": 0.1,
        "train": {"model": {"args": {"channels": [4, 8]}}, "pre": [{"name": "A"}, {"name": "B"}]},
    }
    b = {
        "lr": 0.1,
        "train": {"model": {"args": {"channels": [4, 16]}}, "pre": [{"name": "A"}, {"name": "C"}]},
        "extra": True,
        "mmar_source": {"root": "/x"},
    }
    assert flatten(a)["train.model.args.channels"] == [4, 8]
    assert flatten(a)["train.pre.1.name"] == "B"
    assert differing_keys([a, b]) == ["extra", "train.model.args.channels", "train.pre.1.name"]


def test_sweep_runs_into_separate_mmars_and_compare(tiny_demo, tmp_path):
    proc = run_main(
        "-m",
        f"mmar={tiny_demo}",
        "task=train",
        *SMALL,
        "epochs=1",
        "learning_rate=1e-3,1e-2",
        "network=unet,segresnet",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    sweep = next((tiny_demo / "runs").iterdir())
    jobs = sorted(p for p in sweep.iterdir() if p.is_dir())
    assert [j.name for j in jobs] == ["0", "1", "2", "3"]
    for job in jobs:  # each job is an MMAR of its own
        mmar = job / "mmar"
        assert (mmar / "models" / "model.pt").is_file() and (
            mmar / "models" / "final_model.pt"
        ).is_file()
        assert json.loads((mmar / "clone.json").read_text())["parent"] == str(tiny_demo)
        cfg = json.loads((mmar / "config" / "config_train.json").read_text())
        assert cfg["learning_rate"] in (1e-3, 1e-2)
    assert not (tiny_demo / "models").exists()  # no job wrote into the parent MMAR
    rows = list(csv.DictReader((sweep / "summary.csv").open()))
    assert len(rows) == 4 and all(r["status"] == "finished" for r in rows)
    assert {r["overrides"] for r in rows} == {
        f"learning_rate={lr} network={n}" for lr in ("0.001", "0.01") for n in ("unet", "segresnet")
    }

    # a job's run folder is an MMAR: it validates on its own
    proc = run_main(
        f"mmar={jobs[0] / 'mmar'}",
        "task=validate",
        "dont_load_ts_model=true",
        "dont_load_ckpt_model=false",
        "inferer.args.roi_size=[16,16,16]",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]

    # compare: the sweep, plus a cp -r variant that crashed before training
    crashed = tmp_path / "crashed"
    shutil.copytree(tiny_demo, crashed, ignore=shutil.ignore_patterns("runs"))
    out = tmp_path / "cmp"
    proc = run_main("task=compare", f"runs=[{sweep},{crashed}]", f"out={out}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    table = list(csv.DictReader((out / "compare.csv").open()))
    assert len(table) == 5
    assert {
        "learning_rate",
        "model.name",
        "best val_mean_dice",
        "best epoch",
        "params",
        "train time (s)",
    } <= set(table[0])
    assert table[0]["rank"] == "1 (best)"
    best = [float(r["best val_mean_dice"]) for r in table if r["best val_mean_dice"] != "-"]
    assert best == sorted(best, reverse=True)
    assert table[-1]["status"] == "not started"
    assert "| rank |" in proc.stdout and (out / "compare.md").is_file()
    png = (out / "curves.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000


def test_optuna_search_reports_its_best_trial(tiny_demo):
    proc = run_main(
        "-m",
        f"mmar={tiny_demo}",
        "task=train",
        "hparams_search=demo_optuna",
        *SMALL,
        "epochs=1",
        "train.model.args.strides=[2,2,2]",
        "hydra.sweeper.n_trials=2",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    sweep = next((tiny_demo / "runs").glob("multirun_*"))  # beside the study's optuna.db
    results = (sweep / "optimization_results.yaml").read_text()
    assert "best_params" in results and "learning_rate" in results and "best_value" in results
    assert len([p for p in sweep.iterdir() if p.is_dir() and p.name.isdigit()]) == 2


@pytest.mark.slow  # a multirun over two whole MMARs end to end: 29 s of the fast suite
def test_sweep_over_whole_mmars(tiny_demo, tmp_path):
    other = tmp_path / "other"
    shutil.copytree(tiny_demo, other)
    proc = run_main(
        "-m",
        f"mmar={tiny_demo},{other}",
        "task=train",
        *SMALL,
        "epochs=1",
        "learning_rate=1e-3",
        "train.model.args.channels=[4,8,16]",
        "train.model.args.strides=[2,2]",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    for root in (tiny_demo, other):
        sweep = next((root / "runs").iterdir())
        rows = list(csv.DictReader((sweep / "summary.csv").open()))
        assert len(rows) == 1 and rows[0]["status"] == "finished"
