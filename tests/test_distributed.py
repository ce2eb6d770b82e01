"""Lightning DDP through `python -m mmar_hydra` subprocesses (gloo, 2 CPU processes)."""

from __future__ import annotations

import csv
import json
import shutil

import pytest
from conftest import TINY_EVAL, TINY_TRAIN, run_cli

DDP = ["trainer=ddp_cpu", "trainer.devices=2"]


def _ok(proc):
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def _raw(root) -> dict[str, float]:
    rows = list(csv.reader((root / "eval" / "val_mean_dice_raw.csv").open()))[1:]
    return {r[0]: float(r[1]) for r in rows}


@pytest.mark.slow  # DDP is also covered in the fast suite by the train test
def test_ddp_validate_equals_single_process(trained_demo, tmp_path):
    mmar = tmp_path / "m"
    shutil.copytree(trained_demo, mmar, ignore=shutil.ignore_patterns("eval", "runs"))
    ckpt = ["dont_load_ts_model=true", "dont_load_ckpt_model=false", *TINY_EVAL]
    _ok(run_cli(f"mmar={mmar}", "task=validate", *ckpt))
    single = _raw(mmar)
    _ok(run_cli(f"mmar={mmar}", "task=validate", *ckpt, *DDP))
    ddp = _raw(mmar)
    assert sorted(ddp) == sorted(single)  # same cases: none duplicated, none dropped
    for name, value in single.items():
        assert ddp[name] == pytest.approx(value, abs=1e-5)


@pytest.mark.slow  # two training processes end to end: 30 s of the fast suite's 2 cores
def test_ddp_train_gives_the_same_artifacts(tiny_demo):
    _ok(run_cli(f"mmar={tiny_demo}", "task=train", *TINY_TRAIN, *DDP))
    models = tiny_demo / "models"
    names = {p.name for p in models.iterdir() if not p.name.startswith("events.")}
    assert {"model.pt", "final_model.pt", "train_stats.json", "mmar_hydra_config.yaml"} <= names
    assert len(list(models.glob("events.out.tfevents.*"))) == 1  # written once, by rank 0
    stats = json.loads((models / "train_stats.json").read_text())
    assert stats["epochs_completed"] == 2 and stats["best_key_metric"] is not None


@pytest.mark.slow
def test_multirun_sweep_with_ddp_trains_one_config_per_job_on_every_rank(tiny_demo):
    proc = _ok(
        run_cli(
            "-m",
            f"mmar={tiny_demo}",
            "task=train",
            *TINY_TRAIN,
            "epochs=1",
            *DDP,
            "learning_rate=0.001,0.0005",
        )
    )
    sweeps = list((tiny_demo / "runs").iterdir())
    assert len(sweeps) == 1, sweeps  # no stray run folders from the child processes
    jobs = sorted(p for p in sweeps[0].iterdir() if p.is_dir())
    assert [j.name for j in jobs] == ["0", "1"]
    for job, lr in zip(jobs, ("0.001", "0.0005"), strict=True):
        lines = [
            ln
            for f in job.glob("*.log")
            for ln in f.read_text().splitlines()
            if "trained with" in ln
        ]
        ranks = {
            ln.split("rank ")[1].split(" ")[0]: ln.split("lr=")[1].split(",")[0] for ln in lines
        }
        assert ranks == {"0": lr, "1": lr}, (job, lines, proc.stdout[-500:])


@pytest.mark.slow  # submitit's local launcher starts one process per job
def test_submitit_local_launcher_runs_end_to_end(tiny_demo):
    proc = _ok(
        run_cli(
            "-m",
            f"mmar={tiny_demo}",
            "task=train",
            "hydra/launcher=local",
            *TINY_TRAIN,
            "epochs=1",
            "learning_rate=0.001,0.002",
        )
    )
    sweep = next((tiny_demo / "runs").iterdir())
    assert (sweep / ".submitit").is_dir()  # really went through submitit
    for job in ("0", "1"):
        assert (sweep / job / "mmar" / "models" / "final_model.pt").is_file()
    assert "summary" in proc.stdout


def test_slurm_preset_puts_one_task_per_gpu(tiny_demo):
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from mmar_hydra import hydra_config
    from mmar_hydra.reader.mmar_reader import read_mmar

    hydra_config.register_mmar(read_mmar(tiny_demo).config)
    GlobalHydra.instance().clear()
    with initialize_config_dir(str(hydra_config.conf_dir()), version_base="1.3"):
        cfg = compose(
            "config",
            overrides=[
                "hydra/launcher=slurm",
                "trainer=ddp",
                "trainer.devices=4",
                "trainer.num_nodes=2",
            ],
            return_hydra_config=True,
        )
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("SlurmLauncher")
    assert (launcher.tasks_per_node, launcher.gpus_per_node, launcher.nodes) == (4, 4, 2)
