"""The two public pathology MMARs (``../shared/clara_examples/public/cte_pathology_*``), run
unmodified on a generated pyramidal TIFF corpus (``tests/corpus/pathology.py``).

cte_pathology_40 (MONAI's whole-slide components by name): check, train 1 epoch, export,
validate (TorchScript), infer (probability maps), train the SmartCache config, finetune.
Its validation with ``dont_load_ckpt_model=false`` is broken as published (a network spec
and nothing that loads its weights) and must fail cleanly. Where torchvision does not import
(its PyPI wheel needs CUDA libraries beside a CPU-only torch, as here), ColorJitter
(``TorchVisiond``, train.pre_transforms[1]) is disabled by an override; the network runs as
``ResNetFCModel``, noted by the compat layer.

cte_pathology_ea (custom/ datasets, model and handlers; ``allow_code=true``): its model
imports torchvision, its reader opens slides with ``cuimage`` (served by the custom/ compat
import layer), its ProbMapSaver runs as an ignite handler in the inference loop. Train, the
SmartCache variant, export, infer; finetune and both validations after the fix their broken
reader default needs (``CuImage``, a name the MMAR's own reader refuses: the clean error as
published).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from corpus.cli import copy_mmar
from corpus.cli import ok as _ok
from corpus.cli import run as _run
from corpus.pathology import make_pathology_data

from mmar_hydra.reader.compat_pathology import torchvision_imports

pytestmark = [pytest.mark.slow, pytest.mark.real_clara]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict[str, Path]:
    return make_pathology_data(tmp_path_factory.mktemp("pathology_data"))


def _mmar(clara_examples: Path, name: str, tmp_path: Path) -> Path:
    return copy_mmar(clara_examples / "public" / name, tmp_path / name)


NO_TORCHVISION = ["train.pre_transforms.1.disabled=true"] if torchvision_imports() else []


def test_pathology_40_runs(clara_examples, corpus, tmp_path):
    mmar = _mmar(clara_examples, "cte_pathology_40", tmp_path)
    data = [
        f"mmar={mmar}",
        f"DATA_ROOT={corpus['data_root']}",
        f"DATASET_JSON={corpus['datalist_40']}",
    ]
    out = _ok(*data, "task=check", *NO_TORCHVISION)
    assert "PatchWSIDataset -> mmar_hydra.pathology.PatchWSIDataset" in out
    assert "pretrained=true -> pretrained=false" in out

    out = _ok(*data, "task=train", "epochs=1", *NO_TORCHVISION)
    assert (mmar / "models" / "model.pt").is_file() and "val_acc" in out
    _ok(f"mmar={mmar}", "task=export", "input_shape=[1,3,224,224]")
    assert (mmar / "models" / "model.ts").is_file()

    code, out = _run(*data, "task=validate")  # its StatsHandler prints through a lambda
    assert code == 2 and "allow_code=true" in out
    out = _ok(*data, "task=validate", "allow_code=true")
    assert "54 case(s) validated" in out and (mmar / "eval" / "metrics.csv").is_file()
    code, out = _run(
        *data,
        "task=validate",
        "allow_code=true",
        "dont_load_ts_model=true",
        "dont_load_ckpt_model=false",
    )
    assert code == 2 and "randomly initialised weights" in out, out[-2000:]

    out = _ok(*data, "task=infer", "allow_code=true")
    for mask_file in sorted((corpus["data_root"] / "FG").glob("*.npy")):
        mask = np.load(mask_file)
        prob = np.load(mmar / "eval" / mask_file.name)
        assert prob.shape == mask.shape
        assert ((prob > 0) == (mask > 0)).all() and prob.max() <= 1.0

    _ok(*data, "task=finetune", "epochs=1", *NO_TORCHVISION)
    _ok(
        *data,
        "task=train",
        "config_file=config/config_train_smartcache.json",
        "epochs=1",
        "MMAR_CKPT_DIR=models_sc",
        *NO_TORCHVISION,
    )
    assert (mmar / "models_sc" / "final_model.pt").is_file()


READER = "`wsi_reader_name` should be either"  # the custom reader refuses its own default
READER_FIX = "image_reader_name=cuclaraimage"  # what the train configs set explicitly


@pytest.fixture
def pathology_ea(clara_examples, corpus, tmp_path) -> tuple[Path, list[str]]:
    mmar = _mmar(clara_examples, "cte_pathology_ea", tmp_path)
    data = [f"DATA_ROOT={corpus['data_root']}", f"DATASET_JSON={corpus['datalist_ea']}"]
    return mmar, [f"mmar={mmar}", *data]


def test_pathology_ea_is_custom_code_refused_without_allow_code(pathology_ea):
    _, env = pathology_ea
    code, out = _run(*env, "task=check")
    assert code == 2 and "allow_code=true" in out and "Traceback" not in out


def test_pathology_ea_trains_exports_and_infers(pathology_ea, corpus):
    """config_train.json (custom model on torchvision, TorchVisiond, cuimage through the
    compat layer), its SmartCache variant, export, inference with its ProbMapSaver, both
    validations and finetune."""
    mmar, env = pathology_ea
    env = [*env, "allow_code=true"]
    out = _ok(*env, "task=train", "epochs=1")
    assert "compat: import cuimage -> mmar_hydra.pathology.cuimage_compat" in out
    assert (mmar / "models" / "model.pt").is_file() and "val_acc" in out

    # broken as published: its ValidationHandler interval is "{valid_interval}", undefined
    smartcache = [*env, "task=train", "config_file=config/config_train_smartcache.json"]
    code, out = _run(*smartcache, "epochs=1")
    assert code == 2 and "unresolved variable {valid_interval}" in out, out[-2000:]
    _ok(*smartcache, "valid_interval=1", "epochs=1", "MMAR_CKPT_DIR=models_sc")
    assert (mmar / "models_sc" / "final_model.pt").is_file()

    # the network takes 2D RGB patches: the derived 3D sample fails with a clean error
    code, out = _run(*env, "task=export")
    assert code == 2 and "input_shape=" in out and "Traceback" not in out, out[-2000:]
    _ok(*env, "task=export", "input_shape=[1,3,224,224]")
    assert (mmar / "models" / "model.ts").is_file()

    # config_inference.json leaves the reader at the custom code's default, which that code
    # refuses: broken as published; with the train configs' reader it writes the maps
    code, out = _run(*env, "task=infer")
    assert code == 2 and READER in out and "Traceback" not in out, out[-2000:]
    _ok(*env, "task=infer", f"dataset.args.{READER_FIX}")
    mask = np.load(corpus["data_root"] / "FG" / "tumor_001.npy")
    prob = np.load(mmar / "eval" / "tumor_001.npy")  # written by its custom ProbMapSaver
    assert prob.shape == mask.shape and (mmar / "eval" / "tumor_001.csv").is_file()

    # these configs leave the reader at that default too: the same clean error as published;
    # with the train configs' reader they run (finetune from the model.pt trained above)
    for config, task, fix in [
        ("config_validation.json", "validate", ["dataset.args"]),
        ("config_validation_ckpt.json", "validate", ["dataset.args"]),
        ("config_finetune.json", "finetune", ["train.dataset.args", "validate.dataset.args"]),
    ]:
        run = [*env, f"task={task}", f"config_file=config/{config}", "epochs=1"]
        code, out = _run(*run)
        assert code == 2 and READER in out and "Traceback" not in out, out[-2000:]
        out = _ok(*run, *[f"{p}.{READER_FIX}" for p in fix])
        assert "case(s) validated" in out if task == "validate" else "CheckpointLoader" in out
