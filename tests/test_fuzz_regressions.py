"""Regression tests for what the fuzz suite (``tests/fuzz``, ``make fuzz``) found.

Each test is one failure the fuzzer reported, reduced to its cause: before the fix it was a
traceback, a message without a fix, or a write outside the MMAR; now it is one clean error.
Most are unit tests (milliseconds); the ones about the whole CLI run ``task=check`` once.
"""

from __future__ import annotations

import gzip
import json
import struct
from pathlib import Path

import pytest
import torch
from conftest import TINY_TRAIN, paths_inside, run_main

from mmar_hydra.components.code_strings import parse_code_string
from mmar_hydra.components.datalist import load_datalist, missing_files
from mmar_hydra.errors import CheckpointError, ConfigError, DataError, first_line
from mmar_hydra.mmar.layout import absolute_path
from mmar_hydra.reader.jsonfile import MAX_DEPTH, load_json
from mmar_hydra.writers.checkpoints import load_checkpoint


def _clean(proc, *needles: str) -> str:  # noqa: ANN001
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stderr[-3000:]
    for needle in needles:
        assert needle in proc.stderr, proc.stderr[-3000:]
    return proc.stderr


# -- JSON and configs ------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [1000, MAX_DEPTH + 1])
def test_json_nested_too_deeply_is_a_config_error(tmp_path, depth):
    # 1,000 levels: a RecursionError out of json.loads; 33: OmegaConf and Hydra recurse later
    path = tmp_path / "config_train.json"
    path.write_text('{"train": {"model": ' + "[" * depth + "]" * depth + "}}")
    with pytest.raises(ConfigError, match="nested more than") as err:
        load_json(path)
    assert err.value.fix and err.value.expected


def test_json_at_the_depth_limit_loads(tmp_path):
    path = tmp_path / "ok.json"
    path.write_text('{"a": ' + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1) + "}")
    assert load_json(path)["a"]


def test_code_string_nested_too_deeply_is_a_config_error():
    with pytest.raises(ConfigError, match="nested too deeply"):  # RecursionError in ast
        parse_code_string("lambda x: x" + "[0]" * 3000, allow_code=False, where="a.b")


def test_variable_cycle_says_what_was_expected():
    from omegaconf import OmegaConf

    from mmar_hydra.context import resolve_config

    with pytest.raises(ConfigError) as err:
        resolve_config(OmegaConf.create({"amp": "${b}", "b": "x${amp}"}), "config.json")
    assert "Recursive interpolation" in err.value.what and "\n" not in err.value.what
    assert err.value.expected and err.value.fix


def test_broken_components_are_reported_together_cleanly(tiny_demo):
    """args that are a number, a 10**100 crop count (MONAI loops that many times: a hang), a
    post transform that is a number, a validate ref to nothing: one clean error each."""
    path = tiny_demo / "config" / "config_train.json"
    cfg = json.loads(path.read_text())
    cfg["train"]["loss"]["args"] = 7
    cfg["train"]["pre_transforms"][6]["args"]["num_samples"] = 10**100
    cfg["train"]["post_transforms"][0] = 5
    cfg["validate"]["pre_transforms"][3] = {"ref": "nonexistent"}
    path.write_text(json.dumps(cfg))
    err = _clean(
        run_main(f"mmar={tiny_demo}", "task=check", *TINY_TRAIN),
        "args are a JSON number, not an object",
        "train.loss.args",
        "has 101 digits",
        "train.pre_transforms[6].args.num_samples",
        "not a component",
        "'ref' to unknown train transform 'nonexistent'",
    )
    assert err.count("fix:") >= 4


# -- paths and writes ------------------------------------------------------------------------


def test_null_checkpoint_folder_is_refused_not_written_under_the_cwd(tiny_demo, tmp_path):
    """MMAR_CKPT_DIR=null made save_dir None: training wrote <cwd>/None/model.pt."""
    env_path = tiny_demo / "config" / "environment.json"
    env = json.loads(env_path.read_text())
    env["MMAR_CKPT_DIR"] = None
    env_path.write_text(json.dumps(env))
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    proc = run_main(f"mmar={tiny_demo}", "task=check", *TINY_TRAIN, cwd=cwd)
    _clean(proc, "save_dir is a JSON null, not a folder path", "train.handlers[3].args.save_dir")
    assert list(cwd.iterdir()) == []


