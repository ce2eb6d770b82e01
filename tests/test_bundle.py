"""task=bundle: the MMAR and its trained model as a MONAI bundle that MONAI's tools accept."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from conftest import TINY_TRAIN, paths_inside, run_cli, run_main

# The mandatory keys of "MONAI Bundle Specification" (docs.monai.io, mb_specification), with
# its optional_packages_version under the current name (MONAI >= 1.4 maps the old name to
# required_packages_version: DEPRECATED_ID_MAPPING); and the keys every tensor must have.
SPEC_REQUIRED = [
    "version",
    "monai_version",
    "pytorch_version",
    "numpy_version",
    "required_packages_version",
    "task",
    "description",
    "authors",
    "copyright",
    "network_data_format",
]
SPEC_TENSOR = [
    "type",
    "format",
    "modality",
    "num_channels",
    "spatial_shape",
    "dtype",
    "value_range",
    "is_patch_data",
    "channel_def",
]
BYOC = "public/cte_gettingstarted_41"


def _ok(proc):
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


@pytest.fixture(scope="module")
def bundle(trained_demo, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("bundle") / "spleen_bundle"
    # deploy=false: the ONNX export (~6 s) is the slow tests' (test_demo_bundle_parity_...)
    _ok(run_main(f"mmar={trained_demo}", "task=bundle", f"out={out}", "deploy=false", *TINY_TRAIN))
    return out


def test_metadata_has_every_key_the_spec_requires(bundle):
    meta = json.loads((bundle / "configs" / "metadata.json").read_text())
    assert [k for k in SPEC_REQUIRED if k not in meta] == []
    assert all(meta[k] for k in ("version", "monai_version", "task", "authors", "copyright"))
    fmt = meta["network_data_format"]
    for tensor in (fmt["inputs"]["image"], fmt["outputs"]["pred"]):
        assert [k for k in SPEC_TENSOR if k not in tensor] == []
    image, pred = fmt["inputs"]["image"], fmt["outputs"]["pred"]
    # derived from the MMAR: channels, the inferer's roi, ScaleIntensityRanged, datalist labels
    assert image["num_channels"] == 1 and image["spatial_shape"] == [24, 24, 16]
    assert image["value_range"] == [0.0, 1.0] and image["modality"] == "CT"
    assert pred["num_channels"] == 2 and pred["channel_def"] == {"0": "background", "1": "spleen"}
    assert len(meta["mmar_hydra"]["datalist"]["sha256"]) == 64


def test_bundle_layout_and_weights_only_model(bundle):
    for rel in (
        "configs/train.json",
        "configs/evaluate.json",
        "configs/inference.json",
        "configs/multi_gpu_train.json",
        "configs/logging.conf",
        "models/model.pt",
        "models/train_conf.json",
        "docs/README.md",
        "LICENSE",
        "conversion_report.md",
    ):
        assert (bundle / rel).is_file(), rel
    weights = torch.load(bundle / "models" / "model.pt", weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in weights.values())  # a bare state dict
    train = json.loads((bundle / "configs" / "train.json").read_text())
    # Clara variables are bundle references, code strings are $ expressions, refs are macros
    assert train["lr_scheduler"]["T_max"] == "@epochs"
    assert train["optimizer"]["params"] == "$@network.parameters()"
    assert (
        train["validate"]["preprocessing"]["transforms"][0] == "%train#preprocessing#transforms#0"
    )
    assert train["train"]["trainer"]["max_epochs"] == "@epochs"
    report = (bundle / "conversion_report.md").read_text()
    assert "@conf" in report  # CheckpointSaver's train_conf: reported, not silently dropped
    card = (bundle / "docs" / "README.md").read_text()
    assert "Data format" in card and "spleen" in card


def test_monai_accepts_the_bundle_offline(bundle):
    """verify_metadata (against docs/meta_schema.json: no download), verify_net_in_out with
    the validation roi, and no missing required property for train and infer workflows."""
    from mmar_hydra.bundle.verify import monai_checks

    checks = monai_checks(bundle)
    assert [(c.name, c.ok) for c in checks] == [
        ("verify_metadata", True),
        ("verify_net_in_out", True),
        ("check_properties[train]", True),
        ("check_properties[infer]", True),
    ], checks
    assert "[24, 24, 16]" in checks[1].detail  # the network's real input: the inferer's roi
    meta = json.loads((bundle / "configs" / "metadata.json").read_text())
    meta.pop("copyright")
    (bundle / "bad_meta.json").write_text(json.dumps(meta))
    from monai.bundle import verify_metadata

    with pytest.raises(ValueError, match="copyright"):  # the local schema does check
        verify_metadata(
            meta_file=str(bundle / "bad_meta.json"), filepath=str(bundle / "docs/meta_schema.json")
        )


def _drop_transform(bundle: Path, out: Path, config: str, index: int) -> str:
    """A copy of ``bundle`` whose ``configs/<config>`` lacks pre-transform ``index``."""
    shutil.copytree(bundle, out)
    data = json.loads((out / "configs" / config).read_text())
    dropped = data["preprocessing"]["transforms"].pop(index)
    (out / "configs" / config).write_text(json.dumps(data))
    return dropped["_target_"]


def _demo_side(mmar: Path, bundle: Path, run_dir: Path):
    """The MMAR side of the certificate for the transforms stage (no network needed); its
    work folders go in the task's run folder, ``run_dir``."""
    from omegaconf import OmegaConf

    from mmar_hydra.bundle.configs import ConfigSource
    from mmar_hydra.bundle.parity import MMARSide
    from mmar_hydra.context import resolve_config
    from mmar_hydra.reader.mmar_reader import read_mmar

    flat = read_mmar(mmar, task="validate")
    raw = {k: v for k, v in flat.config.items() if k != "mmar_source"}
    source = ConfigSource("config/config_validation.json", raw, {})

    def resolve(src: ConfigSource, out: Path) -> dict:
        return resolve_config(OmegaConf.create({**src.raw, "MMAR_EVAL_OUTPUT_PATH": str(out)}))

    train_conf = json.loads((bundle / "models" / "train_conf.json").read_text())
    paths = paths_inside(mmar, run_dir)
    return MMARSide(paths, train_conf, None, {"evaluate": source}, resolve)


