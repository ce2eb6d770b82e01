"""Issue #33: old MONAI calls inside code strings run, and a failure inside a loop is one clean
error naming the component, its JSON path and the case (train, validate and infer)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import TINY_EVAL, TINY_TRAIN, run_main

from mmar_hydra.reader.compat import apply_compat

CKPT = ["dont_load_ts_model=true", "dont_load_ckpt_model=false"]
# Clara 4.0 code strings: the old AsDiscrete arguments, reached three ways
ONEHOT_PRED = (
    "lambda x: __import__('monai').transforms.AsDiscrete(argmax=True, to_onehot=True, "
    "n_classes=2)(x)"
)
ONEHOT_LABEL = "lambda x: monai.transforms.AsDiscrete(to_onehot=True, n_classes=2)(x)"
THRESHOLD_PAIR = (
    "lambda x: (__import__('monai').transforms.AsDiscrete(threshold_values=True)(x['pred']), "
    "x['label'])"
)


def test_compat_rewrites_calls_inside_code_strings():
    cfg = {
        "post_transforms": [
            {"name": "Lambdad", "args": {"keys": "pred", "func": ONEHOT_PRED}},
            {"name": "Lambdad", "args": {"keys": "pred", "func": "#AsDiscrete(True, True, 2)"}},
            {"name": "Lambdad", "args": {"keys": "image", "func": "lambda x: LoadNiftid(['k'])"}},
            {
                "name": "Lambdad",
                "args": {
                    "keys": "p",
                    "func": "lambda x: AsDiscrete(n_classes=n, to_onehot=True)(x)",
                },
            },
        ],
        "key_metric": {"name": "MeanDice", "args": {"output_transform": THRESHOLD_PAIR}},
        "untouched": "#@model.parameters()",
    }
    out, notes = apply_compat(cfg, file="config/v.json")
    funcs = [p["args"]["func"] for p in out["post_transforms"]]
    assert funcs[0] == (
        "lambda x: __import__('monai').transforms.AsDiscrete(argmax=True, to_onehot=2)(x)"
    )
    assert funcs[1] == "#AsDiscrete(argmax=True, to_onehot=2)"  # Clara 4.0's positional order
    assert funcs[2] == "lambda x: LoadImaged(['k'], reader='NibabelReader')"
    assert funcs[3] == "lambda x: AsDiscrete(to_onehot=n)(x)"  # a non-literal carried through
    assert out["key_metric"]["args"]["output_transform"] == (
        "lambda x: (__import__('monai').transforms.AsDiscrete(threshold=0.5)(x['pred']), "
        "x['label'])"
    )
    assert out["untouched"] == "#@model.parameters()"
    paths = [n.path for n in notes]
    assert "post_transforms[0].args.func" in paths
    assert "key_metric.args.output_transform" in paths
    assert all("in a code string" in n.reason for n in notes)


def test_code_string_needing_a_class_count_it_lacks_is_a_clean_error():
    cfg = {
        "post_transforms": [
            {"name": "Lambdad", "args": {"func": "lambda x: AsDiscrete(to_onehot=True)(x)"}}
        ]
    }
    with pytest.raises(Exception) as info:
        apply_compat(cfg, file="c.json")
    assert "post_transforms[0].args.func" in str(info.value)
    assert "n_classes" in str(info.value)


@pytest.fixture(scope="module")
def exported_demo(trained_demo: Path, tmp_path_factory) -> Path:
    """The trained tiny demo with its model.ts (inference configs load TorchScript)."""
    dst = tmp_path_factory.mktemp("exported") / "mmar"
    shutil.copytree(trained_demo, dst, ignore=shutil.ignore_patterns("eval", "runs"))
    proc = run_main(f"mmar={dst}", "task=export", "input_shape=[1,1,24,24,16]")
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    return dst


@pytest.fixture
def trained_copy(exported_demo: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "mmar"
    shutil.copytree(exported_demo, dst, ignore=shutil.ignore_patterns("eval", "runs"))
    return dst


def _edit(path: Path, change) -> None:
    cfg = json.loads(path.read_text())
    change(cfg)
    path.write_text(json.dumps(cfg, indent=2))


def _clean_error(proc, *needles: str) -> str:
    text = proc.stdout + proc.stderr
    assert proc.returncode == 2, text[-3000:]
    assert "Traceback" not in text and "Error executing job" not in text, text[-3000:]
    for needle in needles:
        assert needle in text, text[-3000:]
    return text


def test_40_style_lambdas_validate_and_infer_unmodified(trained_copy: Path):
    def validation(cfg):
        posts = cfg["post_transforms"]
        # Activationsd, Invertd, then the old AsDiscrete calls in code strings
        cfg["post_transforms"] = posts[:2] + [
            {"name": "Lambdad", "args": {"keys": "pred", "func": ONEHOT_PRED}},
            {"name": "Lambdad", "args": {"keys": "label", "func": ONEHOT_LABEL}},
        ]
        cfg["key_metric"]["args"]["output_transform"] = THRESHOLD_PAIR

    def inference(cfg):  # one-hot, then thresholded: a 2-channel segmentation is saved
        cfg["post_transforms"][2:3] = [
            {"name": "Lambdad", "args": {"keys": "pred", "func": ONEHOT_PRED}},
            {
                "name": "Lambdad",
                "args": {
                    "keys": "pred",
                    "func": "lambda x: monai.transforms.AsDiscrete(threshold_values=True)(x)",
                },
            },
        ]

    _edit(trained_copy / "config" / "config_validation.json", validation)
    _edit(trained_copy / "config" / "config_inference.json", inference)
    proc = run_main(f"mmar={trained_copy}", "task=validate", "allow_code=true", *CKPT, *TINY_EVAL)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert "post_transforms[2].args.func" in proc.stdout + proc.stderr  # the compat: line
    dice = (trained_copy / "eval" / "metrics.csv").read_text()
    assert "val_mean_dice" in dice
    assert float(dice.split("val_mean_dice,")[1].split()[0]) > 0

    proc = run_main(f"mmar={trained_copy}", "task=infer", "allow_code=true", *TINY_EVAL)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert list((trained_copy / "eval").glob("*/*_seg.nii.gz"))


RAISES = {"name": "SqueezeDimd", "args": {"keys": "pred", "dim": 9}}  # raises on every case


def test_a_post_transform_that_raises_in_validate_and_infer(trained_copy: Path):
    _edit(
        trained_copy / "config" / "config_validation.json",
        lambda c: c["post_transforms"].append(RAISES),
    )
    _edit(
        trained_copy / "config" / "config_inference.json",
        lambda c: c["post_transforms"].insert(3, RAISES),
    )
    proc = run_main(f"mmar={trained_copy}", "task=validate", *CKPT, *TINY_EVAL)
    _clean_error(proc, "SqueezeDimd", "post_transforms[5]", "during validation", "validation[")
    proc = run_main(f"mmar={trained_copy}", "task=infer", *TINY_EVAL)
    _clean_error(proc, "SqueezeDimd", "post_transforms[3]", "during inference", ".nii.gz")
    assert not list((trained_copy / "eval").glob("*/*_seg.nii.gz"))


def test_a_code_string_that_raises_names_its_json_path(trained_copy: Path):
    broken = {"name": "Lambdad", "args": {"keys": "pred", "func": "lambda x: x.no_such_thing"}}
    _edit(
        trained_copy / "config" / "config_validation.json",
        lambda c: c["post_transforms"].insert(1, broken),
    )
    proc = run_main(f"mmar={trained_copy}", "task=validate", "allow_code=true", *CKPT, *TINY_EVAL)
    _clean_error(proc, "post_transforms[1].args.func", "no_such_thing", "validation[")


def test_failures_inside_training_name_the_component(tiny_demo: Path):
    config = tiny_demo / "config" / "config_train.json"
    raises = {"name": "SqueezeDimd", "args": {"keys": "pred", "dim": 9}}
    _edit(config, lambda c: c["validate"]["post_transforms"].append(raises))
    proc = run_main(f"mmar={tiny_demo}", "task=train", *TINY_TRAIN)
    _clean_error(
        proc, "SqueezeDimd", "validate.post_transforms[", "during validation", "validation["
    )
    assert not (tiny_demo / "models" / "model.pt").exists()

    # a training post transform that raises: named in the training step, with the case
    def train_post(c):
        c["validate"]["post_transforms"].pop()
        c["train"]["post_transforms"].append(raises)

    _edit(config, train_post)
    proc = run_main(f"mmar={tiny_demo}", "task=train", *TINY_TRAIN)
    _clean_error(proc, "SqueezeDimd", "train.post_transforms[", "during training", "training[")
    assert not (tiny_demo / "models" / "model.pt").exists()

    # a pre-transform that raises on every case: the check before training names it
    def pre(c):
        c["train"]["post_transforms"].pop()
        c["train"]["pre_transforms"].insert(
            2, {"name": "SqueezeDimd", "args": {"keys": "image", "dim": 9}}
        )

    _edit(config, pre)
    proc = run_main(f"mmar={tiny_demo}", "task=train", *TINY_TRAIN)
    _clean_error(proc, "in SqueezeDimd (train.pre_transforms[2])", "case ", ".nii.gz")