def test_unusable_paths_are_config_errors(tmp_path):
    loop = tmp_path / "loop.json"
    loop.symlink_to(loop.name)
    with pytest.raises(ConfigError, match="cannot use the path"):  # RuntimeError: Symlink loop
        absolute_path(loop, tmp_path, where="config_file")
    paths = paths_inside(tmp_path)
    with pytest.raises(ConfigError, match="cannot use the path"):  # ValueError: NUL byte
        paths.read("data/a\x00b.json", where="DATASET_JSON")
    with pytest.raises(ConfigError, match="cannot use the path"):
        paths.write("~no_such_user_here/models", where="MMAR_CKPT_DIR")


# -- data ------------------------------------------------------------------------------------


@pytest.mark.parametrize("entry", [None, 5, ["imagesTr/a.nii.gz"], True])
def test_datalist_entry_of_the_wrong_type_is_a_data_error(tmp_path, entry):
    path = tmp_path / "dataset.json"
    path.write_text(json.dumps({"training": [{"image": "a.nii.gz"}, entry]}))
    with pytest.raises(DataError, match="entry 1 of the 'training' split") as err:
        load_datalist(path, tmp_path, "training")
    assert err.value.path == "training[1]" and err.value.fix


def test_paths_the_os_cannot_look_up_are_missing_files():
    nul, long = "images/a\x00b.nii.gz", "x" * 5000 + ".nii.gz"  # ValueError, ENAMETOOLONG
    assert missing_files([{"image": nul}, {"label": long}]) == [nul, long]


def test_image_header_claiming_1e12_voxels_is_a_clean_error(tiny_demo):
    """nibabel's MemoryError has no message: str(exc).splitlines()[0] was an IndexError."""
    datalist = json.loads((tiny_demo / "data" / "dataset.json").read_text())
    label = tiny_demo / "data" / datalist["training"][0]["label"]
    raw = bytearray(gzip.decompress(label.read_bytes()))
    struct.pack_into("<hhhh", raw, 40, 3, 10000, 10000, 10000)  # dim[0..3]
    label.write_bytes(gzip.compress(bytes(raw)))
    _clean(run_main(f"mmar={tiny_demo}", "task=check", *TINY_TRAIN), "the pre_transforms failed")


def test_first_line_of_an_exception_without_a_message():
    assert first_line(MemoryError()) == "MemoryError"
    assert first_line(ValueError("a\nb"), 1) == "a"


# -- checkpoints -----------------------------------------------------------------------------


@pytest.mark.parametrize("content", [[1, 2], "weights"])
def test_checkpoint_that_is_not_a_dict_says_what_to_do(tmp_path, content):
    path = tmp_path / "model.pt"
    torch.save(content, path)
    with pytest.raises(CheckpointError, match="not a dict") as err:
        load_checkpoint(path)
    assert err.value.fix


def test_weights_that_are_not_tensors_are_a_checkpoint_error():
    from mmar_hydra.writers.checkpoints import load_weights

    net = torch.nn.Linear(2, 2)
    with pytest.raises(CheckpointError, match="not all tensors: weight \\(int\\)"):
        load_weights(net, {"weight": 5, "bias": torch.zeros(2)}, file="model.pt")


# -- the trust boundary: an MMAR cannot switch mmar_hydra's own keys -----------------------------


def _set_env(root: Path, **values) -> None:  # noqa: ANN003
    path = root / "config" / "environment.json"
    env = json.loads(path.read_text())
    env.update(values)
    path.write_text(json.dumps(env))