def test_certificate_names_the_transform_a_broken_conversion_dropped(
    bundle, trained_demo, tmp_path
):
    from mmar_hydra.bundle.parity import certificate
    from mmar_hydra.bundle.parity_report import markdown

    side = _demo_side(trained_demo, bundle, tmp_path)
    good = certificate(side, bundle, work=tmp_path / "w1", stages=("transforms",))
    assert good["verdict"]["equal"], good["verdict"]
    assert set(good["transforms"]) == {"train", "validate", "evaluate"}
    steps = good["transforms"]["train"]["steps"]
    assert steps[6]["mmar"] == "RandCropByPosNegLabeld" and steps[6]["random"]
    assert all(s["max_abs_diff"] == 0.0 for s in steps)  # the random crop too: seeds matched
    assert (
        _drop_transform(bundle, tmp_path / "broken", "evaluate.json", 4) == "ScaleIntensityRanged"
    )
    bad = certificate(side, tmp_path / "broken", work=tmp_path / "w2", stages=("transforms",))
    first = bad["verdict"]["first_divergence"]
    assert not bad["verdict"]["equal"]
    assert first.startswith(
        "transforms: evaluate pre-transforms: ScaleIntensityRanged (transform 4)"
    )
    assert "the bundle has no ScaleIntensityRanged" in first
    assert "NOT EQUAL" in markdown(bad)


