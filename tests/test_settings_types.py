"""Issue #34: every framework key is read typed, from Settings; Hydra and the CLI agree on it.

``force=no`` used to overwrite an existing clone (``bool('no')`` is True), as ``allow_code=no``
once ran code. Every boolean key now takes what shell scripts write, and refuses the rest.
"""

from __future__ import annotations

import dataclasses
import typing

import pytest
from conftest import run_main
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from mmar_hydra import hydra_config
from mmar_hydra.settings import Settings, parse_settings

BOOL_KEYS = [
    f.name for f in dataclasses.fields(Settings) if typing.get_type_hints(Settings)[f.name] is bool
]
FALSE_WORDS = ["no", "false", "0", "off", "False"]


def _composed(*overrides: str):
    """The primary config composed by Hydra with the typed ``_settings_`` node."""
    hydra_config.register_empty()
    GlobalHydra.instance().clear()
    with initialize_config_dir(str(hydra_config.conf_dir()), version_base="1.3"):
        return compose("config", overrides=list(overrides))


def test_there_are_boolean_keys_to_sweep():
    assert {"force", "allow_code", "clone_models", "fast", "debug"} <= set(BOOL_KEYS)


@pytest.mark.parametrize("word", FALSE_WORDS)
def test_every_boolean_key_reads_false_words_as_false(word):
    keys = [k for k in BOOL_KEYS if k != "debug"]  # debug= is also the debug group's selector
    cfg = _composed(*(f"{k}={word}" for k in keys))
    settings = parse_settings(cfg)
    assert {k: getattr(settings, k) for k in keys} == dict.fromkeys(keys, False)
    assert {k: cfg[k] for k in keys} == dict.fromkeys(keys, False)  # Hydra's typed node too
    hydra_config.check_settings_overrides([f"{k}={word}" for k in keys])  # the CLI's pre-check


@pytest.mark.parametrize("word", FALSE_WORDS)
def test_debug_false_words_are_false(word):
    (override,) = hydra_config.normalize_debug([f"debug={word}"])
    assert parse_settings(_composed(override)).debug is False


@pytest.mark.parametrize("key", [k for k in BOOL_KEYS if k != "debug"])
def test_a_word_that_is_no_boolean_is_a_clean_error(key, tmp_path):
    proc = run_main("task=demo_data", f"out={tmp_path / 'x'}", f"{key}=maybe")
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert f"{key}='maybe' is not a boolean" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "x").exists()


def test_clone_with_force_no_keeps_an_existing_clone(trained_demo, tmp_path):
    out = tmp_path / "clone"
    assert run_main(f"mmar={trained_demo}", "task=clone", f"out={out}", "epochs=3").returncode == 0
    before = (out / "config" / "config_train.json").read_text()
    proc = run_main(f"mmar={trained_demo}", "task=clone", f"out={out}", "epochs=7", "force=no")
    assert proc.returncode == 2 and "exists and is not empty" in proc.stderr
    assert (out / "config" / "config_train.json").read_text() == before
    proc = run_main(f"mmar={trained_demo}", "task=clone", f"out={out}", "epochs=7", "force=yes")
    assert (
        proc.returncode == 0 and '"epochs": 7' in (out / "config" / "config_train.json").read_text()
    )


def test_demo_data_with_force_no_keeps_existing_files(tmp_path):
    out = tmp_path / "demo"
    assert run_main("task=demo_data", f"out={out}").returncode == 0
    env = out / "config" / "environment.json"
    env.write_text('{"DATA_ROOT": "edited"}')
    assert run_main("task=demo_data", f"out={out}", "force=no").returncode in (0, 2)
    assert env.read_text() == '{"DATA_ROOT": "edited"}'