def test_environment_cannot_add_a_hydra_callback(tiny_demo, tmp_path):
    """environment.json's keys were merged at the root of Hydra's config: a "hydra" key
    registered a callback, and Hydra instantiated its _target_ (shutil.copy ran)."""
    canary = tmp_path / "canary"
    copy = {
        "_target_": "shutil.copy",
        "src": str(tiny_demo / "config" / "environment.json"),
        "dst": str(canary),
    }
    _set_env(tiny_demo, hydra={"callbacks": {"evil": copy}})
    proc = run_main(f"mmar={tiny_demo}", "task=check", *TINY_TRAIN)
    _clean(proc, "'hydra' is one of mmar_hydra's own keys", "config/environment.json: hydra")
    assert not canary.exists()


@pytest.mark.parametrize(
    "key", ["allow_code", "allow_write", "task", "hydra", "defaults", "trainer"]
)
def test_an_mmar_file_cannot_set_mmar_hydras_own_keys(tiny_demo, key):
    """A config global "allow_code": true switched the trust boundary off for its own MMAR."""
    from mmar_hydra.reader.mmar_reader import read_mmar

    path = tiny_demo / "config" / "config_train.json"
    cfg = json.loads(path.read_text())
    cfg[key] = True
    path.write_text(json.dumps(cfg))
    with pytest.raises(ConfigError, match=f"'{key}' is one of mmar_hydra's own keys") as err:
        read_mmar(tiny_demo)
    assert err.value.path == key and "command line" in err.value.fix


def test_runs_folder_symlinked_outside_is_refused(tiny_demo, tmp_path):
    """Hydra wrote every run folder through a shipped runs -> elsewhere symlink."""
    target = tmp_path / "elsewhere"
    target.mkdir()
    (tiny_demo / "runs").symlink_to(target)
    _clean(run_main(f"mmar={tiny_demo}", "task=train", *TINY_TRAIN), "runs/ folder is a symlink")
    assert list(target.iterdir()) == []


# -- odd shapes the reader met before the resolver could report them ---------------------------


def test_reader_leaves_odd_args_for_the_resolver_to_report():
    """args null / a number / a list of lists crashed the 4.0 wiring and the compat renames."""
    from mmar_hydra.reader.compat import apply_compat
    from mmar_hydra.reader.dialect import normalize_dialect

    handlers = [
        {"name": "CheckpointSaver", "args": None},
        {"name": "CheckpointSaver", "args": {"save_dict": [["model"]]}},
        {"name": "LrScheduleHandler", "args": 5e-324},
    ]
    config = {
        "train": {"handlers": handlers, "pre_transforms": [{"name": "AddChanneld", "args": "x"}]}
    }
    out, dialect = normalize_dialect(config, kind="train", file="c.json")
    assert dialect != "4.1" and out["train"]["handlers"][0]["args"] == {}
    translated, _ = apply_compat(out, file="c.json")
    assert translated["train"]["pre_transforms"][0]["args"] == "x"


def test_a_network_that_is_a_number_has_no_parameters(tmp_path):
    from mmar_hydra.hydra_config import register_mmar

    register_mmar({"train": {"model": 1e308}})  # was OmegaConf's ValidationError
    code = parse_code_string(
        "#@model.parameters()", allow_code=False, where="train.optimizer.args.params"
    )
    with pytest.raises(ConfigError, match="'@model' is a float, not a network"):
        code.evaluate({"model": 1e308})


def test_a_path_too_long_to_look_up_is_not_found(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):  # was OSError ENAMETOOLONG
        load_json(tmp_path / ("x" * 5000 + ".json"))


@pytest.mark.parametrize("content", [b"root:x:0:0:root:/root:/bin/bash\n", b"PK\x03\x04garbage"])
def test_any_file_as_a_checkpoint_is_a_checkpoint_error(tmp_path, content):
    """MMAR_CKPT=/etc/passwd: torch.load raised IndexError, which nothing caught."""
    from mmar_hydra.writers.torchscript import load_torchscript

    path = tmp_path / "model.pt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match="cannot read the checkpoint"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="not a TorchScript model"):
        load_torchscript(path)


