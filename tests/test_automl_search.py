"""task=automl's loop, ranking, pruning and report on fabricated trial results (no training)."""

from __future__ import annotations

import csv

import pytest

from mmar_hydra.apps.automl import translate
from mmar_hydra.automl.controller import AutoMLPlan
from mmar_hydra.automl.describe import describe_sample
from mmar_hydra.automl.report import TrialResult, prune_trials, rank_trials, write_report
from mmar_hydra.automl.sampler import TrialSampler
from mmar_hydra.automl.search import run_search, search_options
from mmar_hydra.automl.validation_config import validation_config
from mmar_hydra.errors import ConfigError
from mmar_hydra.reader.search_space import parse_space

CONFIG = {
    "learning_rate": 1e-3,
    "search": [{"type": "float", "args": ["learning_rate"], "targets": [1e-4, 1e-2]}],
    "train": {
        "loss": [
            {"apply": {"@disabled": "dice"}, "name": "DiceLoss", "args": {}},
            {"apply": {"@disabled": "focal"}, "name": "FocalLoss", "args": {}},
        ],
        "model": {"name": "UNet", "args": {"channels": [4, 8]}},
        "pre_transforms": [{"name": "LoadImaged", "args": {"keys": "image"}}],
    },
    "validate": {
        "pre_transforms": [{"ref": "LoadImaged"}],
        "key_metric": {"name": "MeanDice", "log_label": "val_dice", "args": {}},
        "handlers": [{"name": "CheckpointSaver", "args": {}}, {"name": "StatsHandler"}],
    },
}
CONFIG["search"].append(
    {"type": "enum", "args": ["dice", "focal"], "targets": [[False, True], [True, False]]}
)


def _options(**kw):
    plan = AutoMLPlan(max_rounds=4, stop_threshold=0.85, num_mmars_to_keep=30)
    return search_options(plan, kw, "run")


def test_stop_threshold_ranking_pruning_and_report(tmp_path):
    space = parse_space(CONFIG)
    values = [0.2, 0.5, 0.9, 0.1]

    def run_trial(i, sample):
        folder = tmp_path / f"trial_{i}"
        (folder / "config").mkdir(parents=True)
        settings = describe_sample(CONFIG, space, sample)
        return TrialResult(i, sample, settings, values[i], 1, 0.5, folder=str(folder))

    lines: list[str] = []
    trials, notes = run_search(TrialSampler(space, 0), _options(), run_trial, lines.append)
    assert [t.trial for t in trials] == [0, 1, 2] and "stopped early: trial 2" in notes[0]
    assert all(set(t.settings) == {"learning_rate", "train.loss"} for t in trials)
    assert {t.settings["train.loss"] for t in trials} <= {"DiceLoss", "FocalLoss"}
    ranked = rank_trials(trials)
    assert [t.trial for t in ranked] == [2, 1, 0]
    pruned = prune_trials(ranked, keep=2)
    assert [t.trial for t in pruned] == [0] and not (tmp_path / "trial_0").exists()
    assert (tmp_path / "trial_1").is_dir() and (tmp_path / "trial_2").is_dir()
    paths, text = write_report(tmp_path, ranked, "val_dice", notes)
    rows = list(csv.DictReader((tmp_path / "automl_report.csv").open()))
    assert [r["rank"] for r in rows] == ["3", "2", "1"] and rows[0]["status"] == "pruned"
    assert rows[2]["best val_dice"] == "0.9" and rows[2]["epoch"] == "1"
    assert "stopped early" in text and (tmp_path / "automl_report.png") in paths


def test_duplicates_are_not_trained_twice_and_a_grid_runs_out():
    config = {"search": [CONFIG["search"][1]], "train": CONFIG["train"]}
    space = parse_space(config)
    trained = []

    def run_trial(i, sample):
        trained.append(sample)
        return TrialResult(i, sample, {}, None if i == 0 else 0.3)  # a failed trial: None

    trials, notes = run_search(TrialSampler(space, 0), _options(stop_threshold=2), run_trial, str)
    assert len(trained) == 2 and trained[0] != trained[1]
    assert notes == ["search space exhausted after 2 distinct trial(s)"]
    assert rank_trials(trials)[-1].trial == 0  # the failed trial ranks last


def test_options_from_plan_and_command_line():
    opts = _options(trials=2, seed=3, keep=1, run_id="x")
    assert (opts.trials, opts.seed, opts.keep, opts.stop_threshold, opts.run_id) == (
        2,
        3,
        1,
        0.85,
        "x",
    )
    assert _options().trials == 4 and _options().run_id == "run"
    with pytest.raises(ConfigError, match="automl.trials"):
        _options(trials=0)
    with pytest.raises(ConfigError, match="automl.run_id"):
        _options(run_id="../up")


def test_medl_automl_flags(tmp_path):
    argv = [
        "-m",
        str(tmp_path),
        "--set",
        "run_id=trn_autoML_Enum",
        "trainconf=trn_autoML_Enum.json",
    ]
    argv += ["workers=0:0", "traceout=console", "trn_autoML_Enum", "trials=2", "epochs=1"]
    out = translate(argv)
    assert out == [
        f"mmar={tmp_path.resolve()}",
        "task=automl",
        "automl.run_id=trn_autoML_Enum",
        "config_file=config/trn_autoML_Enum.json",
        "automl.trials=2",
        "epochs=1",
    ]


def test_trial_validation_config_inlines_refs_and_loads_the_checkpoint():
    flat = validation_config({k: v for k, v in CONFIG.items() if k != "search"})
    assert flat["pre_transforms"] == [CONFIG["train"]["pre_transforms"][0]]
    assert flat["model"]["name"] == "UNet" and flat["dont_load_ckpt_model"] is False
    names = [h["name"] for h in flat["handlers"]]
    assert names == ["CheckpointLoader", "StatsHandler", "MetricsSaver"]
    assert flat["handlers"][-1]["args"]["metrics"] == ["val_dice"]
