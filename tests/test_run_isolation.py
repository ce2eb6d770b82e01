"""Where runs write (RunPaths) and Clara's CheckpointSaver switches, end to end in-process."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
from conftest import TINY_TRAIN, run_main


def _edit(root: Path, fn) -> None:  # noqa: ANN001
    path = root / "config" / "config_train.json"
    cfg = json.loads(path.read_text())
    fn(cfg)
    path.write_text(json.dumps(cfg, indent=2))


def _tree_hash(root: Path) -> str:
    """Every path and file content under ``root`` but the run folders (runs/)."""
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if rel.parts[0] == "runs":
            continue
        digest.update(str(rel).encode())
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


def _handler(cfg: dict, section: str, name: str) -> dict:
    return next(h for h in cfg[section]["handlers"] if h["name"] == name)


def test_sweep_jobs_never_write_into_the_parent_mmar(tiny_demo):
    parent = tiny_demo.resolve()

    def literal_and_absolute_paths(cfg: dict) -> None:
        cfg["train"]["dataset"] = {  # a literal "cache" folder, as real MMARs write it
            **cfg["train"]["dataset"],
            "name": "PersistentDataset",
            "args": {"transform": "@pre_transforms", "cache_dir": "cache"},
        }
        _handler(cfg, "train", "CheckpointSaver")["args"]["save_dir"] = str(parent / "models")
        _handler(cfg, "train", "TensorBoardStatsHandler")["args"]["log_dir"] = "models"
        _handler(cfg, "validate", "CheckpointSaver")["args"]["save_dir"] = "models"

    _edit(tiny_demo, literal_and_absolute_paths)
    before = _tree_hash(parent)
    proc = run_main(
        "-m", f"mmar={tiny_demo}", "task=train", *TINY_TRAIN, "epochs=1", "learning_rate=0.01,0.02"
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert _tree_hash(parent) == before  # nothing of the parent changed outside runs/
    sweep = next((parent / "runs").iterdir())
    for job in ("0", "1"):
        mmar = sweep / job / "mmar"
        assert (mmar / "models" / "model.pt").is_file()
        assert list((mmar / "models").glob("events.out.tfevents.*"))
        assert len(list((mmar / "cache").glob("*.pt"))) == 4  # its own persistent cache


def test_checkpoint_saver_switches_are_honoured(tiny_demo):
    def switches(cfg: dict) -> None:
        saver = _handler(cfg, "train", "CheckpointSaver")["args"]
        saver.update(save_final=False, save_interval=1, n_saved=1, file_prefix="x")
        saver["save_dict"] = {"model": "@model", "optimizer": "@optimizer", "train_conf": "@conf"}

    _edit(tiny_demo, switches)
    proc = run_main(f"mmar={tiny_demo}", "task=train", *TINY_TRAIN)
    assert proc.returncode == 0, proc.stderr[-3000:]
    models = tiny_demo / "models"
    assert not (models / "final_model.pt").exists()  # save_final: false
    # save_interval=1 with n_saved=1: one checkpoint per epoch, only the newest kept
    assert sorted(p.name for p in models.glob("checkpoint_epoch=*.pt")) == ["checkpoint_epoch=2.pt"]
    # each file holds what its saver's save_dict names (the train saver's here)
    interval = torch.load(models / "checkpoint_epoch=2.pt", weights_only=True)
    assert {"model", "optimizer", "train_conf"} <= set(interval)
    assert "optimizer" not in torch.load(models / "model.pt", weights_only=True)
    # a switch with no meaning here is named, not silently dropped
    assert "train.handlers" in proc.stdout and "file_prefix='x' has no effect" in proc.stdout
