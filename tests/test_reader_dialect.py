"""Clara 4.0 -> 4.1 wiring: detection, explicit @refs, metrics split, load/save dicts."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from mmar_hydra.errors import ConfigError
from mmar_hydra.reader.dialect import detect_dialect, normalize_dialect

TRAIN_40: dict[str, Any] = {
    "epochs": 2,
    "amp": True,
    "train": {
        "loss": {"name": "DiceLoss"},
        "optimizer": {"name": "Adam", "args": {"lr": "{learning_rate}"}},
        "lr_scheduler": {"name": "StepLR", "args": {"step_size": 5}},
        "model": {"name": "UNet", "args": {}},
        "pre_transforms": [{"name": "LoadImaged", "args": {"keys": "image"}}],
        "dataset": {"name": "CacheDataset", "data_list_key": "training"},
        "dataloader": {"name": "DataLoader", "args": {"batch_size": 2}},
        "inferer": {"name": "SimpleInferer"},
        "handlers": [
            {"name": "CheckpointLoader", "args": {"load_path": "x", "load_dict": ["model"]}},
            {"name": "LrScheduleHandler", "args": {"print_lr": True}},
            {"name": "ValidationHandler", "args": {"interval": 1}},
            {
                "name": "CheckpointSaver",
                "args": {"save_dict": ["model", "optimizer", "lr_scheduler", "train_conf"]},
            },
            {"name": "StatsHandler", "args": {"output_transform": "lambda x: x['loss']"}},
        ],
        "post_transforms": [{"name": "Activationsd", "args": {"keys": "pred"}}],
        "metrics": [{"name": "Accuracy", "log_label": "acc", "is_key_metric": True}],
        "trainer": {"name": "SupervisedTrainer", "args": {"max_epochs": "{epochs}"}},
    },
    "validate": {
        "pre_transforms": [{"ref": "LoadImaged"}],
        "dataset": {"name": "Dataset"},
        "dataloader": {"name": "DataLoader"},
        "inferer": {"name": "SimpleInferer"},
        "handlers": [{"name": "CheckpointSaver", "args": {"save_dict": ["model", "train_conf"]}}],
        "metrics": [
            {"name": "Accuracy", "log_label": "val_acc"},
            {"name": "MeanDice", "log_label": "val_mean_dice", "is_key_metric": True},
        ],
        "evaluator": {"name": "SupervisedEvaluator"},
    },
}


def test_detect() -> None:
    assert detect_dialect(TRAIN_40) == "4.0"
    assert detect_dialect({"CLARA_TRAIN_VERSION": "4.1.0"}) == "4.1"
    assert detect_dialect({"train": {"dataloader": {"args": {"dataset": "@dataset"}}}}) == "4.1"
    assert detect_dialect({"a": {"args": {"params": "#@model.parameters()"}}}) == "4.1"
    assert detect_dialect({"a": "lambda x: x['loss']", "b": "user@example"}) == "4.0"


def test_train_40_gets_41_wiring() -> None:
    before = copy.deepcopy(TRAIN_40)
    out, dialect = normalize_dialect(TRAIN_40, kind="train", file="c.json")
    assert dialect == "4.0" and TRAIN_40 == before  # input untouched
    t = out["train"]
    assert t["optimizer"]["args"] == {"lr": "{learning_rate}", "params": "#@model.parameters()"}
    assert t["lr_scheduler"]["args"]["optimizer"] == "@optimizer"
    assert t["dataset"]["args"]["transform"] == "@pre_transforms"
    assert t["dataloader"]["args"] == {"batch_size": 2, "dataset": "@dataset"}
    loader, lr, val, saver, stats = t["handlers"]
    assert loader["args"]["load_dict"] == {"model": "@model"}
    assert lr["args"]["lr_scheduler"] == "@lr_scheduler"
    assert val["args"]["validator"] == "@evaluator"
    assert saver["args"]["save_dict"] == {
        "model": "@model",
        "optimizer": "@optimizer",
        "lr_scheduler": "@lr_scheduler",
        "train_conf": "@conf",
    }
    assert stats["args"]["output_transform"] == "lambda x: x['loss']"  # lambdas untouched
    assert "metrics" not in t
    assert t["key_metric"] == {"name": "Accuracy", "log_label": "acc"}
    assert t["trainer"]["args"] == {
        "max_epochs": "{epochs}",
        "train_data_loader": "@dataloader",
        "network": "@model",
        "loss_function": "@loss",
        "optimizer": "@optimizer",
        "inferer": "@inferer",
        "postprocessing": "@post_transforms",
        "key_train_metric": "@key_metric",
        "train_handlers": "@handlers",
        "amp": "{amp}",
    }


def test_validate_40_metrics_split_on_is_key_metric() -> None:
    v = normalize_dialect(TRAIN_40, kind="train", file="c.json")[0]["validate"]
    assert v["key_metric"] == {"name": "MeanDice", "log_label": "val_mean_dice"}
    assert v["additional_metrics"] == [{"name": "Accuracy", "log_label": "val_acc"}]
    assert v["handlers"][0]["args"]["save_dict"] == {"model": "@model", "train_conf": "@conf"}
    assert v["dataset"]["args"] == {"transform": "@pre_transforms"}
    assert v["pre_transforms"] == [{"ref": "LoadImaged"}]
    assert v["evaluator"]["args"] == {
        "val_data_loader": "@dataloader",
        "network": "@model",
        "inferer": "@inferer",
        "val_handlers": "@handlers",
        "key_val_metric": "@key_metric",
        "additional_metrics": "@additional_metrics",
        "amp": "{amp}",
    }


def test_first_metric_is_key_when_none_is_marked() -> None:
    cfg = {"metrics": [{"name": "A"}, {"name": "B"}], "evaluator": {"name": "E"}}
    out, _ = normalize_dialect(cfg, kind="flat", file="v.json")
    assert out["key_metric"] == {"name": "A"} and out["additional_metrics"] == [{"name": "B"}]


def test_flat_40_validation() -> None:
    cfg = {
        "dont_load_ckpt_model": True,
        "model": [{"ckpt_path": "{MMAR_CKPT}", "disabled": "{dont_load_ckpt_model}"}],
        "pre_transforms": [{"name": "LoadImaged", "args": {"keys": "image"}}],
        "dataset": {"name": "Dataset"},
        "dataloader": {"name": "DataLoader", "args": {"batch_size": 1}},
        "handlers": [{"name": "CheckpointLoader", "args": {"load_dict": ["model"]}}],
        "metrics": [{"name": "MeanDice", "is_key_metric": True}],
        "evaluator": {"name": "SupervisedEvaluator"},
    }
    out, dialect = normalize_dialect(cfg, kind="flat", file="v.json")
    assert dialect == "4.0"
    assert out["dataset"]["args"]["transform"] == "@pre_transforms"
    assert out["dataloader"]["args"]["dataset"] == "@dataset"
    assert out["handlers"][0]["args"]["load_dict"] == {"model": "@model"}
    assert out["key_metric"] == {"name": "MeanDice"} and "additional_metrics" not in out
    assert out["evaluator"]["args"]["key_val_metric"] == "@key_metric"
    assert "postprocessing" not in out["evaluator"]["args"]  # there are no post transforms
    assert "amp" not in out["evaluator"]["args"]  # no amp global to pass


def test_41_is_left_alone_but_metrics_list_split() -> None:
    cfg = {
        "CLARA_TRAIN_VERSION": "4.1.0",
        "dataset": {"name": "Dataset"},
        "metrics": [{"name": "MeanDice", "is_key_metric": True}],
        "evaluator": {"name": "SupervisedEvaluator", "args": {"network": "@model"}},
    }
    out, dialect = normalize_dialect(cfg, kind="flat", file="v.json")
    assert dialect == "4.1"
    assert out["dataset"] == {"name": "Dataset"}  # explicit dialect: nothing implied
    assert out["evaluator"]["args"] == {"network": "@model"}
    assert out["key_metric"] == {"name": "MeanDice"}


def test_existing_41_wiring_is_kept_in_40_file() -> None:
    cfg = copy.deepcopy(TRAIN_40)
    cfg["train"]["dataloader"]["args"]["shuffle"] = True
    cfg["train"]["trainer"]["args"]["max_epochs"] = 5
    t = normalize_dialect(cfg, kind="train", file="c.json")[0]["train"]
    assert t["trainer"]["args"]["max_epochs"] == 5
    assert t["dataloader"]["args"]["shuffle"] is True


@pytest.mark.parametrize(
    ("metrics", "extra"),
    [("MeanDice", {}), ([{"name": "A"}], {"key_metric": {"name": "B"}})],
)
def test_bad_metrics_are_config_errors(metrics: Any, extra: dict[str, Any]) -> None:
    cfg = {"train": {"metrics": metrics, **extra}}
    with pytest.raises(ConfigError) as err:
        normalize_dialect(cfg, kind="train", file="c.json")
    assert err.value.path == "train.metrics" and err.value.file == "c.json"