def test_evaluation_config_with_odd_engine_args_fails_the_check(tiny_demo):
    """evaluator.args = NaN and MetricsSaver summary_ops = -1 passed the check, then crashed
    validate (the second after evaluating every case)."""
    path = tiny_demo / "config" / "config_validation.json"
    cfg = json.loads(path.read_text())
    cfg["evaluator"]["args"] = float("nan")
    saver = next(h for h in cfg["handlers"] if h["name"] == "MetricsSaver")
    saver["args"]["summary_ops"] = -1
    path.write_text(json.dumps(cfg))
    proc = run_main(f"mmar={tiny_demo}", "task=check", "config_file=config/config_validation.json")
    _clean(proc, "evaluator.args", "args are a JSON number", "summary_ops is a JSON number")


@pytest.mark.parametrize("text", ["@ dataset", "@model.", "@", "@pre transforms"])
def test_a_malformed_reference_is_not_passed_on_as_a_string(tmp_path, text):
    """ "@ dataset" reached the validation dataset as its transform: 'str' is not callable."""
    from mmar_hydra.components.builder import check_config

    cfg = {"train": {"loss": {"name": "DiceLoss", "args": {"other_act": text}}}}
    problems = check_config(cfg, paths=paths_inside(tmp_path), check_data=False)
    assert [p.path for p in problems] == ["train.loss.args.other_act"]
    assert "is not a reference" in problems[0].what and problems[0].fix


def test_automl_search_errors_say_what_to_do():
    from mmar_hydra.reader.search_space import parse_space

    bad = {"search": [5, {"type": "{__class__}", "args": ["lr"]}, {"type": "float", "args": []}]}
    problems = parse_space(bad).problems
    assert len(problems) == 3
    assert all(p.expected and p.fix for p in problems), [p.format() for p in problems]


@pytest.mark.slow
def test_cases_that_cannot_be_batched_are_a_data_error(tiny_demo):
    """A 4D label (2 channels) passed the first-case check; collate raised in Lightning."""
    import nibabel as nib
    import numpy as np

    datalist = json.loads((tiny_demo / "data" / "dataset.json").read_text())
    label = tiny_demo / "data" / datalist["training"][1]["label"]
    nib.save(nib.Nifti1Image(np.zeros((40, 40, 32, 2), np.float32), np.eye(4)), label)
    proc = run_main(f"mmar={tiny_demo}", "task=train", *TINY_TRAIN)
    _clean(proc, "a batch of the train data cannot be made", "stack expects", "train.dataloader")


@pytest.mark.slow
def test_a_nan_loss_says_where_the_loss_is(trained_demo, tmp_path):
    """Fine-tuning NaN weights stopped with a message that had no where: line."""
    import shutil

    mmar = tmp_path / "mmar"
    shutil.copytree(trained_demo, mmar, ignore=shutil.ignore_patterns("runs", "eval"))
    ckpt = torch.load(mmar / "models" / "model.pt", weights_only=True)
    ckpt["model"] = {k: v.float().fill_(float("nan")) for k, v in ckpt["model"].items()}
    torch.save(ckpt, mmar / "models" / "model.pt")
    proc = run_main(f"mmar={mmar}", "task=finetune", *TINY_TRAIN)
    _clean(proc, "the training loss is nan", "where:", "train.loss")


def test_a_handler_rank_that_is_not_a_number(tmp_path):
    """int(rank) raised ValueError for "rank": "\u202emodel.pt"."""
    from mmar_hydra.components.builder import check_config

    cfg = {"train": {"handlers": [{"name": "StatsHandler", "rank": "\u202emodel.pt"}]}}
    problems = check_config(cfg, paths=paths_inside(tmp_path), check_data=False)
    assert [p.path for p in problems] == ["train.handlers[0].rank"] and problems[0].fix


def test_automl_apply_that_is_not_an_object_and_empty_alternatives():
    """apply: true (AttributeError) and "dataloader": [] (IndexError) in the AutoML reading."""
    from mmar_hydra.reader.search_space import parse_space

    cfg = {"train": {"dataloader": [], "loss": {"name": "DiceLoss", "apply": True}}}
    problems = parse_space(cfg).problems
    assert sorted(p.path for p in problems) == ["train.dataloader", "train.loss.apply"]
    assert all(p.expected and p.fix for p in problems)


