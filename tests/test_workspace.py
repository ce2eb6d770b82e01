"""The MMAR as a workspace: Clara-compatible entry points, commands/*.sh, clone."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
from conftest import TINY_EVAL, TINY_TRAIN

from mmar_hydra.apps.clara_args import set_value, translate
from mmar_hydra.errors import ConfigError
from mmar_hydra.runs.clone import clone_mmar
from mmar_hydra.tasks.commands import write_commands


@pytest.mark.parametrize(
    "clara,hydra",
    [
        ("True", "true"),
        ("False", "false"),
        ("2e-4", "2e-4"),
        ("5", "5"),
        ("None", "null"),
        ("[1, 1, 160, 160, 160]", "[1,1,160,160,160]"),
        ("models/exp1", "models/exp1"),
        ("/data/my scans", "'/data/my scans'"),
        ("it's", "'it\\'s'"),
    ],
)
def test_set_values_are_typed_as_clara_typed_them(clara, hydra):
    assert set_value(clara) == hydra


def test_clara_command_lines_translate(tiny_demo):
    root = str(tiny_demo)
    train = translate(
        "train",
        [
            "-m",
            root,
            "-c",
            f"{root}/config/config_train.json",
            "-e",
            f"{root}/config/environment.json",
            "--write_train_stats",
            "--set",
            "print_conf=True",
            "epochs=1260",
            "multi_gpu=False",
            "MY_NEW_KEY=a b",
        ],
    )
    assert train == [
        f"mmar={root}",
        "task=train",
        "config_file=config/config_train.json",
        "env_file=config/environment.json",
        "print_conf=true",
        "epochs=1260",
        "multi_gpu=false",
        "MY_NEW_KEY='a b'",
    ]
    evaluate = translate(
        "evaluate",
        [
            "-m",
            root,
            "-c",
            "config/config_validation.json",
            "--set",
            "dont_load_ts_model=False",
            "dont_load_ckpt_model=True",
        ],
    )
    assert evaluate[1] == "task=validate" and "dont_load_ts_model=false" in evaluate
    assert (
        translate("evaluate", ["-m", root, "-c", "config/config_inference.json"])[1] == "task=infer"
    )
    export = translate(
        "export",
        [
            "-m",
            root,
            "-c",
            "config/config_train.json",
            "--model_path",
            f"{root}/models/model.pt",
            "--output_path",
            f"{root}/models/model.ts",
            "--input_shape",
            "[1, 1, 160, 160, 160]",
            "--ignore_verify",
        ],
    )
    assert export[3:] == [
        "model_path=models/model.pt",
        "output_path=models/model.ts",
        "input_shape=[1,1,160,160,160]",
        "ignore_verify=true",
    ]
    proc = subprocess.run(
        [sys.executable, "-m", "mmar_hydra.apps.train", "--help"], capture_output=True, text=True
    )
    assert proc.returncode == 0 and "--write_train_stats" in proc.stdout and "--set" in proc.stdout


def test_scripts_forward_their_arguments_as_set_values(tiny_demo, tmp_path):
    shutil.rmtree(tiny_demo / "commands")  # the sample MMAR ships its own; write them anew
    written, _ = write_commands(tiny_demo)
    names = {p.name for p in written}
    assert {
        "train.sh",
        "finetune.sh",
        "validate.sh",
        "validate_ckpt.sh",
        "infer.sh",
        "export.sh",
        "train_multi_gpu.sh",
        "validate_multi_gpu.sh",
        "set_env.sh",
    } <= names
    fake = tmp_path / "fake_python"
    fake.write_text('#!/usr/bin/env bash\nprintf "%s\\n" "$@"\n')
    fake.chmod(0o755)
    env = {**os.environ, "PYTHON": str(fake)}
    out = subprocess.run(
        [str(tiny_demo / "commands" / "train.sh"), "epochs=5", "DATA_ROOT=/data"],
        capture_output=True,
        text=True,
        env=env,
    ).stdout.splitlines()
    assert out[:2] == ["-m", "mmar_hydra.apps.train"]
    assert out[out.index("--set") + 1 :] == ["print_conf=True", "epochs=5", "DATA_ROOT=/data"]
    out = subprocess.run(
        [str(tiny_demo / "commands" / "finetune.sh"), "epochs=2"],
        capture_output=True,
        text=True,
        env=env,
    ).stdout.splitlines()
    assert out[out.index("--set") + 1 :] == ["dont_load_ckpt_model=False", "epochs=2"]
    multi = subprocess.run(
        [str(tiny_demo / "commands" / "train_multi_gpu.sh")],
        capture_output=True,
        text=True,
        env={**env, "GPU_COUNT": "3"},
    ).stdout
    assert "trainer=ddp" in multi and "trainer.devices=3" in multi


def test_existing_scripts_are_backed_up(tiny_demo):
    write_commands(tiny_demo)
    script = tiny_demo / "commands" / "train.sh"
    script.write_text("#!/bin/bash\necho my own script\n")
    written, backups = write_commands(tiny_demo)
    assert [b.name.split(".bak-")[0] for b in backups] == ["train.sh"]
    assert backups[0].read_text() == "#!/bin/bash\necho my own script\n"
    assert "mmar_hydra.apps.train" in script.read_text()


def test_commands_match_the_configs_the_mmar_has(tiny_demo):
    shutil.rmtree(tiny_demo / "commands")
    (tiny_demo / "config" / "config_inference.json").unlink()
    (tiny_demo / "config" / "config_validation_ckpt.json").unlink()
    written, _ = write_commands(tiny_demo)
    commands = tiny_demo / "commands"
    # no config_inference.json: Clara's documented infer.sh, through the validation config
    infer = (commands / "infer.sh").read_text()
    assert '-c "$MMAR_ROOT/config/config_validation.json"' in infer
    assert (
        '--set "DATASET_JSON=$MMAR_ROOT/config/dataset_0.json" output_infer_result=True '
        'do_validation=False "$@"' in infer
    )
    # no config_validation_ckpt.json: validate_ckpt.sh switches the validation config's model
    ckpt = (commands / "validate_ckpt.sh").read_text()
    assert "config_validation.json" in ckpt and "dont_load_ckpt_model=False" in ckpt
    shutil.rmtree(commands)
    for name in ("config_validation.json", "config_finetune.json"):
        (tiny_demo / "config" / name).unlink()
    written, _ = write_commands(tiny_demo)
    assert not {"infer.sh", "validate.sh"} & {p.name for p in written}
    assert "config_train.json" in (commands / "finetune.sh").read_text()


def test_clone_writes_overrides_and_records_its_parent(tiny_demo, tmp_path):
    (tiny_demo / "models").mkdir(exist_ok=True)
    (tiny_demo / "models" / "model.pt").write_bytes(b"x")
    dst = clone_mmar(
        tiny_demo,
        tmp_path / "clone",
        [
            "epochs=5",
            "train.model.args.channels=[4,8,16,32]",
            "DATA_ROOT=/data/x",
            "train.pre_transforms.6.args.num_samples=1",
            "brand_new=True",
        ],
    )
    cfg = json.loads((dst / "config" / "config_train.json").read_text())
    env = json.loads((dst / "config" / "environment.json").read_text())
    assert cfg["epochs"] == 5 and cfg["brand_new"] is True
    assert cfg["train"]["model"]["args"]["channels"] == [4, 8, 16, 32]
    assert cfg["train"]["pre_transforms"][6]["args"]["num_samples"] == 1
    assert env["DATA_ROOT"] == "/data/x"
    assert cfg["train"]["model"]["args"]["in_channels"] == "{in_channels}"  # variables kept
    record = json.loads((dst / "clone.json").read_text())
    assert record["parent"] == str(tiny_demo) and record["overrides"][0] == "epochs=5"
    assert not (dst / "models").exists() and not (dst / "data").exists()
    with pytest.raises(ConfigError, match="not empty"):
        clone_mmar(tiny_demo, dst, [])
    with_models = clone_mmar(tiny_demo, tmp_path / "with_models", [], models=True)
    assert (with_models / "models" / "model.pt").read_bytes() == b"x"


@pytest.mark.slow
def test_every_sample_script_runs_end_to_end(tiny_demo):
    small = list(TINY_TRAIN)  # the sample MMAR's own commands/
    for name, args in [
        ("train.sh", small),
        ("export.sh", []),
        ("validate.sh", TINY_EVAL),
        ("validate_ckpt.sh", TINY_EVAL),
        ("infer.sh", TINY_EVAL),
        ("finetune.sh", small),
        ("train_multi_gpu.sh", small),
        ("finetune_multi_gpu.sh", small),
        ("validate_multi_gpu.sh", TINY_EVAL),
        ("validate_multi_gpu_ckpt.sh", TINY_EVAL),
    ]:
        env_shape = {"INPUT_SHAPE": "[1,1,24,24,16]"}
        proc = subprocess.run(
            [str(tiny_demo / "commands" / name), *args],
            capture_output=True,
            text=True,
            timeout=600,
            env={**os.environ, **env_shape},
        )
        assert proc.returncode == 0, (name, proc.stderr[-2000:])
    assert (tiny_demo / "models" / "model.ts").is_file()
    assert (tiny_demo / "eval" / "metrics.csv").is_file()


@pytest.mark.slow
def test_every_makefile_workflow_target_runs(tiny_demo):
    repo = __import__("pathlib").Path(__file__).resolve().parents[1]
    train = " ".join(TINY_TRAIN)
    evaluate = " ".join(TINY_EVAL)
    for target, args in [
        ("check", train),
        ("train", train),
        ("export", "input_shape=[1,1,24,24,16]"),
        ("validate", evaluate),
        ("validate-ckpt", evaluate),
        ("infer", evaluate),
        ("finetune", train),
        ("train-multi-gpu", train),
        ("validate-multi-gpu", evaluate),
    ]:
        proc = subprocess.run(
            ["make", "-C", str(repo), target, f"MMAR={tiny_demo}", f"ARGS={args}"],
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert proc.returncode == 0, (target, proc.stdout[-1500:], proc.stderr[-1500:])