def test_triton_config_from_network_and_inferer_reads_back():
    from monai.inferers import SlidingWindowInferer
    from monai.networks.nets import UNet

    from mmar_hydra.bundle.triton import config_pbtxt, parse_pbtxt, triton_spec

    net = UNet(3, 1, 2, channels=[4, 8], strides=[2])
    fmt = {"inputs": {"image": {"num_channels": 1, "spatial_shape": [16, 16, 8]}},
           "outputs": {"pred": {"num_channels": 2}}}  # fmt: skip
    spec = triton_spec("spleen bundle", net, SlidingWindowInferer([32, 32, 16], 3), fmt)
    config = parse_pbtxt(config_pbtxt(spec))
    assert config["name"] == "spleen_bundle" and config["platform"] == "onnxruntime_onnx"
    assert config["max_batch_size"] == 3  # the inferer's sw_batch_size
    assert config["input"] == [{"name": "image", "data_type": "TYPE_FP32", "dims": [1, 32, 32, 16]}]
    assert config["output"][0]["dims"] == [2, 32, 32, 16]
    whole = triton_spec("m", net, SimpleInfererLike(), fmt)  # no roi: spatial dims free
    assert whole.input_dims == [1, -1, -1, -1] and whole.output_dims == [2, -1, -1, -1]
    assert parse_pbtxt('a: 1 # note\nb { c: "x" }\nb { c: "y" }') == {
        "a": 1, "b": [{"c": "x"}, {"c": "y"}]}  # fmt: skip


class SimpleInfererLike:
    """An inferer without roi_size (MONAI's SimpleInferer)."""


def test_clara_lambdas_become_from_engine():
    from mmar_hydra.bundle.components import picked_keys

    assert picked_keys("lambda x: (x['pred'], x['label'])") == ["pred", "label"]
    assert picked_keys("#lambda x: x['loss']") == ["loss"]
    assert picked_keys("lambda x: None") is None
    assert picked_keys("lambda x: x['pred'] * 2") is None


def test_values_become_bundle_syntax():
    from mmar_hydra.bundle.report import ConversionReport
    from mmar_hydra.bundle.values import DROP, Scope

    report = ConversionReport()
    ids = {"pre_transforms": "validate#preprocessing"}
    variables = {"DATA_ROOT": "dataset_dir", "epochs": "epochs"}
    scope = Scope("c.json", "validate", ids, variables, report, {"model": "network"})
    assert scope.value("${epochs}", "a") == "@epochs"
    assert scope.value("${DATA_ROOT}/imagesTr", "a") == "$str(@dataset_dir) + '/imagesTr'"
    assert scope.value("@model", "a") == "@network"  # train's model, seen from validate
    assert scope.value("@pre_transforms", "a") == "@validate#preprocessing"
    assert scope.value("#@model.parameters()", "a") == "$@network.parameters()"
    assert scope.value("$HOME", "a") == "$'$HOME'"  # a literal, not an expression
    assert scope.value({"model": "@model", "conf": "@conf"}, "a") == {"model": "@network"}
    assert scope.value("@conf", "a") is DROP and report.of("dropped")
    assert not report.of("code")
    assert scope.value("lambda x: x['pred'] * 2", "b") == "$lambda x: x['pred'] * 2"
    assert "needed allow_code" in report.of("code")[0].what


def test_multi_gpu_train_overrides_train_json(bundle):
    from monai.bundle import ConfigParser

    parser = ConfigParser()
    parser.read_config(
        [str(bundle / "configs" / n) for n in ("train.json", "multi_gpu_train.json")]
    )
    assert parser["network"]["_target_"] == "torch.nn.parallel.DistributedDataParallel"
    assert parser["train"]["dataloader"]["sampler"] == "@train#sampler"
    assert parser["validate"]["dataloader"]["sampler"] == "@validate#sampler"
    # Clara's "rank": 0 handlers run on rank 0 only
    assert parser["train"]["handler_ranks"].count(0) == 3
    assert "handler_ranks" in parser["train"]["trainer"]["train_handlers"]
    assert any("init_process_group" in e for e in parser["initialize"])


def test_refuses_a_non_empty_folder_and_writes_nothing_on_error(trained_demo, tmp_path):
    out = tmp_path / "b"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    proc = run_main(f"mmar={trained_demo}", "task=bundle", f"out={out}", *TINY_TRAIN)
    assert proc.returncode == 2 and "not empty" in proc.stdout + proc.stderr
    missing = tmp_path / "c"
    proc = run_main(
        f"mmar={trained_demo}", "task=bundle", f"out={missing}", "model_path=models/none.pt"
    )
    assert proc.returncode == 2 and not missing.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".c.tmp")]


