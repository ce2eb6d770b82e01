"""signature_check.check_args: unknown / missing args found before anything is built."""

from __future__ import annotations

import functools

import pytest

from mmar_hydra.components.signature_check import check_args, signature_of
from mmar_hydra.errors import ComponentError


def _logged(init):
    """A decorator like MONAI's deprecated_arg: wraps __init__ with (*args, **kwargs)."""

    @functools.wraps(init)
    def wrapper(self, *args, **kwargs):
        return init(self, *args, **kwargs)

    return wrapper


class Wrapped:
    @_logged
    def __init__(self, size: int, scale: float = 1.0) -> None:
        self.size, self.scale = size, scale


class NoArgs:
    pass


def test_unknown_arg_names_component_path_key_suggestion_and_accepted_list():
    from monai.losses import DiceLoss

    with pytest.raises(ComponentError) as err:
        check_args(
            DiceLoss,
            {"sofmax": True, "to_onehot_y": True},
            component="DiceLoss",
            where="train.loss",
            file="config/config_train.json",
        )
    e = err.value
    assert e.what == "DiceLoss has no argument 'sofmax'"
    assert e.path == "train.loss.args.sofmax" and e.file == "config/config_train.json"
    assert e.fix == "did you mean 'softmax'?"
    assert e.expected.startswith("DiceLoss accepts: include_background, to_onehot_y")


def test_every_unknown_arg_is_reported_at_once():
    with pytest.raises(ComponentError) as err:
        check_args(Wrapped, {"size": 1, "sise": 2, "zzz": 3}, component="Wrapped", where="x")
    e = err.value
    assert "'sise'" in e.what and "'zzz'" in e.what
    assert "did you mean 'size' for 'sise'" in e.fix and "remove 'zzz'" in e.fix
    assert e.path == "x.args.sise"


def test_missing_required_args_unless_the_builder_provides_them():
    import torch

    with pytest.raises(ComponentError) as err:
        check_args(torch.optim.lr_scheduler.StepLR, {}, component="StepLR", where="train.lr")
    e = err.value
    assert "missing required arguments 'optimizer', 'step_size'" in e.what
    assert e.path == "train.lr.args" and '"step_size": ...' in e.fix
    check_args(
        torch.optim.lr_scheduler.StepLR,
        {"step_size": 2},
        component="StepLR",
        provided=["optimizer"],
    )
    check_args(torch.optim.Adam, {"lr": 0.1}, component="Adam", provided=("params",))


def test_var_keyword_accepts_anything_but_still_requires():
    def factory(name: str, **kwargs):
        return name

    check_args(factory, {"name": "a", "anything": 1, "else": 2}, component="factory")
    with pytest.raises(ComponentError, match="missing required argument 'name'"):
        check_args(factory, {"anything": 1}, component="factory")


def test_wrapped_init_reports_the_real_parameters():
    assert list(signature_of(Wrapped).parameters) == ["size", "scale"]
    with pytest.raises(ComponentError, match="did you mean 'scale'"):
        check_args(Wrapped, {"size": 1, "scal": 2.0}, component="Wrapped")
    with pytest.raises(ComponentError, match="missing required argument 'size'"):
        check_args(Wrapped, {}, component="Wrapped")


def test_monai_map_transform_new_does_not_hide_keys():
    # MapTransform.__new__(*args, **kwargs) makes inspect.signature(cls) say nothing
    from monai.transforms import SelectItemsd

    with pytest.raises(ComponentError, match="did you mean 'keys'"):
        check_args(SelectItemsd, {"key": "image"}, component="SelectItemsd")
    check_args(SelectItemsd, {"keys": "image"}, component="SelectItemsd")


def test_class_without_init_takes_no_arguments():
    with pytest.raises(ComponentError) as err:
        check_args(NoArgs, {"x": 1}, component="NoArgs")
    assert err.value.expected == "NoArgs accepts: (no arguments)"
    check_args(NoArgs, {}, component="NoArgs")


def test_real_clara_components_pass():
    from monai.networks.nets import UNet
    from monai.transforms import LoadImaged, ScaleIntensityRanged

    check_args(
        UNet,
        {
            "spatial_dims": 3,
            "in_channels": 1,
            "out_channels": 2,
            "channels": [16, 32],
            "strides": [2],
            "num_res_units": 2,
            "norm": "batch",
        },
        component="UNet",
    )
    check_args(
        ScaleIntensityRanged,
        {"keys": "image", "a_min": -57, "a_max": 164, "b_min": 0.0, "b_max": 1.0, "clip": True},
        component="ScaleIntensityRanged",
    )
    check_args(LoadImaged, {"keys": ["image", "label"], "reader": "NibabelReader"}, component="L")


def test_unknowable_signature_is_not_an_error():
    opaque = object()  # inspect.signature raises TypeError: nothing to check against
    assert signature_of(opaque) is None
    check_args(opaque, {"anything": 1}, component="opaque")
