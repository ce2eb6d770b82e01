"""MMARLayout: root checks, default config per task, path resolution, write confinement."""

from __future__ import annotations

from pathlib import Path

import pytest

from mmar_hydra.errors import ConfigError
from mmar_hydra.mmar.layout import ENV_DEFAULTS, MMARLayout, model_file, undefined_variable


@pytest.fixture
def mmar(tmp_path: Path) -> Path:
    root = tmp_path / "mmar"
    (root / "config").mkdir(parents=True)
    for name in ("config_train.json", "config_validation.json", "environment.json"):
        (root / "config" / name).write_text("{}")
    return root


def test_root_must_exist_and_hold_config(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found") as err:
        MMARLayout(tmp_path / "nope")
    assert err.value.path == "mmar"
    (tmp_path / "bare").mkdir()
    with pytest.raises(ConfigError, match="no config/"):
        MMARLayout(tmp_path / "bare")


def test_attributes(mmar: Path) -> None:
    layout = MMARLayout(mmar)
    assert layout.root == mmar.resolve()
    assert layout.config_dir == mmar.resolve() / "config"
    assert layout.custom_dir == mmar.resolve() / "custom"


@pytest.mark.parametrize(
    ("task", "expected"),
    [
        ("train", "config_train.json"),
        ("check", "config_train.json"),
        ("export", "config_train.json"),
        ("finetune", "config_train.json"),  # no config_finetune.json: falls back
        ("validate", "config_validation.json"),
        ("something_else", "config_train.json"),
    ],
)
def test_default_config_per_task(mmar: Path, task: str, expected: str) -> None:
    assert MMARLayout(mmar).config_file_for(task).name == expected


def test_finetune_prefers_its_own_config(mmar: Path) -> None:
    (mmar / "config" / "config_finetune.json").write_text("{}")
    assert MMARLayout(mmar).config_file_for("finetune").name == "config_finetune.json"


def test_explicit_config_file_is_relative_to_root(mmar: Path, tmp_path: Path) -> None:
    (mmar / "config" / "config_train_Unet.json").write_text("{}")
    layout = MMARLayout(mmar)
    want = mmar.resolve() / "config" / "config_train_Unet.json"
    assert layout.config_file_for("train", "config/config_train_Unet.json") == want
    assert layout.config_file_for("train", "config_train_Unet.json") == want  # bare name
    other = tmp_path / "elsewhere.json"
    other.write_text("{}")
    assert layout.config_file_for("train", str(other)) == other.resolve()


def test_missing_config_lists_available(mmar: Path) -> None:
    with pytest.raises(ConfigError) as err:
        MMARLayout(mmar).config_file_for("infer")
    text = err.value.format()
    assert "config/config_inference.json" in text
    assert "config/config_train.json" in text and "config/config_validation.json" in text
    assert "environment.json" not in err.value.expected
    assert err.value.path == "config_file"
    assert MMARLayout(mmar).available_configs() == [
        "config/config_train.json",
        "config/config_validation.json",
    ]


def test_env_file(mmar: Path) -> None:
    layout = MMARLayout(mmar)
    assert layout.env_file() == mmar.resolve() / "config" / "environment.json"
    (mmar / "config" / "environment.json").unlink()
    assert layout.env_file() is None  # the default one is optional
    with pytest.raises(ConfigError, match="environment file not found"):
        layout.env_file("config/missing.json")


def test_resolve(mmar: Path) -> None:
    layout = MMARLayout(mmar)
    assert layout.resolve("models/model.pt") == mmar.resolve() / "models" / "model.pt"
    assert layout.resolve("/abs/x") == Path("/abs/x")


def test_env_defaults() -> None:
    # Clara had no default model files: a config reading {MMAR_CKPT} that no file defines is
    # refused where the path is read (test_run_paths); export falls back to the usual place
    assert undefined_variable(ENV_DEFAULTS["MMAR_CKPT"]) == "MMAR_CKPT"
    assert model_file(ENV_DEFAULTS, "MMAR_CKPT") == "models/model.pt"
    assert model_file({"MMAR_TORCHSCRIPT": "m/x.ts"}, "MMAR_TORCHSCRIPT") == "m/x.ts"
    assert ENV_DEFAULTS["MMAR_EVAL_OUTPUT_PATH"] == "eval"
    assert set(ENV_DEFAULTS) == {
        "MMAR_EVAL_OUTPUT_PATH",
        "MMAR_CKPT_DIR",
        "MMAR_CKPT",
        "MMAR_TORCHSCRIPT",
        "PROCESSING_TASK",
    }


def test_export_reads_a_config_train_star_without_config_train(tmp_path: Path) -> None:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config_train_Unet.json").write_text("{}")
    layout = MMARLayout(tmp_path)
    assert layout.config_file_for("export").name == "config_train_Unet.json"
    with pytest.raises(ConfigError, match="task=train not found"):
        layout.config_file_for("train")  # only export guesses (and says which network it built)