def test_eval_metrics_and_a_stale_model_ts(trained_demo, tmp_path):
    from conftest import save_foreign_checkpoint

    mmar = tmp_path / "mmar"
    shutil.copytree(trained_demo, mmar, ignore=shutil.ignore_patterns("runs", "eval"))
    (mmar / "eval").mkdir()
    (mmar / "eval" / "metrics.csv").write_text("val_mean_dice,0.5\nval_acc,0.75\n")
    save_foreign_checkpoint(tmp_path / "other.pt")  # a model.ts of another network
    from mmar_hydra.engine.model_loading import network_for_checkpoint

    other = torch.load(tmp_path / "other.pt", weights_only=True)
    conf = {"train": {"model": {"name": "UNet", "args": {"spatial_dims": 3, "in_channels": 1,
            "out_channels": 2, "channels": [8, 16, 32], "strides": [2, 2], "num_res_units": 1,
            "norm": "batch"}}}}  # fmt: skip
    net = network_for_checkpoint(other, conf, paths=paths_inside(mmar), allow_code=False)
    torch.jit.save(torch.jit.script(net.eval()), str(mmar / "models" / "model.ts"))
    out = tmp_path / "b"
    proc = _ok(run_main(f"mmar={mmar}", "task=bundle", f"out={out}", "deploy=false", *TINY_TRAIN))
    meta = json.loads((out / "configs" / "metadata.json").read_text())
    assert meta["eval_metrics"] == {"val_mean_dice": 0.5, "val_acc": 0.75}
    assert "| val_mean_dice | 0.5000 |" in (out / "docs" / "README.md").read_text()
    assert not (out / "models" / "model.ts").exists()
    assert "not the export of the checkpoint" in proc.stdout


def _byoc(clara_examples: Path, tmp_path: Path) -> Path:
    import sys

    mmar = tmp_path / "byoc"
    shutil.copytree(clara_examples / BYOC, mmar)
    sys.path.insert(0, str(mmar / "custom"))
    try:
        from myNetworkArch import MyBasicUNet

        net = MyBasicUNet(3, 1, 2, features=[4, 4, 8, 8, 16, 4], norm="batch")
    finally:
        sys.path.remove(str(mmar / "custom"))
        sys.modules.pop("myNetworkArch", None)
    (mmar / "models").mkdir()
    torch.save({"model": net.state_dict()}, mmar / "models" / "model.pt")
    return mmar


@pytest.mark.real_clara
def test_byoc_mmar_converts_with_scripts_and_reports_allow_code(clara_examples, tmp_path):
    mmar = _byoc(clara_examples, tmp_path)
    args = [
        f"mmar={mmar}",
        "task=bundle",
        "config_file=config/trn_BYOC_Arch_loss.json",
        "train.model.args.features=[4,4,8,8,16,4]",
        "deploy=false",  # its ONNX export is the slow public-bundle tests'
    ]
    refused = run_main(*args, f"out={tmp_path / 'no'}")
    assert refused.returncode == 2 and "allow_code" in refused.stdout + refused.stderr
    assert not (tmp_path / "no").exists()
    out = tmp_path / "byoc_bundle"
    proc = _ok(run_main(*args, f"out={out}", "allow_code=true"))
    assert (out / "scripts" / "myNetworkArch.py").is_file()
    train = json.loads((out / "configs" / "train.json").read_text())
    assert train["network_def"]["_target_"] == "scripts.myNetworkArch.MyBasicUNet"
    assert train["loss"]["_target_"] == "scripts.myLoss.MyDiceLoss"
    report = (out / "conversion_report.md").read_text()
    needed = report.split("## Needed allow_code")[1].split("##")[0]
    assert "myNetworkArch.MyBasicUNet" in needed and "myLoss.MyDiceLoss" in needed
    assert "bundle: code:" in proc.stdout


# -- slow: the bundle's own runner ---------------------------------------------------------
def _bundle_run(bundle: Path, *args: str) -> str:
    proc = subprocess_run(bundle, ["run", *args])
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def subprocess_run(cwd: Path, args: list[str]):
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-m", "monai.bundle", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=900,
    )


