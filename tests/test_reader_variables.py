"""Clara ``{VAR}`` -> OmegaConf ``${VAR}``: typing, embedding, escaping and precedence."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from omegaconf import OmegaConf

from mmar_hydra.reader.mmar_reader import read_mmar
from mmar_hydra.reader.variables import (
    escape_literal,
    find_variables,
    merge_variables,
    split_globals,
    to_interpolations,
    undefined_variables,
    variable_uses,
)


def _resolve(config: dict[str, Any]) -> dict[str, Any]:
    return OmegaConf.to_container(OmegaConf.create(config), resolve=True)  # type: ignore[return-value]


def _mmar(tmp_path: Path, config: dict[str, Any], env: dict[str, Any] | None = None) -> Path:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config_train.json").write_text(json.dumps(config))
    if env is not None:
        (tmp_path / "config" / "environment.json").write_text(json.dumps(env))
    return tmp_path


TRAIN = {
    "epochs": 3,
    "learning_rate": 2e-4,
    "dont_load_ckpt_model": True,
    "train": {
        "optimizer": {"name": "Adam", "args": {"lr": "{learning_rate}"}},
        "handlers": [
            {"name": "CheckpointLoader", "disabled": "{dont_load_ckpt_model}", "args": {}},
            {"name": "MetricsSaver", "args": {"save_dir": "{MMAR_EVAL_OUTPUT_PATH}/segs"}},
        ],
        "trainer": {"name": "SupervisedTrainer", "args": {"max_epochs": "{epochs}"}},
    },
}


def test_whole_string_variable_keeps_type_embedded_interpolates(tmp_path: Path) -> None:
    result = read_mmar(_mmar(tmp_path, TRAIN, {"MMAR_EVAL_OUTPUT_PATH": "out"}))
    train = result.config["train"]
    assert train["trainer"]["args"]["max_epochs"] == "${epochs}"
    resolved = _resolve(result.config)["train"]
    assert resolved["trainer"]["args"]["max_epochs"] == 3
    assert resolved["optimizer"]["args"]["lr"] == pytest.approx(2e-4)
    assert resolved["handlers"][0]["disabled"] is True
    assert resolved["handlers"][1]["args"]["save_dir"] == "out/segs"


def test_precedence_defaults_config_env(tmp_path: Path) -> None:
    config = {**TRAIN, "MMAR_CKPT_DIR": "from_config", "DATA_ROOT": "/cfg"}
    env = {"DATA_ROOT": "/env", "epochs": 9}
    result = read_mmar(_mmar(tmp_path, config, env))
    resolved = _resolve(result.config)
    assert resolved["DATA_ROOT"] == "/env"  # environment.json beats the config
    assert resolved["train"]["trainer"]["args"]["max_epochs"] == 9
    assert resolved["MMAR_CKPT_DIR"] == "from_config"  # config beats the defaults
    assert resolved["MMAR_EVAL_OUTPUT_PATH"] == "eval"  # defaults fill what neither has
    # ... except the model files: Clara never defaulted them, so reading one is refused
    assert resolved["MMAR_CKPT"] == "<MMAR_CKPT is not defined>"
    assert result.env == env


def test_hydra_style_override_reaches_every_use(tmp_path: Path) -> None:
    result = read_mmar(_mmar(tmp_path, TRAIN))
    cfg = OmegaConf.merge(OmegaConf.create(result.config), OmegaConf.from_dotlist(["epochs=7"]))
    assert OmegaConf.to_container(cfg, resolve=True)["train"]["trainer"]["args"]["max_epochs"] == 7


def test_literal_dollar_brace_is_escaped(tmp_path: Path) -> None:
    config = {**TRAIN, "note": "cost ${price} and {epochs}"}
    result = read_mmar(_mmar(tmp_path, config))
    assert result.config["note"] == "cost \\${price} and ${epochs}"
    assert _resolve(result.config)["note"] == "cost ${price} and 3"


def test_escape_literal_and_backslashes() -> None:
    assert escape_literal("a${b}") == "a\\${b}"
    assert escape_literal("no vars {x}") == "no vars {x}"
    cfg = {"X": 5, "win": to_interpolations("C:\\d\\{X}"), "lit": to_interpolations("\\${X}")}
    assert _resolve(cfg) == {"X": 5, "win": "C:\\d\\5", "lit": "\\${X}"}


def test_to_interpolations_walks_lists_and_leaves_other_values() -> None:
    obj = {"a": ["{x}", 1, None, True], "{k}": "{not-a-var}", "b": {"c": "{y}_{z}"}}
    out = to_interpolations(obj)
    assert out == {"a": ["${x}", 1, None, True], "{k}": "{not-a-var}", "b": {"c": "${y}_${z}"}}
    assert obj["a"][0] == "{x}"  # input untouched


def test_find_and_undefined_variables() -> None:
    cfg = to_interpolations(
        {"epochs": 1, "train": {"t": {"args": {"n": "{epochs}", "p": "{DATA_ROOT}/x"}}}}
    )
    cfg["lit"] = escape_literal("${NOT_A_VAR}")
    assert find_variables(cfg) == {"epochs", "DATA_ROOT"}
    assert variable_uses(cfg)["DATA_ROOT"] == ["train.t.args.p"]
    assert undefined_variables(cfg) == {"DATA_ROOT": ["train.t.args.p"]}
    assert undefined_variables(cfg, extra={"DATA_ROOT": "/d"}) == {}


def test_read_mmar_does_not_raise_for_undefined(tmp_path: Path) -> None:
    config = {**TRAIN, "train": {"dataset": {"name": "Dataset", "data_file_base_dir": "{ROOTX}"}}}
    result = read_mmar(_mmar(tmp_path, config))
    assert undefined_variables(result.config) == {"ROOTX": ["train.dataset.data_file_base_dir"]}


def test_split_globals_train_and_flat() -> None:
    g, s = split_globals({"epochs": 1, "train": {}, "validate": {}})
    assert g == {"epochs": 1} and set(s) == {"train", "validate"}
    g, s = split_globals({"amp": True, "model": {}, "pre_transforms": [], "evaluator": {}})
    assert g == {"amp": True} and set(s) == {"model", "pre_transforms", "evaluator"}


def test_merge_variables_order() -> None:
    merged = merge_variables({"a": 1, "b": 1}, {"b": 2, "c": 2}, {"a": 0, "c": 0, "d": 0})
    assert merged == {"a": 1, "b": 2, "c": 2, "d": 0}


def test_reading_does_not_import_torch(tmp_path: Path) -> None:
    """Startup speed: a config with nothing to translate is read without torch or monai."""
    import subprocess
    import sys

    root = _mmar(tmp_path, TRAIN)
    code = (
        "import sys; from mmar_hydra.reader.mmar_reader import read_mmar; "
        f"read_mmar({str(root)!r}); "
        "print(sorted(m for m in ('torch', 'monai') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
