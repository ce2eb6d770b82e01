"""The logger group and reproducibility records: a real MLflow store (SQLite, no server),
sweep parent/child runs, task=compare from the store, run_info.json and the drift warning."""

from __future__ import annotations

import json
import shutil

import pytest
from conftest import TINY_EVAL, TINY_TRAIN, paths_inside, run_main

from mmar_hydra.writers.run_info import drift_warning, mmar_hash


def _store(uri: str):
    """The store's client; the MLflow tests skip where mlflow is not installed (it is in dev)."""
    mlflow = pytest.importorskip("mlflow")
    return mlflow.tracking.MlflowClient(tracking_uri=uri)


def _assert_training_run(client, run, mmar):
    """What every training run in the store holds: params, tags, metrics, artifacts."""
    params, tags = run.data.params, run.data.tags
    assert float(params["learning_rate"]) > 0
    assert params["mmar_hash"] == mmar_hash(mmar)
    assert params["datalist.sha256"] and int(params["model_params"]) > 0
    assert params["mmar.config_file"] == "config/config_train.json"
    assert tags["task"] == "train" and tags["mmar"] == mmar.name
    assert len(client.get_metric_history(run.info.run_id, "val_mean_dice")) == 2
    assert client.get_metric_history(run.info.run_id, "train_loss_step")
    assert client.get_metric_history(run.info.run_id, "lr")
    models = {a.path for a in client.list_artifacts(run.info.run_id, "models")}
    assert {"models/model.pt", "models/final_model.pt"} <= models
    config = {a.path for a in client.list_artifacts(run.info.run_id, "config")}
    assert {"config/mmar_hydra_config.yaml", "config/run_info.json"} <= config
    assert run.info.status == "FINISHED"