def _dice_of_segs(seg_dir: Path, datalist: Path, split: str) -> float:
    import nibabel as nib
    import numpy as np
    from monai.metrics import DiceMetric
    from monai.networks.utils import one_hot

    metric = DiceMetric(include_background=False)
    data = json.loads(datalist.read_text())
    for case in data[split]:
        name = Path(case["image"]).name.replace(".nii.gz", "")
        (seg,) = (seg_dir / name).glob(f"{name}_*.nii.gz")  # SaveImaged's output_postfix
        pred = np.asarray(nib.load(seg).dataobj)
        if pred.ndim == 4:  # a one-hot prediction (gs41 saves AsDiscreted(to_onehot)): classes
            pred = pred.argmax(axis=-1)
        label = np.asarray(nib.load(datalist.parent / case["label"]).dataobj)
        p, lab = (one_hot(torch.as_tensor(a)[None, None].long(), 2) for a in (pred, label))
        metric(p, lab)
    return float(metric.aggregate())


def _csv_dice(path: Path) -> float:
    rows = dict(line.split(",") for line in path.read_text().split())
    return float(rows["val_mean_dice"])


def _validate_dice(mmar: Path, *extra: str) -> float:
    ckpt = ["dont_load_ts_model=true", "dont_load_ckpt_model=false"]  # model.pt, as the bundle
    _ok(run_cli(f"mmar={mmar}", "task=validate", *ckpt, *extra))
    return _csv_dice(mmar / "eval" / "metrics.csv")


def _bundle_dices(bundle: Path, datalist: Path) -> tuple[float, float]:
    """(Dice of inference.json's predictions on the validation split, evaluate.json's Dice)."""
    data = "$monai.data.load_decathlon_datalist(@datalist_file, True, 'validation', @dataset_dir)"
    _bundle_run(
        bundle, "--config_file", "configs/inference.json", "--dataset#data", data,
        "--output_dir", str(bundle / "val_segs"),
    )  # fmt: skip
    _bundle_run(bundle, "--config_file", "configs/evaluate.json")
    return (
        _dice_of_segs(bundle / "val_segs", datalist, "validation"),
        _csv_dice(bundle / "eval" / "metrics.csv"),
    )


def _trains_one_epoch(bundle: Path) -> None:
    copy = bundle.parent / (bundle.name + "_train")
    shutil.copytree(bundle, copy)
    log = _bundle_run(copy, "--config_file", "configs/train.json", "--epochs", "1")
    assert "Epoch[1] Complete" in log and "Engine run finished" in log
    assert list((copy / "models").glob("events.out.tfevents.*"))  # TensorBoardStatsHandler


@pytest.mark.slow
def test_demo_bundle_runs_inference_and_training(trained_demo, tmp_path):
    out = tmp_path / "demo_bundle"
    _ok(run_main(f"mmar={trained_demo}", "task=bundle", f"out={out}", *TINY_TRAIN))
    datalist = trained_demo / "data" / "dataset.json"
    expected = _validate_dice(trained_demo)  # the demo's validation and inference agree
    inferred, evaluated = _bundle_dices(out, datalist)
    assert abs(inferred - expected) <= 1e-4 and abs(evaluated - expected) <= 1e-4
    _trains_one_epoch(out)


