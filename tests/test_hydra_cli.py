"""Hydra's own command line (every flag, through Hydra's parser) and the failure policy of -m."""

from __future__ import annotations

import csv
import json

import pytest
import yaml
from conftest import TINY_TRAIN, run_main

from mmar_hydra.cli import hydra_args, prepare


def _ok(result) -> str:
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def test_cfg_job_prints_the_composed_job_config_and_runs_nothing(tiny_demo):
    out = _ok(run_main(f"mmar={tiny_demo}", "task=train", "--cfg", "job", "epochs=3"))
    cfg = yaml.safe_load(out)
    assert cfg["epochs"] == 3 and cfg["task"] == "train" and "hydra" not in cfg
    assert cfg["train"]["optimizer"]["args"]["lr"] == "${learning_rate}"  # not resolved
    assert not (tiny_demo / "runs").exists() and not (tiny_demo / "models").exists()


def test_resolve_resolves_the_mmar_variables(tiny_demo):
    out = _ok(run_main(f"mmar={tiny_demo}", "task=train", "--cfg", "job", "--resolve"))
    assert yaml.safe_load(out)["train"]["optimizer"]["args"]["lr"] == 0.002


def test_cfg_hydra_with_a_package(tiny_demo):
    out = _ok(
        run_main("--cfg", "hydra", "--package", "hydra.run", f"mmar={tiny_demo}", "task=train")
    )
    assert out.startswith("# @package hydra.run")
    assert yaml.safe_load(out)["dir"].startswith("${mmar_hydra_runs:${mmar}}/${task}_")


def test_info_flags(tiny_demo):
    out = _ok(run_main(f"mmar={tiny_demo}", "task=validate", "--info"))
    assert "Installed Hydra Plugins" in out and "Defaults Tree" in out
    out = _ok(run_main("--info", "defaults", f"mmar={tiny_demo}", "task=train"))
    assert "_mmar_" in out and "network/mmar" in out
    assert "Installed Hydra Plugins" in _ok(run_main("--info", "plugins"))  # no MMAR needed


def test_config_dir_adds_a_preset(tiny_demo, tmp_path):
    (tmp_path / "conf" / "network").mkdir(parents=True)
    (tmp_path / "conf" / "network" / "mine.yaml").write_text(
        "# @package train.model\nname: BasicUNet\nargs: {spatial_dims: 3, features: [4,4,8,16,32,4]}\n"
    )
    out = _ok(
        run_main(
            "--config-dir", str(tmp_path / "conf"), f"mmar={tiny_demo}", "task=train", "network=mine",
            "--cfg", "job", "--package", "train.model",
        )
    )  # fmt: skip
    assert yaml.safe_load(out.split("\n", 1)[1])["name"] == "BasicUNet"


def test_help_version_hydra_help_and_shell_completion():
    out = _ok(run_main("--help"))
    for flag in ("--cfg, -c {job,hydra,all}", "--experimental-rerun", "--config-dir", "-m"):
        assert flag in out
    assert "Hydra 1." in _ok(run_main("--version"))
    assert "== Flags ==" in _ok(run_main("--hydra-help"))
    assert "hydra_bash_completion" in _ok(run_main("--shell-completion", "install=bash"))


def test_flags_may_sit_anywhere_and_overrides_keep_their_order(tiny_demo):
    argv = ["epochs=3", "--cfg", "job", f"mmar={tiny_demo}", "-p", "epochs", "task=train"]
    args = hydra_args(argv)
    assert (args.cfg, args.package) == ("job", "epochs")
    prepared = prepare(args, argv)
    assert prepared.argv == [
        *("epochs=3", f"mmar={tiny_demo}", "task=train"),
        "hydra/job_logging=none",  # the sample MMAR ships resources/log.config
        *("--cfg", "job", "-p", "epochs"),
    ]
    assert prepared.read.layout.root == tiny_demo  # the MMAR read reaches the task context


def test_bad_flag_is_argparse_usage_error():
    result = run_main("--cfg", "jobs", "task=check")
    assert result.returncode == 2 and "invalid choice: 'jobs'" in result.stderr


def test_a_failing_sweep_job_is_recorded_and_the_sweep_goes_on(tiny_demo, tmp_path):
    taken = tmp_path / "taken"  # job 1's bad value: a folder that is not empty
    taken.mkdir()
    (taken / "mine.txt").write_text("not an MMAR")
    outs = [tmp_path / "a", taken, tmp_path / "c"]
    result = run_main(
        "-m", f"mmar={tiny_demo}", "task=clone", "out=" + ",".join(map(str, outs)), "epochs=7"
    )
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-2000:]
    assert "job 1 failed: config error: the clone's folder exists and is not empty" in result.stderr
    assert "Traceback" not in result.stderr
    for done in (outs[0], outs[2]):  # jobs 0 and 2 ran
        assert json.loads((done / "config" / "config_train.json").read_text())["epochs"] == 7
    assert sorted(p.name for p in taken.iterdir()) == ["mine.txt"]  # nothing half-written
    sweep = next((tiny_demo / "runs").iterdir())
    rows = list(csv.DictReader((sweep / "summary.csv").open()))
    assert [(r["job"], r["status"]) for r in rows] == [
        ("0", "finished"),
        ("1", "failed"),
        ("2", "finished"),
    ]
    assert rows[1]["overrides"] == f"out={taken}"
    assert (
        rows[1]["error"]
        == f"config error: the clone's folder exists and is not empty ({taken}: out)"
    )
    assert rows[0]["error"] == rows[2]["error"] == ""
    record = json.loads((sweep / "1" / "job.json").read_text())
    assert record["status"] == "failed" and record["exit_code"] == 2
    assert "1 of 3 jobs failed: 1" in result.stdout


def test_a_single_run_still_exits_2_with_the_short_message(tiny_demo, tmp_path):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "x").write_text("")
    result = run_main(f"mmar={tiny_demo}", "task=clone", f"out={tmp_path / 'taken'}")
    assert result.returncode == 2 and "exists and is not empty" in result.stderr
    assert "Traceback" not in result.stderr and not (tiny_demo / "runs").exists()


@pytest.mark.slow
def test_a_failing_check_sweep_job_names_the_problem(tiny_demo):
    result = run_main(
        "-m", f"mmar={tiny_demo}", "task=check", *TINY_TRAIN, "train.model.name=UNet,UNett,UNet"
    )
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-2000:]
    rows = list(csv.DictReader((next((tiny_demo / "runs").iterdir()) / "summary.csv").open()))
    assert [r["status"] for r in rows] == ["finished", "failed", "finished"]
    assert rows[1]["error"] == (
        "component error: unknown component 'UNett' (config/config_train.json: train.model.name)"
    )


@pytest.mark.parametrize("argv", [["--hydra-help", "task=train"], ["task=train", "--info"]])
def test_informational_flags_need_no_mmar(argv):
    assert run_main(*argv).returncode == 0
