"""Component resolution: registry, signature checks, safe code strings, Clara metrics, builder rules."""

from __future__ import annotations

import pytest
import torch
from conftest import paths_inside

from mmar_hydra.components.builder import check_config
from mmar_hydra.components.code_strings import is_code_string, parse_code_string
from mmar_hydra.components.metrics import build_metric, metric_value
from mmar_hydra.components.registry import resolve_class
from mmar_hydra.components.signature_check import check_args
from mmar_hydra.errors import CodeNotAllowedError, ComponentError, ConfigError


@pytest.mark.parametrize(
    "name,expected",
    [
        ("UNet", "monai.networks.nets.unet.UNet"),
        ("BasicUnet", "monai.networks.nets.basic_unet.BasicUNet"),  # MONAI alias
        ("ToTensorD", "monai.transforms.utility.dictionary.ToTensord"),  # MONAI alias
        ("Novograd", "monai.optimizers.novograd.Novograd"),
        ("StepLR", "torch.optim.lr_scheduler.StepLR"),
        ("CrossEntropyLoss", "torch.nn.modules.loss.CrossEntropyLoss"),
        ("monai.networks.nets.SegResNet", "monai.networks.nets.segresnet.SegResNet"),
    ],
)
def test_names_resolve_like_clara(name, expected):
    cls = resolve_class(name)
    assert f"{cls.__module__}.{cls.__qualname__}" == expected


def test_unknown_component_gets_did_you_mean():
    with pytest.raises(ComponentError) as err:
        resolve_class("Unett", where="train.model")
    assert "unknown component 'Unett'" in err.value.format() and "'UNet'" in err.value.format()
    assert err.value.path == "train.model.name"


def test_user_code_needs_allow_code(tmp_path):
    (tmp_path / "mynet.py").write_text("from monai.networks.nets import UNet as Net\n")
    with pytest.raises(CodeNotAllowedError, match="mynet"):
        resolve_class(path="mynet.Net", custom_dir=tmp_path)
    assert resolve_class(path="mynet.Net", custom_dir=tmp_path, allow_code=True).__name__ == "UNet"


def test_args_checked_against_the_constructor():
    from monai.networks.nets import UNet

    with pytest.raises(ComponentError) as err:
        check_args(
            UNet,
            {
                "spatial_dims": 3,
                "in_channels": 1,
                "out_channels": 2,
                "channels": [4],
                "strides": [],
                "num_res_unit": 1,
            },
            component="UNet",
            where="train.model",
        )
    text = err.value.format()
    assert "num_res_unit" in text and "did you mean 'num_res_units'" in text and "accepts:" in text
    with pytest.raises(ComponentError, match="missing required"):
        check_args(UNet, {"spatial_dims": 3}, component="UNet", where="train.model")
    check_args(torch.optim.Adam, {"lr": 1e-3}, component="Adam", provided=["params"])


def test_safe_code_strings_never_eval():
    net = torch.nn.Linear(2, 2)
    params = parse_code_string("#@model.parameters()", allow_code=False)
    assert params.refs == ("model",) and len(list(params.evaluate({"model": net}))) == 2
    first = parse_code_string("#monai.handlers.from_engine(['loss'], first=True)", allow_code=False)
    assert first.evaluate({})([{"loss": 3}, {"loss": 4}]) == 3
    pair = parse_code_string("lambda x: (x['pred'], x['label'])", allow_code=False).evaluate({})
    assert pair({"pred": 1, "label": 2}) == (1, 2)
    assert parse_code_string("lambda x: None", allow_code=False).evaluate({})(1) is None
    assert (
        parse_code_string("lambda x: x['pred'][0]", allow_code=False).evaluate({})({"pred": [7]})
        == 7
    )
    assert is_code_string("lambda x: 1") and not is_code_string("plain")


def test_other_code_strings_are_refused_with_what_would_run():
    with pytest.raises(CodeNotAllowedError) as err:
        parse_code_string("#__import__('os').system('id')", allow_code=False, where="train.x")
    assert (
        "__import__('os').system('id')" in err.value.format()
        and "allow_code=true" in err.value.format()
    )
    code = parse_code_string("#@model.weight.shape[0] * 2", allow_code=True)
    assert code.evaluate({"model": torch.nn.Linear(3, 5)}) == 10


