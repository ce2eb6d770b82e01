"""The catalogue of bad input: each gets a short, precise error, a non-zero exit, no traceback,
and leaves models/ untouched."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import pytest
from conftest import TINY_TRAIN, run_main, save_foreign_checkpoint

from mmar_hydra.errors import CheckpointError


def _edit(root: Path, fn) -> None:  # noqa: ANN001
    path = root / "config" / "config_train.json"
    cfg = json.loads(path.read_text())
    fn(cfg)
    path.write_text(json.dumps(cfg, indent=2))


def _datalist(root: Path, fn) -> None:  # noqa: ANN001
    path = root / "data" / "dataset.json"
    data = json.loads(path.read_text())
    fn(data)
    path.write_text(json.dumps(data))


def _set(section: str, key: str, sub: str, value):  # noqa: ANN001, ANN202
    return lambda c: c[section][key]["args"].__setitem__(sub, value)


def _shape_mismatch(root: Path) -> None:
    import nibabel as nib
    import numpy as np

    nib.save(
        nib.Nifti1Image(np.zeros((20, 20, 20), np.uint8), np.eye(4)), root / "data" / "small.nii.gz"
    )
    _datalist(root, lambda d: d["training"][0].__setitem__("label", "small.nii.gz"))


def _foreign_checkpoint(root: Path) -> None:
    save_foreign_checkpoint(root / "models" / "model.pt")


CASES = {
    "malformed JSON": (
        lambda r: (r / "config" / "config_train.json").write_text('{\n "epochs": 2,\n}'),
        [],
        ["malformed JSON", "line 3", "config_train.json"],
    ),
    "missing config": (
        None,
        ["config_file=config/config_nope.json"],
        ["config_nope.json", "config_train.json"],
    ),
    "unknown component": (
        None,
        ["train.model.name=UNett"],
        ["unknown component 'UNett'", "UNet", "train.model"],
    ),
    "bad args": (
        None,
        ["train.model.args.num_res_unit=2"],
        ["no argument 'num_res_unit'", "num_res_units"],
    ),
    "unresolved variable": (
        lambda r: _edit(r, _set("train", "optimizer", "lr", "{lr_typo}")),
        [],
        ["{lr_typo}", "train.optimizer.args.lr"],
    ),
    "bad @ref": (
        lambda r: _edit(r, _set("train", "dataloader", "dataset", "@datset")),
        [],
        ["unknown reference '@datset'", "train.dataloader.args.dataset"],
    ),
    "reference cycle": (
        lambda r: _edit(r, _set("train", "optimizer", "lr", "@lr_scheduler")),
        [],
        ["reference cycle", "train.lr_scheduler -> train.optimizer -> train.lr_scheduler"],
    ),
    "reference cycle across train/validate": (
        lambda r: _edit(
            r,
            lambda c: (
                _set("train", "optimizer", "lr", "@evaluator")(c),
                _set("validate", "evaluator", "extra", "@optimizer")(c),
            ),
        ),
        [],
        ["reference cycle", "train.optimizer -> validate.evaluator -> train.optimizer"],
    ),
    "ref to a disabled component": (
        lambda r: _edit(
            r,
            lambda c: (
                c["train"]["pre_transforms"][0].__setitem__("disabled", True),
                c["validate"]["pre_transforms"].__setitem__(0, {"ref": "LoadImaged"}),
            ),
        ),
        [],
        ["'ref' to train transform 'LoadImaged', which is disabled", "validate.pre_transforms[0]"],
    ),
    "a function as a component": (
        lambda r: _edit(
            r,
            lambda c: c["train"]["pre_transforms"].insert(
                0, {"name": "monai.utils.run_cmd", "args": {"cmd_list": ["true"]}}
            ),
        ),
        [],
        ["'monai.utils.run_cmd' is a function", "train.pre_transforms[0]", "allow_code=true"],
    ),
    "a non-boolean allow_code": (
        None,
        ["allow_code=maybe"],
        ["allow_code='maybe' is not a boolean", "true or false"],
    ),
    "missing DATASET_JSON": (
        None,
        ["DATASET_JSON=data/none.json"],
        ["datalist file not found", "none.json"],
    ),
    "missing data files": (
        None,
        ["DATA_ROOT=data/nowhere"],
        ["data file(s) of the datalist are missing", "nowhere"],
    ),
    "empty data split": (
        lambda r: _datalist(r, lambda d: d.__setitem__("validation", [])),
        [],
        ["'validation' split of the datalist is empty"],
    ),
    "image/label shape mismatch": (_shape_mismatch, [], ["image and label shapes differ"]),
    "in_channels mismatch": (None, ["in_channels=2"], ["expects in_channels=2", "1 channel"]),
    "checkpoint/network mismatch": (
        _foreign_checkpoint,
        ["dont_load_ckpt_model=false"],
        ["does not fit the network", "vs network"],
    ),
    "unwritable MMAR_CKPT_DIR": (
        lambda r: (r / "models" / "afile").write_text("x"),
        ["MMAR_CKPT_DIR=models/afile/sub"],
        ["MMAR_CKPT_DIR is not a writable folder"],
    ),
    "MMAR_CKPT_DIR outside the MMAR": (
        None,
        ["MMAR_CKPT_DIR=../../etc"],
        ["refusing to write outside the MMAR"],
    ),
    "bad override syntax": (None, ["epochs=[1,"], ["cannot parse the override 'epochs=[1,'"]),
    "unknown task": (None, ["task=trian"], ["unknown task 'trian'", "task=train"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_reported_cleanly(tiny_demo, case):
    prepare, extra, needles = CASES[case]
    models = tiny_demo / "models"
    models.mkdir(exist_ok=True)
    if prepare is not None:
        prepare(tiny_demo)
    sentinel = models / "model.pt"
    if not sentinel.exists():
        sentinel.write_bytes(b"previous best model")
    before = {p.name: p.read_bytes() for p in models.iterdir() if p.is_file()}
    proc = run_main(f"mmar={tiny_demo}", "task=train", *TINY_TRAIN, *extra)
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    for needle in needles:
        assert needle in proc.stderr, proc.stderr[-3000:]
    after = {p.name: p.read_bytes() for p in models.iterdir() if p.is_file() and p.name in before}
    assert after == before  # nothing in models/ overwritten


def test_disk_full_during_a_save_keeps_the_old_file(tmp_path, monkeypatch):
    from mmar_hydra.writers import atomic

    target = tmp_path / "model.pt"
    target.write_bytes(b"old")

    def full(*_, **__):  # noqa: ANN002, ANN003
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic.os, "fsync", full)
    with pytest.raises(CheckpointError, match="disk is full"):
        atomic.atomic_torch_save({"model": {}}, target)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]  # no temp file left behind
