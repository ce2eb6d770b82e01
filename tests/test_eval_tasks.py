"""validate / infer / export / finetune from the CLI on the trained tiny demo MMAR."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import nibabel as nib
import numpy as np
import pytest
import torch
from conftest import TINY_EVAL, TINY_TRAIN, run_main, save_foreign_checkpoint


def _ok(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


def _user_error(proc: subprocess.CompletedProcess, *needles: str) -> None:
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    for needle in needles:
        assert needle in proc.stderr, proc.stderr[-3000:]


@pytest.fixture(scope="module")
def exported(trained_demo):
    _ok(run_main(f"mmar={trained_demo}", "task=export", "input_shape=[1,1,24,24,16]"))
    return trained_demo


def _metrics(root) -> dict[str, float]:
    rows = (root / "eval" / "metrics.csv").read_text().splitlines()
    return {k: float(v) for k, v in (r.split(",") for r in rows)}


def test_export_runs_with_plain_torch(exported):
    ts = exported / "models" / "model.ts"
    code = (
        "import sys; sys.modules['mmar_hydra'] = None\n"  # prove mmar_hydra is not needed
        "import json, torch\n"
        f"files = {{'train_conf.json': '', 'metadata.json': ''}}\n"
        f"m = torch.jit.load({str(ts)!r}, _extra_files=files)\n"
        "out = m(torch.rand(1, 1, 24, 24, 16))\n"
        "print(tuple(out.shape), json.loads(files['metadata.json'])['input_shape'],\n"
        "      json.loads(files['train_conf.json'])['train']['model']['name'])\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "(1, 2, 24, 24, 16) [1, 1, 24, 24, 16] UNet"


def test_validate_ts_and_ckpt_agree_and_match_training(exported):
    _ok(run_main(f"mmar={exported}", "task=validate", *TINY_EVAL))
    ts = _metrics(exported)
    raw = list(csv.reader((exported / "eval" / "val_mean_dice_raw.csv").open()))
    assert raw[0] == ["filename", "class0", "mean"] and len(raw) == 1 + 2  # 2 validation cases
    summary = list(csv.DictReader((exported / "eval" / "val_mean_dice_summary.csv").open()))
    values = [float(r[1]) for r in raw[1:]]
    assert float(summary[0]["mean"]) == pytest.approx(np.mean(values), abs=1e-4)
    assert float(summary[0]["max"]) == pytest.approx(max(values), abs=1e-4)

    _ok(
        run_main(
            f"mmar={exported}",
            "task=validate",
            *TINY_EVAL,
            "dont_load_ts_model=true",
            "dont_load_ckpt_model=false",
        )
    )
    ckpt = _metrics(exported)
    assert ckpt["val_mean_dice"] == pytest.approx(ts["val_mean_dice"], abs=1e-5)
    best = torch.load(exported / "models" / "model.pt", weights_only=True)["val_mean_dice"]
    assert ckpt["val_mean_dice"] == pytest.approx(best, abs=1e-3)


def test_infer_writes_predictions_in_input_geometry(exported):
    out = _ok(run_main(f"mmar={exported}", "task=infer", *TINY_EVAL))
    assert "1 case(s) inferred" in out
    test_list = json.loads((exported / "data" / "dataset.json").read_text())["test"]
    image = nib.load(exported / "data" / test_list[0])
    name = test_list[0].split("/")[-1].replace(".nii.gz", "")
    pred = nib.load(exported / "eval" / name / f"{name}_seg.nii.gz")
    assert pred.shape == image.shape
    np.testing.assert_allclose(pred.affine, image.affine, atol=1e-4)


def test_finetune_starts_from_the_checkpoint_and_skips_new_class_layers(trained_demo, tmp_path):
    import shutil

    mmar = tmp_path / "ft"
    shutil.copytree(trained_demo, mmar, ignore=shutil.ignore_patterns("eval", "runs"))
    out = _ok(run_main(f"mmar={mmar}", "task=finetune", *TINY_TRAIN, "epochs=1"))
    assert "CheckpointLoader" in out and "loaded" in out and "skipped" not in out
    out = _ok(
        run_main(
            f"mmar={mmar}",
            "task=finetune",
            *TINY_TRAIN,
            "epochs=1",
            "out_classes=3",
            "MMAR_CKPT=models/final_model.pt",
        )
    )
    assert "skipped" in out  # the output layer changed shape: listed, not loaded
    final = torch.load(mmar / "models" / "final_model.pt", weights_only=True)["model"]
    assert any(tuple(v.shape) == (3,) for k, v in final.items() if k.endswith("bias"))


def test_missing_model_file(exported):
    _user_error(
        run_main(
            f"mmar={exported}", "task=validate", *TINY_EVAL, "MMAR_TORCHSCRIPT=models/none.ts"
        ),
        "TorchScript model not found",
        "none.ts",
    )


def test_file_that_is_not_torchscript(exported):
    _user_error(
        run_main(
            f"mmar={exported}", "task=validate", *TINY_EVAL, "MMAR_TORCHSCRIPT=models/model.pt"
        ),
        "not a TorchScript model",
    )


def test_checkpoint_that_does_not_fit_the_network(exported):
    save_foreign_checkpoint(exported / "models" / "other.pt")  # no train_conf
    proc = run_main(
        f"mmar={exported}",
        "task=export",
        "model_path=models/other.pt",
        "output_path=models/other.ts",
    )
    _user_error(
        proc,
        "does not fit the network",
        "model.1.submodule",
        "checkpoint (48, 8, 3, 3, 3) vs network (32, 8, 3, 3, 3)",
    )
    assert not (exported / "models" / "other.ts").exists()


def test_test_list_with_missing_images(exported, tmp_path):
    datalist = json.loads((exported / "data" / "dataset.json").read_text())
    datalist["test"] = ["imagesTs/gone_1.nii.gz", "imagesTs/gone_2.nii.gz"]
    bad = exported / "data" / "missing.json"
    bad.write_text(json.dumps(datalist))
    _user_error(
        run_main(f"mmar={exported}", "task=infer", *TINY_EVAL, f"DATASET_JSON={bad}"),
        "2 data file(s) of the datalist are missing",
        "gone_1.nii.gz",
    )
