"""Registration of the MMAR with Hydra and Clara-style override handling."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from mmar_hydra import hydra_config
from mmar_hydra.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]

MMAR_CONFIG = {
    "epochs": 2,
    "learning_rate": 1e-4,
    "in_channels": 1,
    "out_classes": 3,
    "DATA_ROOT": "/data",
    "train": {
        "model": {"name": "UNet", "args": {"spatial_dims": 3, "channels": [8, 16]}},
        "loss": {"name": "DiceLoss", "args": {"softmax": True}},
        "optimizer": {"name": "Adam", "args": {"lr": "${learning_rate}"}},
        "trainer": {"name": "SupervisedTrainer", "args": {"max_epochs": "${epochs}"}},
    },
}


def _compose(overrides: list[str]):
    hydra_config.register_mmar(MMAR_CONFIG)
    GlobalHydra.instance().clear()
    with initialize_config_dir(str(hydra_config.conf_dir()), version_base="1.3"):
        return compose("config", overrides=hydra_config.rewrite_overrides(overrides, MMAR_CONFIG))


def test_mmar_is_composed_with_its_own_components_as_group_defaults():
    cfg = _compose([])
    assert cfg.train.model.name == "UNet"
    assert cfg.train.loss.name == "DiceLoss"
    assert cfg.train.trainer.args.max_epochs == 2


def test_a_flat_config_after_a_training_config_has_no_train_section():
    """In-process runs (tests, notebooks): the previous MMAR's components must not leak."""
    _compose([])
    hydra_config.register_mmar({"out_classes": 2, "model": {"ts_path": "models/model.ts"}})
    GlobalHydra.instance().clear()
    with initialize_config_dir(str(hydra_config.conf_dir()), version_base="1.3"):
        cfg = compose("config")
    assert "train" not in cfg and cfg.model.ts_path == "models/model.ts"


def test_global_override_reaches_every_use():
    cfg = OmegaConf.to_container(_compose(["epochs=7", "learning_rate=0.5"]), resolve=True)
    assert cfg["train"]["trainer"]["args"]["max_epochs"] == 7
    assert cfg["train"]["optimizer"]["args"]["lr"] == 0.5


def test_component_arg_override_by_json_path_and_new_arg():
    cfg = _compose(["train.model.args.channels=[4,8,16]", "train.model.args.num_res_units=1"])
    assert list(cfg.train.model.args.channels) == [4, 8, 16]
    assert cfg.train.model.args.num_res_units == 1


def test_unknown_keys_are_accepted_like_clara_set():
    cfg = _compose(["my_new_var=True", "DATA_ROOT=/elsewhere"])
    assert cfg.my_new_var is True
    assert cfg.DATA_ROOT == "/elsewhere"


def test_group_preset_swaps_the_network():
    cfg = OmegaConf.to_container(_compose(["network=segresnet"]), resolve=True)
    model = cfg["train"]["model"]
    assert model["name"] == "SegResNet"
    assert model["args"]["out_channels"] == 3  # from the MMAR's out_classes
    assert "channels" not in model["args"]  # nothing of the MMAR's UNet leaks in


def test_bad_override_syntax_is_a_config_error():
    with pytest.raises(ConfigError, match="cannot parse the override"):
        hydra_config.parse_overrides(["epochs=[1,"])


def test_conf_dir_is_found_in_a_built_wheel(tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path),
            str(REPO),
        ],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    wheel = next(tmp_path.glob("mmar_hydra-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "mmar_hydra/conf/config.yaml" in names
    assert "mmar_hydra/conf/trainer/ddp_cpu.yaml" in names
    # installed from the wheel alone, the package finds its conf/ inside itself
    target = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(target)
    code = "from mmar_hydra.hydra_config import conf_dir; print(conf_dir())"
    found = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"},
    )
    assert found.returncode == 0, found.stderr
    assert Path(found.stdout.strip()) == target / "mmar_hydra" / "conf"


def test_any_trainer_argument_can_be_set_whatever_the_preset():
    cfg = _compose(["trainer.precision=bf16-mixed", "trainer=ddp_cpu", "trainer.devices=3"])
    assert cfg.trainer.precision == "bf16-mixed" and cfg.trainer.devices == 3