@pytest.mark.slow
def test_mlflow_run_in_a_sqlite_store(tiny_demo, tmp_path):
    pytest.importorskip("mlflow")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    proc = run_main(
        f"mmar={tiny_demo}", "task=train", *TINY_TRAIN, "logger=mlflow", f"tracking_uri={uri}"
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    client = _store(uri)
    (run,) = client.search_runs([client.get_experiment_by_name(tiny_demo.name).experiment_id])
    _assert_training_run(client, run, tiny_demo)
    assert (tmp_path / "mlartifacts").is_dir()  # beside the database, not in the cwd
    # the store chosen for this run does not become the process's default
    import os

    assert os.environ.get("MLFLOW_TRACKING_URI") != uri


@pytest.mark.slow
def test_mlflow_sweep_is_one_parent_with_child_runs_and_compares_as_folders(tiny_demo, tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    proc = run_main(
        "-m",
        f"mmar={tiny_demo}",
        "task=train",
        *TINY_TRAIN,
        "logger=mlflow",
        f"tracking_uri={uri}",
        "learning_rate=1e-3,2e-3",
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    client = _store(uri)
    runs = client.search_runs([client.get_experiment_by_name(tiny_demo.name).experiment_id])
    parents = [r for r in runs if r.data.tags.get("mmar_hydra.role") == "sweep"]
    children = [r for r in runs if r not in parents]
    assert len(parents) == 1 and len(children) == 2
    assert parents[0].info.status == "FINISHED"
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parents[0].info.run_id}
    assert sorted(c.data.tags["job"] for c in children) == ["0", "1"]
    for child in children:
        _assert_training_run(client, child, tiny_demo)

    sweep = next(p for p in (tiny_demo / "runs").iterdir() if p.name.startswith("multirun_"))
    on_folders = run_main("task=compare", f"runs={sweep}", f"out={tmp_path / 'folders'}")
    from_store = run_main(
        "task=compare", f"runs=mlflow:{tiny_demo.name}/{sweep.name}", f"tracking_uri={uri}",
        f"out={tmp_path / 'store'}",
    )  # fmt: skip
    assert on_folders.returncode == 0 and from_store.returncode == 0, from_store.stderr[-2000:]
    table = (tmp_path / "folders" / "compare.csv").read_text()
    assert table == (tmp_path / "store" / "compare.csv").read_text()
    assert "learning_rate" in table and (tmp_path / "store" / "curves.png").is_file()

    unknown = run_main("task=compare", "runs=mlflow:nope", f"tracking_uri={uri}")
    assert unknown.returncode == 2
    assert "no MLflow experiment 'nope'" in unknown.stderr and "Traceback" not in unknown.stderr


def test_run_info_and_checkpoint_versions_after_train(trained_demo):
    # the session's trained demo: no training of its own
    record = json.loads((trained_demo / "models" / "run_info.json").read_text())["train"]
    assert record["versions"]["monai"] and record["versions"]["torch"]
    assert record["versions"]["hydra-core"] and record["versions"]["nibabel"]
    assert {"cuda", "cudnn", "devices", "cpu"} <= set(record["environment"])
    assert record["mmar"]["config_hash"] == mmar_hash(trained_demo) and record["seed"] == 0
    assert "task=train" in record["command"]
    # the run folder holds the same record (other tests may train in this MMAR too)
    in_runs = [
        json.loads(p.read_text()) for p in (trained_demo / "runs").glob("train_*/run_info.json")
    ]
    assert record in [r.get("train") for r in in_runs]

    import torch

    data = torch.load(trained_demo / "models" / "model.pt", weights_only=True)
    assert data["versions"] == record["versions"] | data["versions"]  # what made it
    assert data["versions"]["monai"] == record["versions"]["monai"]


@pytest.mark.slow
def test_validating_a_checkpoint_of_another_monai_warns_once(trained_demo, tmp_path):
    import monai
    import torch

    mmar = tmp_path / "mmar"
    shutil.copytree(trained_demo, mmar, ignore=shutil.ignore_patterns("runs", "eval"))
    ckpt = mmar / "models" / "model.pt"
    data = torch.load(ckpt, weights_only=True)
    data["versions"]["monai"] = "1.2.0"
    torch.save(data, ckpt)
    proc = run_main(
        f"mmar={mmar}",
        "task=validate",
        "config_file=config/config_validation_ckpt.json",
        *TINY_EVAL,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    warnings = [line for line in proc.stdout.splitlines() if "was trained with" in line]
    assert len(warnings) == 1
    assert "MONAI 1.2.0" in warnings[0] and f"MONAI {monai.__version__}" in warnings[0]
    evaluated = json.loads((mmar / "eval" / "run_info.json").read_text())
    assert evaluated["validate"]["metrics"]["val_mean_dice"] >= 0


def test_drift_warning_names_both_versions_and_is_silent_without_drift():
    from mmar_hydra.writers.model_record import package_versions

    same = package_versions()
    assert drift_warning(same, "m.pt") is None
    assert drift_warning(None, "m.pt") is None
    text = drift_warning({**same, "torch": "1.13.1"}, "m.pt")
    assert "torch 1.13.1" in text and f"torch {same['torch']}" in text


def test_mmar_hash_follows_the_config_folder(tiny_demo):
    before = mmar_hash(tiny_demo)
    (tiny_demo / "config" / "environment.json").write_text("{}")
    assert mmar_hash(tiny_demo) != before


def test_an_unknown_logger_and_a_server_uri_are_user_errors(tiny_demo):
    from mmar_hydra.errors import ConfigError
    from mmar_hydra.tracking.loggers import build_loggers
    from mmar_hydra.tracking.mlflow_store import store_location

    with pytest.raises(ConfigError, match="unknown logger 'comet'"):
        build_loggers({"comet": {}}, None, paths=paths_inside(tiny_demo))
    with pytest.raises(ConfigError, match="tracking server"):
        store_location("http://example.org:5000", None)
    assert store_location(None, tiny_demo / "runs")[0].endswith("runs/mlflow.db")


@pytest.mark.slow
def test_wandb_offline_and_aim_local_record_the_run(tiny_demo):
    pytest.importorskip("wandb")
    pytest.importorskip("aim")
    proc = run_main(f"mmar={tiny_demo}", "task=train", *TINY_TRAIN, "logger=[wandb,aim]")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    run_dir = sorted(p for p in (tiny_demo / "runs").iterdir() if p.name.startswith("train_"))[-1]
    (offline,) = (run_dir / "wandb").glob("offline-run-*")  # offline: written here, never sent
    assert list(offline.glob("run-*.wandb"))
    from aim import Repo, Run

    (run_hash,) = Repo(str(tiny_demo / "runs")).list_all_runs()
    run = Run(run_hash=run_hash, repo=str(tiny_demo / "runs"), read_only=True)
    assert run.experiment == tiny_demo.name and "task=train" in run.props.tags
    stored = tiny_demo / "runs" / "aim_artifacts" / run_hash
    assert (stored / "models" / "model.pt").is_file()
    assert (stored / "config" / "run_info.json").is_file()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("preset", "extra"),
    # the tiny demo has 2 training batches: 1 of them shows the preset's switch at work
    [
        ("overfit", ["trainer.overfit_batches=1"]),
        ("limit", ["trainer.limit_train_batches=0.5"]),
        ("anomaly", []),
    ],
)
def test_debug_presets_train_end_to_end(tiny_demo, preset, extra):
    proc = run_main(f"mmar={tiny_demo}", "task=train", *TINY_TRAIN, f"debug={preset}", *extra)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    stats = json.loads((tiny_demo / "models" / "train_stats.json").read_text())
    record = json.loads((tiny_demo / "models" / "run_info.json").read_text())
    assert f"debug={preset}" in record["train"]["overrides"]  # the record names the preset
    assert stats["epochs_completed"] == 2
    assert stats["iterations"] == (4 if preset == "anomaly" else 2)  # a full run: 2 x 2


@pytest.mark.slow
def test_a_limit_under_one_batch_is_a_user_error(tiny_demo):
    # the tiny demo has 2 training batches: debug=limit's 0.25 of them is none
    proc = run_main(f"mmar={tiny_demo}", "task=train", *TINY_TRAIN, "debug=limit")
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert "config error" in proc.stderr and "trainer.limit_train_batches=2" in proc.stderr


@pytest.mark.slow
def test_run_info_after_every_task_that_writes_results(trained_demo, tmp_path):
    mmar = tmp_path / "mmar"
    shutil.copytree(trained_demo, mmar, ignore=shutil.ignore_patterns("runs", "eval"))
    tasks = [
        ("task=finetune", "debug=fast_dev_run", *TINY_TRAIN),
        ("task=validate", "config_file=config/config_validation_ckpt.json", *TINY_EVAL),
        ("task=infer", "config_file=config/config_validation_ckpt.json", *TINY_EVAL),
        ("task=export", "input_shape=[1,1,24,24,16]"),
        ("task=bundle", f"out={tmp_path / 'bundle'}", *TINY_TRAIN),
    ]
    for args in tasks:
        proc = run_main(f"mmar={mmar}", *args)
        assert proc.returncode == 0, args[0] + proc.stdout[-2000:] + proc.stderr[-3000:]
    proc = run_main("task=compare", f"runs={mmar}", f"out={tmp_path / 'cmp'}")
    assert proc.returncode == 0, proc.stderr[-3000:]

    def sections(folder):
        return set(json.loads((folder / "run_info.json").read_text()))

    assert sections(mmar / "models") == {"train", "export"}  # finetune's smoke test: untouched
    assert sections(mmar / "eval") == {"validate", "infer"}
    assert sections(tmp_path / "bundle") == {"bundle"}
    assert sections(tmp_path / "cmp") == {"compare"}
    finetune = sorted((mmar / "runs").glob("finetune_*"))[-1]
    assert sections(finetune) == {"finetune"}
