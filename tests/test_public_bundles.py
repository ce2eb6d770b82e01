"""Every public segmentation MMAR that trains here, as a MONAI bundle (issue #32).

For the GettingStarted and FL-client MMARs of ``../shared/clara_examples/public`` (their
primary training config, 1 epoch on the corpus's synthetic data): ``task=bundle
parity=true`` converts and certifies; the certificate must say equal within tolerance,
with MONAI's checks (verify_metadata, verify_net_in_out, check_properties for train and
infer) passing and the Triton repository read back and run; then ``python -m monai.bundle
run`` trains one epoch and infers. The deepgrow MMARs (interactive, click-driven training),
the AutoML ones (search spaces) and the pathology ones (classification of patches) are not
converted: see the README's "Leaving for the MONAI ecosystem".
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import CLARA_EXAMPLES, run_main
from corpus.cli import copy_mmar
from corpus.fl import make_fl_client_data
from corpus.gettingstarted import data_overrides, make_spleen_data, shrink_overrides

pytestmark = [pytest.mark.slow, pytest.mark.real_clara]

# MMAR -> its primary training config (the one its validation / inference configs follow)
SEGMENTATION = {
    "cte_gettingstarted_ea": "config_train_Unet.json",
    "cte_gettingstarted_40": "config_train_Unet.json",
    "cte_gettingstarted_41": "config_train_Unet.json",
    "cte_fl_admin_ea": "config_train.json",
    "cte_fl_admin_40": "config_train.json",
}


def _ok(result) -> str:
    out = result.stdout + result.stderr
    assert result.returncode == 0 and "Traceback" not in out, out[-4000:]
    return out


def _args(mmar: Path, config: str, datalist: Path) -> list[str]:
    return [
        f"mmar={mmar}",
        f"config_file=config/{config}",
        *data_overrides(datalist),
        *shrink_overrides(mmar / "config" / config),
    ]


def bundle_run(bundle: Path, *args: str) -> str:
    """``python -m monai.bundle run ARGS`` from the bundle folder, as a user runs it."""
    proc = subprocess.run(
        [sys.executable, "-m", "monai.bundle", "run", *args],
        cwd=bundle,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


# cte_fl_admin_ea ships an empty ({}) config_validation.json and no inference config: its
# evaluate.json is its config_validation_ckpt.json (Clara's validate_ckpt.sh). cte_fl_admin_40
# and cte_fl_admin_ea have no inference config: their inference.json is the validation config
# run as Clara's infer.sh ran it (tasks/bundle_sources.py).


def check_certified(bundle: Path) -> dict:
    """The certificate says equal; MONAI's checks and the Triton read-back are in it."""
    cert = json.loads((bundle / "docs" / "parity.json").read_text())
    checks = ["verify_metadata", "verify_net_in_out", "check_properties[train]"]
    assert cert["verdict"]["equal"], cert["verdict"]
    checks.append("check_properties[infer]")
    assert cert["inference"]["cases"]
    assert [c["name"] for c in cert["checks"] if c["ok"]] == checks
    assert cert["triton"]["ok"] and cert["triton"]["allclose"]
    assert cert["validation"]["cases"]
    assert set(cert["transforms"]) >= {"train", "validate"}
    assert "EQUAL within tolerance" in (bundle / "docs" / "parity.md").read_text()
    return cert


def runs_train_and_inference(bundle: Path) -> None:
    """One training epoch and the inference config through ``monai.bundle run``."""
    copy = bundle.parent / (bundle.name + "_run")
    shutil.copytree(bundle, copy)
    log = bundle_run(copy, "--config_file", "configs/train.json", "--epochs", "1")
    assert "Epoch[1] Complete" in log
    bundle_run(copy, "--config_file", "configs/inference.json")
    assert list((copy / "eval").rglob("*.nii.gz"))


@pytest.mark.parametrize("name", sorted(SEGMENTATION))
def test_public_mmar_bundle_is_accepted_and_certified(name, tmp_path):
    if not CLARA_EXAMPLES.is_dir():
        pytest.skip("../shared/clara_examples is not present")
    make = make_fl_client_data if name.startswith("cte_fl") else make_spleen_data
    datalist = make(tmp_path / "data")
    mmar = copy_mmar(CLARA_EXAMPLES / "public" / name, tmp_path / name)
    args = _args(mmar, SEGMENTATION[name], datalist)
    _ok(run_main(*args, "task=train", "epochs=1"))
    bundle = tmp_path / f"{name}_bundle"
    result = run_main(*args, "task=bundle", f"out={bundle}", "parity=true")
    _ok(result)
    assert (bundle / "configs" / "inference.json").is_file()
    check_certified(bundle)
    runs_train_and_inference(bundle)