@pytest.mark.slow
@pytest.mark.real_clara
def test_gs41_bundle_runs_inference_and_training(clara_examples, tmp_path):
    from mmar_hydra.demo.synthetic import generate_dataset

    data = tmp_path / "data"
    generate_dataset(data, n_train=2, n_val=1, n_test=1, shape=(96, 96, 64))
    mmar = tmp_path / "gs41"
    shutil.copytree(clara_examples / "gs41", mmar)
    env = [f"DATA_ROOT={data}", f"DATASET_JSON={data / 'dataset.json'}"]
    unet = "config_file=config/config_train_Unet.json"
    _ok(run_cli(f"mmar={mmar}", "task=train", unet, "epochs=1", *env))
    out = tmp_path / "gs41_bundle"
    _ok(run_main(f"mmar={mmar}", "task=bundle", unet, f"out={out}", *env))
    expected = _validate_dice(mmar, *env)
    inferred, evaluated = _bundle_dices(out, data / "dataset.json")
    assert abs(evaluated - expected) <= 1e-4  # evaluate.json is config_validation.json
    # gs41's inference config crops the foreground and its validation config does not, so its
    # predictions are compared with mmar_hydra's task=infer of the same config
    _ok(run_cli(f"mmar={mmar}", "task=export", unet, "input_shape=[1,1,160,160,160]"))
    split = ["dataset.data_list_key=validation", "MMAR_EVAL_OUTPUT_PATH=eval_infer"]
    _ok(run_cli(f"mmar={mmar}", "task=infer", *env, *split))
    assert (
        abs(inferred - _dice_of_segs(mmar / "eval_infer", data / "dataset.json", "validation"))
        <= 1e-4
    )
    _trains_one_epoch(out)


@pytest.mark.slow
def test_demo_bundle_parity_certificate_and_triton(trained_demo, tmp_path):
    """task=bundle parity=true: equal within tolerance on every stage; the Triton repository
    reads back and runs; a conversion without one pre-transform fails task=parity naming it."""
    from mmar_hydra.bundle.triton import check_repository

    out = tmp_path / "demo_bundle"
    proc = _ok(run_main(f"mmar={trained_demo}", "task=bundle", f"out={out}", "parity=true",
                        *TINY_TRAIN))  # fmt: skip
    assert "parity: equal within tolerance (6 stages compared)" in proc.stdout
    cert = json.loads((out / "docs" / "parity.json").read_text())
    assert cert["verdict"]["equal"] and all(c["ok"] for c in cert["checks"])
    assert {r["abs_diff"] for r in cert["validation"]["cases"]} == {0.0}
    assert [r["voxel_agreement"] for r in cert["inference"]["cases"]] == [1.0]
    assert cert["network"]["max_abs_diff"] == 0.0
    triton = check_repository(out / "triton")
    assert triton["ok"] and triton["config"]["input"][0]["dims"] == [1, 48, 48, 32]
    assert (out / "models" / "model.onnx").is_file()
    assert not list((trained_demo / "runs").glob("parity-*"))  # the scratch folder is gone
    broken = tmp_path / "broken"
    _drop_transform(out, broken, "inference.json", 3)
    proc = run_main(f"mmar={trained_demo}", "task=parity", f"bundle={broken}", *TINY_TRAIN)
    assert proc.returncode == 2 and "Traceback" not in proc.stdout + proc.stderr
    said = proc.stdout + proc.stderr
    assert "parity failed" in said and "inference pre-transforms: Spacingd (transform 3)" in said
    assert "NOT EQUAL" in (broken / "docs" / "parity.md").read_text()


def test_clara_handlers_and_inference_rewrite_become_what_monai_runs():
    """Early-access CheckpointLoader (no load_dict) and batched lambdas; a validation config's
    post transforms without the label an inference case lacks (per-key lists trimmed)."""
    from mmar_hydra.bundle.components import Section
    from mmar_hydra.bundle.report import ConversionReport
    from mmar_hydra.bundle.values import Scope
    from mmar_hydra.tasks.bundle_sources import _without_label

    report = ConversionReport()
    raw = {
        "handlers": [
            {"name": "CheckpointLoader", "args": {"load_path": "{MMAR_CKPT}"}},
            {"name": "StatsHandler", "args": {"output_transform": "lambda x: x['loss']"}},
        ]
    }
    scope = Scope("c.json", "", {}, {"MMAR_CKPT": "ckpt_path"}, report)
    loader, stats = Section(raw, raw, scope, frozenset()).handlers()
    assert loader["load_dict"] == {"model": "@network"}
    assert stats["output_transform"] == "$monai.handlers.from_engine(['loss'], first=True)"
    post = {"name": "AsDiscreted", "args": {"keys": ["pred", "label"], "argmax": [True, False],
            "to_onehot": 2}}  # fmt: skip
    assert _without_label(post)["args"] == {"keys": ["pred"], "argmax": [True], "to_onehot": 2}
