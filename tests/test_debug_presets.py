"""The debug group (debug=true keeps meaning tracebacks), experiment= files and progress=."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from conftest import TINY_TRAIN, run_main

from mmar_hydra.engine.progress import plan_progress
from mmar_hydra.errors import ConfigError
from mmar_hydra.hydra_config import normalize_debug


def _tree_hash(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _last_run(mmar: Path, task: str = "train") -> Path:
    return sorted(p for p in (mmar / "runs").iterdir() if p.name.startswith(task + "_"))[-1]


def test_fast_dev_run_is_one_batch_and_leaves_models_untouched(trained_demo, tmp_path):
    mmar = tmp_path / "mmar"
    shutil.copytree(trained_demo, mmar, ignore=shutil.ignore_patterns("runs", "eval"))
    before = _tree_hash(mmar / "models")
    proc = run_main(f"mmar={mmar}", "task=train", *TINY_TRAIN, "debug=fast_dev_run")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert "debug=fast_dev_run: 1 training step(s)" in proc.stdout
    assert _tree_hash(mmar / "models") == before
    assert not (mmar / "eval").exists()
    record = json.loads((_last_run(mmar) / "run_info.json").read_text())
    assert record["train"]["overrides"][-1] == "debug=fast_dev_run"


def test_profiler_writes_its_report_to_the_run_folder(tiny_demo):
    # one batch keeps it short; the profiler preset itself only switches the profiler on
    proc = run_main(
        f"mmar={tiny_demo}", "task=train", *TINY_TRAIN, "debug=profiler", "+trainer.fast_dev_run=1"
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    report = _last_run(tiny_demo) / "fit-profiler.txt"
    assert "FIT Profiler Report" in report.read_text()
    assert "training_step" in report.read_text()


def _job_config(*args: str) -> str:
    proc = run_main(*args, "--cfg", "job")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


@pytest.mark.parametrize(
    ("preset", "expected"),
    [
        ("overfit", "overfit_batches: 2"),
        ("limit", "limit_train_batches: 0.25"),
        ("anomaly", "detect_anomaly: true"),
        ("fast_dev_run", "fast_dev_run: 1"),
    ],
)
def test_debug_presets_set_lightning_switches_and_tracebacks(tiny_demo_source, preset, expected):
    shown = _job_config(f"mmar={tiny_demo_source}", "task=train", f"debug={preset}")
    assert expected in shown and "\ndebug: true" in shown


def test_debug_true_still_means_tracebacks_only(tiny_demo_source):
    for value, shown in (("true", "debug: true"), ("yes", "debug: true"), ("off", "debug: false")):
        text = _job_config(f"mmar={tiny_demo_source}", "task=train", f"debug={value}")
        assert shown in text and "fast_dev_run" not in text
    proc = run_main(f"mmar={tiny_demo_source}", "task=train", "debug=maybe")
    assert proc.returncode == 2 and "fast_dev_run" in proc.stderr
    assert normalize_debug(["debug=1", "epochs=2"]) == ["debug='true'", "epochs=2"]
    with pytest.raises(ConfigError, match="debug preset"):
        normalize_debug(["debug=nope"])
    assert normalize_debug(["debug=mine"], own_conf=True) == ["debug=mine"]


def test_shipped_and_user_experiment_files(tiny_demo_source, tmp_path):
    shown = _job_config(
        f"mmar={tiny_demo_source}", "task=train", "experiment=spleen_segresnet_fast"
    )
    assert "name: SegResNet" in shown and "\nepochs: 10" in shown and "\n  csv:" in shown
    own = tmp_path / "my_conf" / "experiment"
    own.mkdir(parents=True)
    (own / "short.yaml").write_text("# @package _global_\nepochs: 3\nlearning_rate: 0.01\n")
    shown = _job_config(
        f"mmar={tiny_demo_source}",
        "task=train",
        f"hydra.searchpath=[file://{tmp_path / 'my_conf'}]",
        "experiment=short",
        "learning_rate=0.02",  # the command line still wins
    )
    assert "\nepochs: 3" in shown and "\nlearning_rate: 0.02" in shown


class _Terminal:
    def isatty(self) -> bool:
        return True


def test_progress_is_chosen_by_the_console():
    assert plan_progress("auto", stream=_Terminal()).mode == "rich"
    ci = plan_progress("auto", stream=None if False else open("/dev/null", "w"))  # noqa: SIM115
    assert ci.mode == "none" and ci.epoch_lines and not ci.enable_progress_bar
    assert plan_progress("tqdm").enable_progress_bar
    assert not plan_progress("none").epoch_lines
    with pytest.raises(ConfigError, match="progress=fancy"):
        plan_progress("fancy")
