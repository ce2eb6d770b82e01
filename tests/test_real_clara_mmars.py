"""The real Clara 4.1 and 4.0 GettingStarted configs (../shared/clara_examples), unmodified,
on synthetic data: task=check (fast), then train 2 epochs, validate and infer (slow)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from conftest import run_main

pytestmark = pytest.mark.real_clara
UNET = "config_file=config/config_train_Unet.json"


@pytest.fixture(scope="module")
def big_data(tmp_path_factory) -> Path:
    """Volumes large enough for the real configs' 96^3 crops after resampling to 1 mm."""
    from mmar_hydra.demo.synthetic import generate_dataset

    out = tmp_path_factory.mktemp("clara_data")
    generate_dataset(out, n_train=2, n_val=1, n_test=1, shape=(96, 96, 64))
    return out


def _mmar(clara_examples: Path, dialect: str, tmp_path: Path) -> Path:
    dst = tmp_path / dialect  # a cp -r of the real MMAR: the files stay unmodified
    shutil.copytree(clara_examples / dialect, dst)
    return dst


def _data(big_data: Path) -> list[str]:
    return [f"DATA_ROOT={big_data}", f"DATASET_JSON={big_data / 'dataset.json'}"]


@pytest.mark.parametrize("dialect,notes", [("gs41", 2), ("gs40", 4)])
def test_real_configs_pass_check(clara_examples, big_data, tmp_path, dialect, notes):
    mmar = _mmar(clara_examples, dialect, tmp_path)
    proc = run_main(f"mmar={mmar}", "task=check", UNET, *_data(big_data))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "check passed" in proc.stdout
    assert proc.stderr.count("compat: ") == notes  # one warning per translation
    assert "dimensions -> spatial_dims" in proc.stderr


@pytest.mark.slow
@pytest.mark.parametrize("dialect", ["gs41", "gs40"])
def test_real_configs_train_two_epochs(clara_examples, big_data, tmp_path, dialect):
    mmar = _mmar(clara_examples, dialect, tmp_path)
    proc = run_main(f"mmar={mmar}", "task=train", UNET, *_data(big_data))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    best = torch.load(mmar / "models" / "model.pt", weights_only=True)
    final = torch.load(mmar / "models" / "final_model.pt", weights_only=True)
    assert best["train_conf"]["epochs"] == 2 and set(final) >= {"model", "train_conf"}
    assert (mmar / "models" / "train_stats.json").is_file()
    assert list((mmar / "models").glob("events.out.tfevents.*"))
    if dialect == "gs41":  # its validation and inference configs run against the trained model
        proc = run_main(f"mmar={mmar}", "task=export", UNET, "input_shape=[1,1,96,96,96]")
        assert proc.returncode == 0, proc.stderr[-3000:]
        proc = run_main(f"mmar={mmar}", "task=validate", *_data(big_data))
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert (mmar / "eval" / "metrics.csv").is_file()
        proc = run_main(f"mmar={mmar}", "task=infer", *_data(big_data))
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert list((mmar / "eval").rglob("*.nii.gz"))
