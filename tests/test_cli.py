"""The command line through a real subprocess: help, errors, exit codes, no tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mmar_hydra", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )


def write_mmar(root: Path, train: dict | str, env: dict | None = None) -> Path:
    (root / "config").mkdir(parents=True)
    text = train if isinstance(train, str) else json.dumps(train, indent=2)
    (root / "config" / "config_train.json").write_text(text)
    (root / "config" / "environment.json").write_text(json.dumps(env or {"DATA_ROOT": "data"}))
    return root


def assert_user_error(proc: subprocess.CompletedProcess, *needles: str) -> None:
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr, proc.stderr
    for needle in needles:
        assert needle in proc.stderr, proc.stderr


def test_help_lists_tasks_options_and_examples():
    proc = run_cli("--help")
    assert proc.returncode == 0
    for needle in ("task=TASK", "train", "check", "demo_data", "print_conf", "examples:"):
        assert needle in proc.stdout


def test_unknown_task_suggests_the_right_one():
    assert_user_error(run_cli("task=trian"), "unknown task 'trian'", "did you mean task=train")


def test_bad_override_syntax():
    assert_user_error(run_cli("task=check", "epochs=[1,"), "cannot parse the override")


def test_task_needs_an_mmar():
    assert_user_error(run_cli("task=train"), "needs an MMAR", "mmar=PATH")


def test_missing_config_file_lists_what_exists(tmp_path):
    root = write_mmar(tmp_path / "m", {"epochs": 1, "train": {}, "validate": {}})
    proc = run_cli(f"mmar={root}", "task=check", "config_file=config/nope.json")
    assert_user_error(proc, "nope.json", "config_train.json")


def test_malformed_json_names_file_line_and_column(tmp_path):
    root = write_mmar(tmp_path / "m", '{\n  "epochs": 1,\n  "train": {,}\n}')
    proc = run_cli(f"mmar={root}", "task=check")
    assert_user_error(proc, "config_train.json", "line 3")


def test_debug_true_shows_the_traceback(tmp_path):
    root = write_mmar(tmp_path / "m", '{"epochs": }')
    proc = run_cli(f"mmar={root}", "task=check", "debug=true")
    assert proc.returncode != 0
    assert "Traceback" in proc.stderr


def test_unresolved_variable_names_the_json_path(tmp_path):
    train = {
        "epochs": 1,
        "train": {"trainer": {"name": "SupervisedTrainer", "args": {"max_epochs": "{nope_var}"}}},
        "validate": {},
    }
    root = write_mmar(tmp_path / "m", train)
    proc = run_cli(f"mmar={root}", "task=check", "print_conf=true")
    assert_user_error(proc, "{nope_var}", "train.trainer.args.max_epochs")


@pytest.mark.parametrize("value,expected", [("7", "7"), ("True", "true")])
def test_print_conf_shows_overridden_values(tmp_path, value, expected):
    train = {
        "epochs": 1,
        "flag": False,
        "train": {"trainer": {"name": "SupervisedTrainer", "args": {"max_epochs": "{epochs}"}}},
        "validate": {},
    }
    root = write_mmar(tmp_path / "m", train)
    key = "epochs" if value == "7" else "flag"
    proc = run_cli(
        f"mmar={root}", "task=check", "print_conf=true", f"{key}={value}", "unknown_key=3"
    )
    assert f"{key}: {expected}" in proc.stdout, proc.stdout + proc.stderr
    assert "unknown_key: 3" in proc.stdout
