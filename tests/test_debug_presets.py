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


def test_fast_dev_run_is_one_batch_leaves_models_untouched_and_profiles(trained_demo, tmp_path):
    # one run for both presets' behaviour: fast_dev_run's single batch with the profiler of
    # debug=profiler switched on (the preset itself only sets trainer.profiler: simple)
    mmar = tmp_path / "mmar"
    shutil.copytree(trained_demo, mmar, ignore=shutil.ignore_patterns("runs", "eval"))
    before = _tree_hash(mmar / "models")
    proc = run_main(
        f"mmar={mmar}", "task=train", *TINY_TRAIN, "debug=fast_dev_run", "+trainer.profiler=simple"
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert "debug=fast_dev_run: 1 training step(s)" in proc.stdout
    assert _tree_hash(mmar / "models") == before
    assert not (mmar / "eval").exists()
    run_dir = _last_run(mmar)
    record = json.loads((run_dir / "run_info.json").read_text())
    assert "debug=fast_dev_run" in record["train"]["overrides"]
    report = (run_dir / "fit-profiler.txt").read_text()
    assert "FIT Profiler Report" in report and "training_step" in report


def _composed(*runs: list[str], own_conf: bool = False) -> list:
    """The composed config of each override list, as the CLI hands them to Hydra (no MMAR)."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from mmar_hydra import hydra_config

    hydra_config.register_mmar({"epochs": 2, "learning_rate": 1e-4, "train": {}})
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(str(hydra_config.conf_dir()), version_base="1.3"):
            return [
                compose("config", overrides=normalize_debug(run, own_conf=own_conf)) for run in runs
            ]
    finally:
        GlobalHydra.instance().clear()


PRESETS = {
    "overfit": ("overfit_batches", 2),
    "limit": ("limit_train_batches", 0.25),
    "anomaly": ("detect_anomaly", True),
    "fast_dev_run": ("fast_dev_run", 1),
    "profiler": ("profiler", "simple"),
}


def test_debug_presets_set_lightning_switches_and_tracebacks():
    shown = _composed(*([f"debug={p}"] for p in PRESETS))
    for cfg, (key, value) in zip(shown, PRESETS.values(), strict=True):
        assert cfg.trainer[key] == value and cfg.debug is True


def test_debug_true_still_means_tracebacks_only(tiny_demo_source):
    words = {"true": True, "yes": True, "off": False}
    shown_cfgs = _composed(*([f"debug={w}"] for w in words))
    for cfg, shown in zip(shown_cfgs, words.values(), strict=True):
        assert cfg.debug is shown and "fast_dev_run" not in (cfg.get("trainer") or {})
    proc = run_main(f"mmar={tiny_demo_source}", "task=train", "debug=maybe")
    assert proc.returncode == 2 and "fast_dev_run" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert normalize_debug(["debug=1", "epochs=2"]) == ["debug='true'", "epochs=2"]
    with pytest.raises(ConfigError, match="debug preset"):
        normalize_debug(["debug=nope"])
    assert normalize_debug(["debug=mine"], own_conf=True) == ["debug=mine"]


def test_shipped_and_user_experiment_files(tmp_path):
    own = tmp_path / "my_conf" / "experiment"
    own.mkdir(parents=True)
    (own / "short.yaml").write_text("# @package _global_\nepochs: 3\nlearning_rate: 0.01\n")
    shipped, mine = _composed(
        ["experiment=spleen_segresnet_fast"],
        [
            f"hydra.searchpath=[file://{tmp_path / 'my_conf'}]",
            "experiment=short",
            "learning_rate=0.02",  # the command line still wins
        ],
        own_conf=True,
    )
    assert shipped.train.model.name == "SegResNet" and shipped.epochs == 10
    assert "csv" in shipped.logger
    assert mine.epochs == 3 and mine.learning_rate == 0.02


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
