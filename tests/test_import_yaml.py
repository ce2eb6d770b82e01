"""task=import: the MMAR as Hydra YAML that runs, and whose edits take effect."""

from __future__ import annotations

import json

from conftest import TINY_TRAIN, run_main


def test_imported_yaml_is_editable_and_runs(tiny_demo, tmp_path):
    out = tmp_path / "yaml"
    proc = run_main(f"mmar={tiny_demo}", "task=import", f"out={out}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert {p.relative_to(out).as_posix() for p in out.rglob("*.yaml")} == {
        "_mmar_.yaml",
        "network/mmar.yaml",
        "loss/mmar.yaml",
        "optimizer/mmar.yaml",
        "lr_scheduler/mmar.yaml",
    }
    primary = (out / "_mmar_.yaml").read_text()
    assert "max_epochs: ${epochs}" in primary  # Clara variables stay variables
    (out / "_mmar_.yaml").write_text(primary.replace("epochs: 40", "epochs: 1"))
    loss = (out / "loss" / "mmar.yaml").read_text()
    (out / "loss" / "mmar.yaml").write_text(loss.replace("DiceCELoss", "DiceLoss"))
    overrides = [o for o in TINY_TRAIN if not o.startswith("epochs=")]
    proc = run_main(
        f"mmar={tiny_demo}", "task=train", f"hydra.searchpath=[file://{out}]", *overrides
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    stats = json.loads((tiny_demo / "models" / "train_stats.json").read_text())
    assert stats["epochs"] == 1
    conf = (tiny_demo / "models" / "mmar_hydra_config.yaml").read_text()
    assert "name: DiceLoss" in conf and "DiceCELoss" not in conf
