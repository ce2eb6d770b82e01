"""task=export without config/config_train.json (GettingStarted has config_train_Unet.json
and others): the network comes from the checkpoint's train_conf, else from the MMAR's one
config_train*.json, and the export says which; with several and no train_conf, a clean error."""

from __future__ import annotations

import shutil

import pytest
from conftest import run_main, save_foreign_checkpoint

pytestmark = pytest.mark.slow  # 12 s on a loaded worker; the fast suite is over its budget

SMALL = ["train.model.args.channels=[8,16,32]", "train.model.args.strides=[2,2]"]


def test_export_says_which_config_builds_the_network(tiny_demo):
    config = tiny_demo / "config"
    shutil.move(config / "config_train.json", config / "config_train_Unet.json")
    shutil.copy(config / "config_train_Unet.json", config / "config_train_segresnet.json")
    (tiny_demo / "models").mkdir(exist_ok=True)
    save_foreign_checkpoint(tiny_demo / "models" / "model.pt")  # no train_conf in it
    args = [f"mmar={tiny_demo}", "task=export", "input_shape=[1,1,16,16,16]", *SMALL]

    proc = run_main(*args)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2 and "Traceback" not in out
    assert "several training configs: config/config_train_Unet.json, config/" in out
    assert "config_file=config/config_train_Unet.json" in out  # the fix names one
    assert not (tiny_demo / "models" / "model.ts").exists()

    (config / "config_train_segresnet.json").unlink()
    proc = run_main(*args)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert (
        "export: network from config/config_train_Unet.json (model.pt carries no train_conf)"
        in proc.stdout
    )
    assert (tiny_demo / "models" / "model.ts").is_file()
