"""MONAI compat translations: each rule, its note, and that the result builds with MONAI."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from mmar_hydra.errors import ConfigError
from mmar_hydra.reader import compat
from mmar_hydra.reader.compat import CompatNote, apply_compat

FILE = "config/config_train.json"


def _one(component: dict[str, Any]) -> tuple[dict[str, Any], list[CompatNote]]:
    out, notes = apply_compat({"train": {"post_transforms": [component]}}, file=FILE)
    return out["train"]["post_transforms"][0], notes


def _build(component: dict[str, Any]) -> Any:
    import monai.networks.nets as nets
    import monai.transforms as transforms

    cls = getattr(transforms, component["name"], None) or getattr(nets, component["name"])
    return cls(**component.get("args", {}))


def test_dimensions_becomes_spatial_dims_on_networks() -> None:
    cfg = {
        "train": {
            "model": {
                "name": "UNet",
                "args": {"dimensions": 3, "in_channels": 1, "out_channels": 2},
            }
        }
    }
    cfg["train"]["model"]["args"].update(channels=[4, 8], strides=[2])
    before = copy.deepcopy(cfg)
    out, notes = apply_compat(cfg, file=FILE)
    assert cfg == before  # never mutates the input
    args = out["train"]["model"]["args"]
    assert args["spatial_dims"] == 3 and "dimensions" not in args
    assert notes == [
        CompatNote(
            FILE, "train.model.args.dimensions", "dimensions", "spatial_dims", notes[0].reason
        )
    ]
    assert "UNet" in notes[0].format() and FILE in notes[0].format()
    _build(out["train"]["model"])


def test_dimensions_left_alone_on_unknown_or_user_classes() -> None:
    for comp in (
        {"name": "MyNet", "args": {"dimensions": 3}},
        {"name": "UNet", "path": "custom.nets.UNet", "args": {"dimensions": 3}},
    ):
        out, notes = _one(comp)
        assert out["args"] == {"dimensions": 3} and notes == []


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ({"to_onehot": True, "n_classes": 2}, {"to_onehot": 2}),
        ({"to_onehot": 2, "n_classes": 2}, {"to_onehot": 2}),
        ({"to_onehot": 3, "num_classes": 3}, {"to_onehot": 3}),
        ({"to_onehot": [True, False], "n_classes": 2}, {"to_onehot": [2, None]}),
        ({"to_onehot": False, "n_classes": 4}, {"to_onehot": None}),
        ({"threshold_values": True, "logit_thresh": 0.3}, {"threshold": 0.3}),
        ({"threshold_values": [True, False]}, {"threshold": [0.5, None]}),
    ],
)
def test_as_discrete(args: dict[str, Any], expected: dict[str, Any]) -> None:
    keys = ["pred", "label"]
    out, notes = _one({"name": "AsDiscreted", "args": {"keys": keys, **args}})
    assert out["args"] == {"keys": keys, **expected}
    assert notes and all(n.path.startswith("train.post_transforms[0].args.") for n in notes)
    _build(out)


def test_as_discrete_onehot_true_needs_classes() -> None:
    with pytest.raises(ConfigError) as err:
        _one({"name": "AsDiscrete", "args": {"to_onehot": True}})
    assert err.value.path == "train.post_transforms[0].args.to_onehot"
    assert err.value.file == FILE


@pytest.mark.parametrize(
    ("old", "new", "args"),
    [
        ("AddChanneld", "EnsureChannelFirstd", {"keys": "image", "channel_dim": "no_channel"}),
        ("AsChannelFirstd", "EnsureChannelFirstd", {"keys": "image", "channel_dim": -1}),
        ("SplitChanneld", "SplitDimd", {"keys": "image", "dim": 1}),
    ],
)
def test_removed_transforms(old: str, new: str, args: dict[str, Any]) -> None:
    old_args = {"keys": "image", "channel_dim": 1} if old == "SplitChanneld" else {"keys": "image"}
    out, notes = _one({"name": old, "args": old_args})
    assert out == {"name": new, "args": args}
    assert notes[0].old == old and notes[0].new.startswith(new)
    _build(out)


def test_as_channel_first_keeps_its_channel_dim() -> None:
    out, _ = _one({"name": "AsChannelFirstd", "args": {"keys": "image", "channel_dim": 2}})
    assert out["args"]["channel_dim"] == 2


def test_meta_dict_keys_dropped() -> None:
    out, notes = _one(
        {
            "name": "Invertd",
            "args": {"keys": "pred", "orig_keys": "image", "meta_keys": ["pred_meta_dict"]},
        }
    )
    assert "meta_keys" not in out["args"] and notes[0].path.endswith("args.meta_keys")
    out, _ = _one({"name": "SaveImaged", "args": {"keys": "pred", "meta_keys": "pred_meta_dict"}})
    assert out["args"] == {"keys": "pred"}
    _build(out)


def test_args_a_class_no_longer_takes_are_dropped_others_kept() -> None:
    spacing = {"name": "Spacingd", "args": {"keys": "image", "pixdim": 1.0, "meta_keys": "m"}}
    out, notes = _one(spacing)
    assert out["args"] == {"keys": "image", "pixdim": 1.0}
    assert "no longer takes" in notes[0].reason
    _build(out)
    load = {"name": "LoadImaged", "args": {"keys": "image", "meta_keys": "image_meta_dict"}}
    assert _one(load) == (load, [])  # LoadImaged still accepts meta_keys


@pytest.mark.parametrize(
    "transform",
    ["lambda x: x['image_meta_dict']", "#monai.handlers.from_engine(['image_meta_dict'])"],
)
def test_meta_dict_batch_transform_dropped(transform: str) -> None:
    cfg = {"handlers": [{"name": "MetricsSaver", "args": {"batch_transform": transform}}]}
    out, notes = apply_compat(cfg, file="v.json")
    assert out["handlers"][0]["args"] == {}
    assert notes[0].path == "handlers[0].args.batch_transform"


def test_cuda_device_becomes_cpu_without_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = {"evaluator": {"name": "SupervisedEvaluator", "args": {"device": "cuda:1"}}}
    monkeypatch.setattr(compat, "_cuda_available", lambda: False)
    out, notes = apply_compat(cfg, file="v.json")
    assert out["evaluator"]["args"]["device"] == "cpu"
    assert (notes[0].path, notes[0].old, notes[0].new) == (
        "evaluator.args.device",
        '"cuda:1"',
        '"cpu"',
    )
    monkeypatch.setattr(compat, "_cuda_available", lambda: True)
    assert apply_compat(cfg, file="v.json") == (cfg, [])


def _names(items: list[dict[str, Any]]) -> list[str]:
    return [i.get("name") or i["ref"] for i in items]


def test_spatial_transforms_move_after_channel_first() -> None:
    cfg = {
        "train": {
            "pre_transforms": [
                {"name": "LoadImaged", "args": {"keys": "image"}},
                {"name": "Orientationd", "args": {"keys": "image", "axcodes": "RAS"}},
                {"name": "Spacingd", "args": {"keys": "image", "pixdim": 1.0}},
                {"name": "AddChanneld", "args": {"keys": "image"}},
                {"name": "ToTensord", "args": {"keys": "image"}},
            ]
        },
        "validate": {
            "pre_transforms": [{"ref": "LoadImaged"}, {"ref": "Spacingd"}, {"ref": "AddChanneld"}]
        },
    }
    out, notes = apply_compat(cfg, file=FILE)
    assert _names(out["train"]["pre_transforms"]) == [
        "LoadImaged",
        "EnsureChannelFirstd",
        "Orientationd",
        "Spacingd",
        "ToTensord",
    ]
    assert _names(out["validate"]["pre_transforms"]) == [
        "LoadImaged",
        "EnsureChannelFirstd",
        "Spacingd",
    ]
    paths = {n.path for n in notes}
    assert {
        "train.pre_transforms[1]",
        "train.pre_transforms[2]",
        "validate.pre_transforms[1]",
    } <= paths
    assert "validate.pre_transforms[2].ref" in paths  # the ref follows the renamed transform


def test_order_kept_when_already_channel_first() -> None:
    items = [{"name": "EnsureChannelFirstd"}, {"name": "Spacingd"}]
    out, notes = apply_compat({"pre_transforms": items}, file="v.json")
    assert out["pre_transforms"] == items and notes == []


def test_40_saver_handlers_become_post_transforms() -> None:
    cfg = {
        "post_transforms": [{"name": "Activationsd", "args": {"keys": "pred"}}],
        "handlers": [
            {"name": "StatsHandler"},
            {"name": "TransformInverter", "args": {"output_keys": "pred", "nearest_interp": False}},
            {
                "name": "SegmentationSaver",
                "args": {
                    "output_dir": "{MMAR_EVAL_OUTPUT_PATH}",
                    "output_transform": "lambda x: x['seg']",
                },
            },
        ],
    }
    out, notes = apply_compat(cfg, file="v.json")
    assert _names(out["handlers"]) == ["StatsHandler"]
    # Clara's TransformInverter (postfix "inverted" by default) kept `pred` and added pred_inverted
    assert _names(out["post_transforms"]) == ["Activationsd", "CopyItemsd", "Invertd", "SaveImaged"]
    assert out["post_transforms"][1]["args"] == {
        "keys": ["pred"],
        "times": 1,
        "names": ["pred_inverted"],
    }
    assert out["post_transforms"][2]["args"] == {
        "keys": ["pred_inverted"],
        "transform": "@pre_transforms",
        "orig_keys": "image",
        "nearest_interp": False,
    }
    assert out["post_transforms"][3]["args"] == {
        "keys": "seg",
        "output_postfix": "seg",
        "resample": True,
        "output_dir": "{MMAR_EVAL_OUTPUT_PATH}",
    }
    assert [n.path for n in notes] == ["handlers[1]", "handlers[2]"]
    _build({"name": "SaveImaged", "args": {**out["post_transforms"][3]["args"], "output_dir": "x"}})


def test_current_config_gives_no_notes() -> None:
    cfg = {
        "model": {"name": "UNet", "args": {"spatial_dims": 3}},
        "post_transforms": [{"name": "AsDiscreted", "args": {"keys": "pred", "to_onehot": 2}}],
    }
    assert apply_compat(cfg, file="v.json") == (cfg, [])
