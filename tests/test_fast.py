"""fast=true: the data pipeline rewritten as MONAI's fast-training guide does, each change said."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import TINY_TRAIN, run_main

from mmar_hydra.components import cache_estimate, fast
from mmar_hydra.components.fast import apply_fast
from mmar_hydra.run_paths import RunPaths


def _plain_pipeline(root: Path) -> dict:
    """The tiny demo's resolved training config with a plain Dataset and worker processes."""
    from omegaconf import OmegaConf

    from mmar_hydra.context import resolve_config
    from mmar_hydra.reader.mmar_reader import read_mmar

    cfg = resolve_config(OmegaConf.create(read_mmar(root, task="train").config))
    cfg["train"]["dataset"].update(name="Dataset", args={"transform": "@pre_transforms"})
    cfg["train"]["dataloader"]["args"]["num_workers"] = 2
    return cfg


def test_dataset_and_loader_are_cached_and_threaded(tiny_demo, monkeypatch):
    monkeypatch.setattr(fast, "cpu_has_bf16", lambda: True)
    config, plan = apply_fast(
        _plain_pipeline(tiny_demo), paths=RunPaths.inside(tiny_demo), allow_code=False, gpu=False
    )
    train = config["train"]
    assert (
        train["dataset"]["name"] == "CacheDataset" and train["dataset"]["args"]["cache_rate"] == 1
    )
    assert train["dataloader"]["name"] == "ThreadDataLoader"
    assert "num_workers" not in train["dataloader"]["args"]
    assert plan.track_meta_off and plan.precision == "bf16-mixed" and not plan.channels_last
    text = "\n".join(plan.notes)
    assert "train.dataset: Dataset -> CacheDataset" in text and "ThreadDataLoader" in text
    assert "set_track_meta(False)" in text


def test_a_cache_too_big_for_memory_goes_to_disk(tiny_demo, monkeypatch):
    monkeypatch.setattr(cache_estimate, "available_memory", lambda: 1000)
    monkeypatch.setattr(fast, "available_memory", lambda: 1000)
    config, plan = apply_fast(
        _plain_pipeline(tiny_demo), paths=RunPaths.inside(tiny_demo), allow_code=False, gpu=False
    )
    assert config["train"]["dataset"]["name"] == "PersistentDataset"
    assert any("cached on disk instead" in n for n in plan.notes)


def test_gpu_gets_to_device_amp_and_channels_last(tiny_demo):
    config, plan = apply_fast(
        _plain_pipeline(tiny_demo), paths=RunPaths.inside(tiny_demo), allow_code=False, gpu=True
    )
    names = [t["name"] for t in config["train"]["pre_transforms"]]
    first_random = next(i for i, n in enumerate(names) if n.startswith("Rand"))
    assert names[first_random - 1] == "ToDeviced"
    assert config["train"]["pre_transforms"][first_random - 1]["args"]["device"] == "cuda"
    assert plan.precision == "16-mixed" and plan.channels_last


def test_metadata_stays_on_when_a_training_transform_needs_it(tiny_demo):
    cfg = _plain_pipeline(tiny_demo)
    cfg["train"]["post_transforms"].append({"name": "SaveImaged", "args": {"keys": "pred"}})
    _, plan = apply_fast(cfg, paths=RunPaths.inside(tiny_demo), allow_code=False, gpu=False)
    assert not plan.track_meta_off
    assert any("SaveImaged need(s) it" in n for n in plan.notes)


def test_fast_training_runs_with_metadata_off_in_the_loop(tiny_demo, monkeypatch):
    from monai.data import get_track_meta

    from mmar_hydra.engine import module

    seen = []
    step = module.MMARLightningModule.training_step

    def spy(self, batch, batch_idx):  # noqa: ANN001, ANN202
        seen.append(get_track_meta())
        return step(self, batch, batch_idx)

    monkeypatch.setattr(module.MMARLightningModule, "training_step", spy)
    path = tiny_demo / "config" / "config_train.json"
    cfg = json.loads(path.read_text())
    cfg["train"]["dataset"].update(name="Dataset", args={"transform": "@pre_transforms"})
    path.write_text(json.dumps(cfg))
    proc = run_main(f"mmar={tiny_demo}", "task=train", *TINY_TRAIN, "fast=true")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "fast: train.dataset: Dataset -> CacheDataset" in proc.stdout
    assert seen and not any(seen)  # every training step ran without metadata tracking
    assert get_track_meta()  # and it is back on afterwards
    assert (tiny_demo / "models" / "model.pt").is_file()


@pytest.mark.parametrize("flags,expected", [("flags : avx512_bf16", True), ("flags : sse4", False)])
def test_cpu_bf16_detection(tmp_path, monkeypatch, flags, expected):
    info = tmp_path / "cpuinfo"
    info.write_text(flags)
    monkeypatch.setattr(fast, "Path", lambda _: info)
    assert fast.cpu_has_bf16() is expected
