"""read_mmar on the real Clara 4.0 and 4.1 example configs (../shared/clara_examples)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from omegaconf import OmegaConf

from mmar_hydra.reader.mmar_reader import ReadResult, read_mmar
from mmar_hydra.reader.variables import undefined_variables

pytestmark = pytest.mark.real_clara

UNET = "config/config_train_Unet.json"


def _read(root: Path, task: str = "train", config_file: str | None = UNET) -> ReadResult:
    return read_mmar(root, task=task, config_file=config_file)


def _shape(obj: Any) -> Any:
    """Keys and types, not values: what two dialects of one MMAR must agree on."""
    if isinstance(obj, dict):
        return {k: _shape(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_shape(v) for v in obj]
    return type(obj).__name__


def _notes(result: ReadResult) -> set[tuple[str, str]]:
    return {(n.path, n.new) for n in result.notes}


def _resolved(result: ReadResult) -> dict[str, Any]:
    return OmegaConf.to_container(OmegaConf.create(result.config), resolve=True)  # type: ignore[return-value]


def test_both_dialects_give_the_same_train_shape(clara_examples: Path) -> None:
    r40, r41 = _read(clara_examples / "gs40"), _read(clara_examples / "gs41")
    assert (r40.dialect, r40.kind, r41.dialect, r41.kind) == ("4.0", "train", "4.1", "train")
    for section in ("train", "validate"):
        a, b = r40.config[section], r41.config[section]
        assert set(a) == set(b)
        for key in set(a) - {"handlers"}:
            assert _shape(a[key]) == _shape(b[key]), f"{section}.{key}"
    # gs40 also saves checkpoints from train; every other handler has the same shape
    h40 = [h for h in r40.config["train"]["handlers"] if h["name"] != "CheckpointSaver"]
    assert _shape(h40) == _shape(r41.config["train"]["handlers"])
    assert r40.config["train"]["trainer"]["args"] == r41.config["train"]["trainer"]["args"]


def test_train_notes(clara_examples: Path) -> None:
    expected_both = {
        ("train.model.args.dimensions", "spatial_dims"),
        ("train.post_transforms[1].args.n_classes", "to_onehot=2"),
    }
    r41 = _read(clara_examples / "gs41")
    assert _notes(r41) == expected_both
    r40 = _read(clara_examples / "gs40")
    assert _notes(r40) == expected_both | {
        ("train.post_transforms[1].args.to_onehot", "to_onehot=2"),
        ("validate.pre_transforms[1]", "moved after EnsureChannelFirstd"),
    }
    assert all(n.file == UNET for n in r40.notes)
    refs = [t["ref"] for t in r40.config["validate"]["pre_transforms"]]
    assert refs[:3] == ["LoadImaged", "EnsureChannelFirstd", "Spacingd"]


def test_train_config_resolves(clara_examples: Path) -> None:
    for name in ("gs40", "gs41"):
        result = _read(clara_examples / name)
        assert undefined_variables(result.config) == {}
        cfg = _resolved(result)
        assert cfg["train"]["trainer"]["args"]["max_epochs"] == 2
        assert cfg["train"]["handlers"][0]["disabled"] is True
        assert cfg["train"]["dataset"]["data_list_file_path"].endswith("dataset.json")
        assert cfg["train"]["model"]["args"]["spatial_dims"] == 3
        assert cfg["train"]["post_transforms"][1]["args"]["to_onehot"] == 2
        assert cfg["mmar_source"] == {
            "root": str((clara_examples / name).resolve()),
            "config_file": UNET,
            "env_file": "config/environment.json",
            "dialect": result.dialect,
            "kind": "train",
        }


def test_validation_configs(clara_examples: Path) -> None:
    r40 = _read(clara_examples / "gs40", "validate", None)
    r41 = _read(clara_examples / "gs41", "validate", None)
    assert (r40.kind, r41.kind) == ("flat", "flat")
    assert r40.config_file.name == "config_validation.json"
    for result in (r40, r41):
        cfg = _resolved(result)
        assert cfg["key_metric"]["log_label"] == "val_mean_dice"
        assert [m["log_label"] for m in cfg["additional_metrics"]] == ["val_acc"]
        assert cfg["dataloader"]["args"]["dataset"] == "@dataset"
        assert cfg["model"][0]["ts_path"] == "models/model.ts"
        assert cfg["evaluator"]["args"].get("device", "cpu") == "cpu"
        saver = next(h for h in cfg["handlers"] if h["name"] == "MetricsSaver")
        assert "batch_transform" not in saver["args"]
    # gs40 saved segmentations with a handler; now a SaveImaged post transform does it
    assert [t["name"] for t in r40.config["post_transforms"]][-1] == "SaveImaged"
    assert "SegmentationSaver" not in {h["name"] for h in r40.config["handlers"]}
    assert ("post_transforms[1].args.meta_keys", "(dropped)") in _notes(r41)


def test_inference_config(clara_examples: Path) -> None:
    result = _read(clara_examples / "gs41", "infer", None)
    cfg = _resolved(result)
    assert result.config_file.name == "config_inference.json" and result.kind == "flat"
    assert cfg["post_transforms"][-1]["args"] == {
        "keys": "pred",
        "output_dir": "eval",
        "resample": False,
        "squeeze_end_dims": True,
    }
    assert cfg["post_transforms"][2]["args"]["to_onehot"] == 2


def test_translated_components_build_with_monai(clara_examples: Path) -> None:
    import monai.networks.nets as nets
    import monai.transforms as transforms

    for name, task, config_file in (
        ("gs40", "train", UNET),
        ("gs41", "train", UNET),
        ("gs40", "validate", None),
        ("gs41", "validate", None),
        ("gs41", "infer", None),
    ):
        cfg = _resolved(_read(clara_examples / name, task, config_file))
        sections = [cfg["train"], cfg["validate"]] if "train" in cfg else [cfg]
        for section in sections:
            items = [*section.get("pre_transforms", []), *section.get("post_transforms", [])]
            for item in (i for i in items if "name" in i):
                args = dict(item.get("args", {}))
                if args.get("transform") == "@pre_transforms":
                    args["transform"] = transforms.Compose([])
                getattr(transforms, item["name"])(**args)
        if "train" in cfg:
            model = cfg["train"]["model"]
            getattr(nets, model["name"])(**model["args"])


PUBLIC = "public"


def test_dialects_are_told_apart_by_content(clara_examples: Path) -> None:
    public = clara_examples / PUBLIC
    expected = {
        ("cte_gettingstarted_ea", "config/config_train_Unet.json"): "4.0-ea",
        ("cte_gettingstarted_ea", "config/config_validation.json"): "4.0-ea",
        ("cte_deepgrow2d_ea", "config/config_train.json"): "4.0-ea",  # no loader names: engines
        ("cte_gettingstarted_40", "config/config_train_Unet.json"): "4.0",
        ("cte_gettingstarted_41", "config/config_train_Unet.json"): "4.1",
    }
    for (mmar, config), dialect in expected.items():
        assert _read(public / mmar, config_file=config).dialect == dialect, (mmar, config)


def test_early_access_loaders_become_load_image(clara_examples: Path) -> None:
    result = _read(clara_examples / PUBLIC / "cte_gettingstarted_ea")
    first = result.config["train"]["pre_transforms"][0]
    assert first["name"] == "LoadImaged" and first["args"]["reader"] == "NibabelReader"
    assert ("train.pre_transforms[0].name", "LoadImaged(reader='NibabelReader')") in _notes(result)
    deepgrow = _read(
        clara_examples / PUBLIC / "cte_deepgrow2d_ea", config_file="config/config_finetune.json"
    )
    loaders = [t for t in deepgrow.config["train"]["pre_transforms"] if t["name"] == "LoadImaged"]
    assert loaders and all(t["args"]["reader"] == "NumpyReader" for t in loaders)