@pytest.mark.slow
def test_export_with_a_train_conf_that_is_a_string(trained_demo, tmp_path):
    """export read checkpoint["train_conf"]["train"] of a string: AttributeError."""
    import shutil

    mmar = tmp_path / "mmar"
    shutil.copytree(trained_demo, mmar, ignore=shutil.ignore_patterns("runs", "eval"))
    ckpt = torch.load(mmar / "models" / "model.pt", weights_only=True)
    torch.save({**ckpt, "train_conf": "x"}, mmar / "models" / "model.pt")
    proc = run_main(f"mmar={mmar}", "task=export", "input_shape=[1,1,24,24,16]", *TINY_TRAIN[2:4])
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_a_number_where_one_component_belongs(tmp_path):
    """train.inferer = 5e-324 passed the check; every training step then called the float."""
    from mmar_hydra.components.builder import check_config

    cfg = {"train": {"inferer": 5e-324, "loss": "DiceLoss", "lr_scheduler": None}}
    problems = check_config(cfg, paths=paths_inside(tmp_path), check_data=False)
    assert sorted(p.path for p in problems) == ["train.inferer", "train.loss"]


@pytest.mark.parametrize(
    ("transform", "said"),
    [
        ("ünïcødé", "the dataset's transform is a JSON string"),
        (
            "lambda x: x['no_such_key']",
            "the dataset's transform failed on the first case: KeyError",
        ),
    ],
)
def test_the_check_runs_the_datasets_own_transform(tiny_demo, transform, said):
    """The check ran the pre_transforms, not the dataset's own transform: validate then called
    a string on every case, or a safe lambda that fails on this data (a traceback)."""
    path = tiny_demo / "config" / "config_validation.json"
    cfg = json.loads(path.read_text())
    cfg["dataset"]["args"]["transform"] = transform
    path.write_text(json.dumps(cfg))
    proc = run_main(
        f"mmar={tiny_demo}",
        "task=check",
        "config_file=config/config_validation.json",
        "inferer.args.roi_size=[24,24,16]",
    )
    _clean(proc, said, "dataset.args.transform")


def test_a_step_error_without_a_component_names_the_case():
    from mmar_hydra.engine.step_errors import step_error

    err = step_error(
        TypeError("'float' object is not callable"),
        stage="training",
        origins=None,
        batch=None,
        loader=None,
    )
    assert err.path == "the training step" and err.fix and err.expected


def test_the_cache_estimate_leaves_a_bad_first_case_to_the_bad_case_report():
    """A validation case without "image" made the cache estimate raise MONAI's KeyError at
    build time; the cache fill names the case instead (faults.bad_cases)."""
    from monai.transforms import Compose, LoadImaged

    from mmar_hydra.components.cache_estimate import check_cache_fits

    chain = Compose([LoadImaged(keys="image")])
    assert (
        check_cache_fits(
            {"data": [{"hydra": "x.nii.gz"}], "transform": chain}, where="w", file=None
        )
        is None
    )
    assert (
        check_cache_fits(
            {"data": [{}], "transform": chain, "cache_rate": "abc"}, where="w", file=None
        )
        is None
    )


def test_clara_saver_handlers_beside_post_transforms_that_are_not_a_list():
    """post_transforms = 7 beside a Clara 4.0 SegmentationSaver: 'int' has no 'extend'."""
    from mmar_hydra.reader.compat import apply_compat

    config = {"handlers": [{"name": "SegmentationSaver", "args": {}}], "post_transforms": 7}
    out, _ = apply_compat(config, file="config_inference.json")
    assert out["post_transforms"] == 7  # left for the resolver to report


@pytest.mark.slow
def test_a_validation_case_without_an_image_is_a_bad_case(tiny_demo):
    datalist = tiny_demo / "data" / "dataset.json"
    data = json.loads(datalist.read_text())
    data["validation"][0]["hydra"] = data["validation"][0].pop("image")
    datalist.write_text(json.dumps(data))
    proc = run_main(f"mmar={tiny_demo}", "task=train", *TINY_TRAIN)
    _clean(proc, "bad case:", "validation[0]", "LoadImaged")