def test_clara_metrics_compute_what_clara_did():
    pred = torch.zeros(1, 2, 4, 4)
    pred[:, 1, :2] = 1
    pred[:, 0, 2:] = 1
    half = pred.clone()
    half[:, :, 0] = 1 - half[:, :, 0]  # one of four rows wrong
    dice = build_metric("MeanDice", {"include_background": False, "output_transform": "ignored"})
    dice(y_pred=[half[0]], y=[pred[0]])
    assert metric_value(dice.aggregate()) == pytest.approx(2 * 4 / (4 + 8))
    acc = build_metric("Accuracy", {})
    acc(y_pred=[pred[0], half[0]], y=[pred[0], pred[0]])
    assert acc.get_buffer().squeeze().tolist() == [1.0, 0.75]
    assert metric_value(acc.aggregate()) == pytest.approx(0.875)
    with pytest.raises(ComponentError, match="unknown metric"):
        build_metric("MeanDyce", {})


def _cfg(train: dict) -> dict:
    return {"epochs": 1, "train": train, "mmar_source": {"config_file": "config/config_train.json"}}


def test_check_reports_every_problem_and_cycles(tmp_path):
    problems = check_config(
        _cfg(
            {
                "model": {"name": "UNett"},
                "loss": {"name": "DiceLoss", "args": {"sofmax": True}},
                "optimizer": {
                    "name": "Adam",
                    "args": {"params": "#@model.parameters()", "lr": "@lr_scheduler"},
                },
                "lr_scheduler": {
                    "name": "StepLR",
                    "args": {"optimizer": "@optimizer", "step_size": 1},
                },
                "inferer": {"name": "SimpleInferer", "args": {"x": "@nothing"}},
            }
        ),
        paths=paths_inside(tmp_path),
        check_data=False,
    )
    texts = "\n".join(p.format() for p in problems)
    assert len(problems) >= 4
    assert "unknown component 'UNett'" in texts
    assert "no argument 'sofmax'" in texts
    assert (
        "reference cycle" in texts
        and "train.optimizer -> train.lr_scheduler -> train.optimizer" in texts
    )
    assert "unknown reference '@nothing'" in texts


def _resolver(spec, name, root, *, rank=0, parent=None, instantiate=True):
    from mmar_hydra.components.hooks import HookContext
    from mmar_hydra.components.resolver import Resolver, Walk

    walk = parent.walk if parent is not None else Walk(instantiate=instantiate)
    hooks = HookContext(paths=paths_inside(root), section=name, file=None, rank=rank)
    return Resolver(spec, name, walk=walk, hooks=hooks, allow_code=False, parent=parent)


def test_disabled_inside_lists_and_rank(tmp_path):
    spec = {
        "pre_transforms": [
            {"name": "ScaleIntensityd", "args": {"keys": "image"}},
            {"name": "ToTensord", "disabled": True, "args": {"keys": "image"}},
            {"name": "EnsureTyped", "rank": 1, "args": {"keys": "image"}},
        ]
    }
    for rank, expected in ((0, ["ScaleIntensityd"]), (1, ["ScaleIntensityd", "EnsureTyped"])):
        built = _resolver(spec, "train", tmp_path, rank=rank).get("pre_transforms")
        assert [type(t).__name__ for t in built.transforms] == expected


def test_validate_ref_reuses_train_transform_and_model(tmp_path):
    train = _resolver(
        {
            "pre_transforms": [
                {
                    "name": "ScaleIntensityRanged",
                    "args": {"keys": "image", "a_min": 0, "a_max": 10, "b_min": 0, "b_max": 1},
                },
                {"name": "EnsureTyped", "disabled": "true", "args": {"keys": "image"}},
            ],
            "model": {
                "name": "UNet",
                "args": {
                    "spatial_dims": 2,
                    "in_channels": 1,
                    "out_channels": 2,
                    "channels": [4, 8],
                    "strides": [2],
                },
            },
        },
        "train",
        tmp_path,
    )
    val = _resolver(
        {"pre_transforms": [{"ref": "ScaleIntensityRanged"}], "x": {"name": "SimpleInferer"}},
        "validate",
        tmp_path,
        parent=train,
    )
    t = val.get("pre_transforms").transforms[0]
    assert type(t).__name__ == "ScaleIntensityRanged"
    assert val.ref("model", "validate.x") is train.get("model")
    with pytest.raises(ConfigError, match="unknown train transform 'Nope'"):
        _resolver({"pre_transforms": [{"ref": "Nope"}]}, "validate", tmp_path, parent=train).get(
            "pre_transforms"
        )
    with pytest.raises(ConfigError, match="'EnsureTyped', which is disabled"):
        _resolver(
            {"pre_transforms": [{"ref": "EnsureTyped"}]}, "validate", tmp_path, parent=train
        ).get("pre_transforms")
