"""task=train end to end on the shrunk demo MMAR: Clara's artifacts and their contents."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import TINY_TRAIN, run_main


def test_train_writes_clara_artifacts(trained_demo):
    models = trained_demo / "models"
    best = torch.load(models / "model.pt", weights_only=True)
    final = torch.load(models / "final_model.pt", weights_only=True)
    for ckpt in (best, final):
        assert set(ckpt) >= {"model", "train_conf"}
        assert ckpt["train_conf"]["train"]["model"]["name"] == "UNet"
        assert ckpt["train_conf"]["epochs"] == 2  # the override, not the file's 40
    # the tiny network's first conv: 4 output channels, 1 input channel, 3x3x3 kernels
    weight = next(v for k, v in best["model"].items() if k.endswith("conv.weight"))
    assert tuple(weight.shape) == (4, 1, 3, 3, 3)
    assert best["model"].keys() == final["model"].keys()

    stats = json.loads((models / "train_stats.json").read_text())
    assert stats["epochs"] == 2 and stats["epochs_completed"] == 2
    assert stats["key_metric_name"] == "val_mean_dice"
    assert stats["best_key_metric"] == pytest.approx(best["val_mean_dice"])
    assert stats["best_key_metric_epoch"] == best["epoch"]
    assert len(stats["epoch_times"]) == 2
    # one validation per epoch (num_interval_per_valid=1), each shorter than its epoch
    assert len(stats["validation_times"]) == 2
    assert all(
        0 < v < e for v, e in zip(stats["validation_times"], stats["epoch_times"], strict=True)
    )
    assert 0 <= stats["data_wait_share"] < 1
    assert stats["peak_rss_mb"] > 50  # torch alone is more; task=compare reports it
    assert list(models.glob("events.out.tfevents.*")), "TensorBoard events in MMAR_CKPT_DIR"
    assert (models / "mmar_hydra_config.yaml").is_file()


def test_artifacts_load_with_monai_mmar_reader(trained_demo):
    from monai.networks.nets import UNet

    ckpt = torch.load(trained_demo / "models" / "model.pt", weights_only=True)
    net = UNet(
        spatial_dims=3,
        in_channels=1,
        out_channels=2,
        channels=[4, 8, 16],
        strides=[2, 2],
        num_res_units=1,
        norm="batch",
    )
    net.load_state_dict(ckpt["model"])  # what monai.apps.mmars.load_from_mmar does with "model"


def test_tensorboard_has_loss_metrics_and_lr(trained_demo):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(trained_demo / "models"))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"train_loss_step", "val_mean_dice", "val_acc"} <= tags
    assert any(t.startswith("lr") for t in tags)


def test_loss_goes_down(tiny_demo):
    proc = run_main(
        f"mmar={tiny_demo}", "task=train", *TINY_TRAIN, "epochs=3", "learning_rate=1e-2"
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    losses = json.loads((tiny_demo / "models" / "train_stats.json").read_text())["epoch_losses"]
    assert len(losses) == 3
    assert losses[-1] < losses[0]


def test_same_seed_gives_same_metrics_and_weights(tiny_demo, tmp_path):
    import shutil

    other = tmp_path / "again"
    shutil.copytree(tiny_demo, other)
    for root in (tiny_demo, other):
        proc = run_main(f"mmar={root}", "task=train", *TINY_TRAIN, "epochs=1")
        assert proc.returncode == 0, proc.stderr[-3000:]
    a = json.loads((tiny_demo / "models" / "train_stats.json").read_text())
    b = json.loads((other / "models" / "train_stats.json").read_text())
    assert a["last_metrics"] == b["last_metrics"]
    wa = torch.load(tiny_demo / "models" / "final_model.pt", weights_only=True)["model"]
    wb = torch.load(other / "models" / "final_model.pt", weights_only=True)["model"]
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
