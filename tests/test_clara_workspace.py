"""The MMAR workspace to the letter of Clara's documentation: layout, infer.sh, log.config."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import nibabel as nib
import pytest
from conftest import TINY_EVAL, paths_inside, run_main

from mmar_hydra.apps.clara_args import translate
from mmar_hydra.errors import CodeNotAllowedError, ConfigError
from mmar_hydra.run_logging import apply_log_config, job_logging
from mmar_hydra.tasks.commands import scripts_for
from mmar_hydra.tasks.demo_data import SAMPLE_MMAR
from mmar_hydra.tasks.eval_flags import EvalFlags, apply_eval_flags

# Clara 4.x's MMAR page: the layout every MMAR shares (models/ and eval/ are made by the runs)
DOCUMENTED_LAYOUT = {
    "config": {
        "config_train.json",
        "config_finetune.json",
        "config_inference.json",
        "config_validation.json",
        "config_validation_ckpt.json",
        "environment.json",
        "dataset_0.json",
    },
    "commands": {
        "set_env.sh",
        "train.sh",
        "train_multi_gpu.sh",
        "finetune.sh",
        "finetune_multi_gpu.sh",
        "infer.sh",
        "validate.sh",
        "validate_ckpt.sh",
        "validate_multi_gpu.sh",
        "validate_multi_gpu_ckpt.sh",
        "export.sh",
    },
    "resources": {"log.config"},
    "docs": {"Readme.md", "license.txt"},
}

LOG_TO_FILE = """\
[loggers]
keys=root,mmar_hydra
[handlers]
keys=console,file
[formatters]
keys=plain
[logger_root]
level=WARNING
handlers=console
[logger_mmar_hydra]
level=INFO
handlers=file
qualname=mmar_hydra
propagate=0
[handler_console]
class=StreamHandler
formatter=plain
args=(sys.stderr,)
[handler_file]
class=FileHandler
formatter=plain
args=('logs/mmar_hydra.log', 'a')
[formatter_plain]
format=%(name)s | %(levelname)s | %(message)s
"""


def _tree(root: Path) -> dict[str, set[str]]:
    return {
        d.name: {p.name for p in d.iterdir() if p.is_file()}
        for d in sorted(root.iterdir())
        if d.is_dir() and d.name != "__pycache__"
    }


def test_the_sample_mmar_has_the_documented_layout(tiny_demo_source):
    assert _tree(SAMPLE_MMAR) == DOCUMENTED_LAYOUT
    # task=demo_data: the same tree, plus the data, and the generated datalist where
    # `--set DATASET_JSON=$MMAR_ROOT/config/dataset_0.json` expects it
    demo = _tree(tiny_demo_source)
    assert {k: v for k, v in demo.items() if k in DOCUMENTED_LAYOUT} == DOCUMENTED_LAYOUT
    datalist = tiny_demo_source / "data" / "dataset.json"
    assert (tiny_demo_source / "config" / "dataset_0.json").read_text() == datalist.read_text()
    assert len(json.loads(datalist.read_text())["test"]) == 1  # this data, not the shipped copy


def test_the_sample_commands_are_what_task_commands_writes():
    configs = {p.name for p in (SAMPLE_MMAR / "config").glob("*.json")}
    scripts = scripts_for(configs)
    assert set(scripts) == DOCUMENTED_LAYOUT["commands"]
    for name, text in scripts.items():
        assert (SAMPLE_MMAR / "commands" / name).read_text() == text, name
    assert "config_finetune.json" in scripts["finetune.sh"]
    assert "config_validation_ckpt.json" in scripts["validate_ckpt.sh"]


@pytest.fixture(scope="module")
def exported_mmar(trained_demo, tmp_path_factory):
    """A copy of the trained tiny demo, exported, whose log.config sends mmar_hydra to a file."""
    root = tmp_path_factory.mktemp("clara_workspace") / "mmar"
    shutil.copytree(trained_demo, root, ignore=shutil.ignore_patterns("eval", "runs"))
    (root / "resources" / "log.config").write_text(LOG_TO_FILE)
    pickle = "++hydra.callbacks.pickle._target_=hydra.experimental.callbacks.PickleJobInfoCallback"
    result = run_main(f"mmar={root}", "task=export", "input_shape=[1,1,24,24,16]", pickle)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return root, result


def test_a_log_config_that_logs_to_a_file_makes_the_file(exported_mmar):
    root, _ = exported_mmar
    lines = (root / "logs" / "mmar_hydra.log").read_text().splitlines()
    assert lines[0] == (
        f"mmar_hydra | INFO | logging: configured from {root / 'resources' / 'log.config'} "
        "(logging.config.fileConfig, as Clara did)"
    )
    (run,) = (root / "runs").iterdir()
    assert not list(run.glob("*.log"))  # Hydra's job logging is not used beside it


def test_experimental_rerun_runs_the_pickled_job_again(exported_mmar):
    root, _ = exported_mmar
    (run,) = (root / "runs").iterdir()
    before = (root / "models" / "model.ts").stat().st_mtime_ns
    result = run_main("--experimental-rerun", str(run / ".hydra" / "config.pickle"))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "wrote " + str(root / "models" / "model.ts") in result.stdout
    assert (root / "models" / "model.ts").stat().st_mtime_ns > before


def test_the_documented_infer_command_writes_predictions_and_no_metrics(exported_mmar):
    root, _ = exported_mmar
    argv = ["-m", str(root), "-c", "config/config_validation.json", "-e", "config/environment.json"]
    sets = [f"DATASET_JSON={root}/config/dataset_0.json", "output_infer_result=true"]
    result = run_main(
        *translate("evaluate", [*argv, "--set", *sets, "do_validation=false", *TINY_EVAL])
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "1 case(s) inferred" in result.stdout
    eval_dir = root / "eval"
    assert not list(eval_dir.glob("*.csv"))  # no metrics
    test_cases = json.loads((root / "config" / "dataset_0.json").read_text())["test"]
    predictions = sorted(eval_dir.glob("*/*_seg.nii.gz"))
    assert len(predictions) == len(test_cases)
    for case, pred in zip(sorted(test_cases), predictions, strict=True):
        image = nib.load(root / "data" / case)
        assert pred.name == Path(case).name.replace(".nii.gz", "_seg.nii.gz")
        assert nib.load(pred).shape == image.shape  # in the input's space, as task=infer writes

    shutil.rmtree(eval_dir)
    result = run_main(
        *translate("evaluate", [*argv, "--set", *sets, "do_validation=true", *TINY_EVAL])
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    validation = json.loads((root / "config" / "dataset_0.json").read_text())["validation"]
    assert (eval_dir / "metrics.csv").is_file() and "2 case(s) validated" in result.stdout
    assert len(list(eval_dir.glob("*/*_seg.nii.gz"))) == len(validation)


def test_eval_flags_on_a_config_without_saver_and_with_labels(tmp_path):
    """gs41-like config: the flags add the saver, make labels optional, drop every metric."""
    (tmp_path / "dl.json").write_text(json.dumps({"validation": [{}], "test": ["a.nii"]}))
    config = {
        "MMAR_EVAL_OUTPUT_PATH": "eval/preds",
        "pre_transforms": [{"name": "LoadImaged", "args": {"keys": ["image", "label"]}}],
        "dataset": {
            "name": "Dataset",
            "data_list_file_path": "dl.json",
            "data_list_key": "validation",
        },
        "post_transforms": [
            {"name": "AsDiscreted", "args": {"keys": ["pred", "label"], "argmax": [True, False]}}
        ],
        "handlers": [{"name": "StatsHandler"}, {"name": "MetricsSaver", "args": {}}],
        "key_metric": {"name": "MeanDice", "log_label": "dice"},
        "evaluator": {"name": "SupervisedEvaluator", "args": {"key_val_metric": "@key_metric"}},
    }
    said: list[str] = []
    flags = EvalFlags.of({"do_validation": "false", "output_infer_result": True})
    out = apply_eval_flags(config, flags, mmar_root=tmp_path, say=said.append)
    assert "key_metric" not in out and [h["name"] for h in out["handlers"]] == ["StatsHandler"]
    assert out["evaluator"]["args"] == {} and out["dataset"]["data_list_key"] == "test"
    assert out["pre_transforms"][0]["args"]["allow_missing_keys"] is True
    assert [t["name"] for t in out["post_transforms"]] == ["AsDiscreted", "Invertd", "SaveImaged"]
    assert out["post_transforms"][2]["args"]["output_dir"] == "eval/preds"
    assert config["dataset"]["data_list_key"] == "validation"  # the input is left alone
    assert any("'test' split" in line for line in said)
    config["pre_transforms"].append({"name": "CropForegroundd", "args": {"source_key": "label"}})
    with pytest.raises(ConfigError, match="needs the label"):
        apply_eval_flags(config, flags, mmar_root=tmp_path, say=said.append)


def test_a_broken_log_config_is_a_clean_error_naming_the_file(tiny_demo):
    (tiny_demo / "resources" / "log.config").write_text("[loggers]\nkeys=root\n")
    result = run_main(f"mmar={tiny_demo}", "task=validate")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "cannot configure logging from the MMAR's log.config" in result.stderr
    assert str(tiny_demo / "resources" / "log.config") in result.stderr


def test_log_config_code_and_files_outside_the_mmar_are_refused(tmp_path):
    log_config = tmp_path / "log.config"
    evil = LOG_TO_FILE.replace("args=(sys.stderr,)", "args=(__import__('os').getcwd(),)")
    log_config.write_text(evil)
    with pytest.raises(CodeNotAllowedError, match="not a literal value"):
        apply_log_config(log_config, paths=paths_inside(tmp_path))
    log_config.write_text(LOG_TO_FILE.replace("logs/mmar_hydra.log", "../../outside.log"))
    with pytest.raises(ConfigError, match="refusing to write outside the MMAR"):
        apply_log_config(log_config, paths=paths_inside(tmp_path))
    assert not (tmp_path.parent.parent / "outside.log").exists()


@pytest.mark.parametrize("verbose", [False, True])
def test_other_libraries_info_lines_are_hidden_unless_verbose(verbose):
    class Collect(logging.Handler):
        def __init__(self) -> None:
            super().__init__()
            self.lines: list[str] = []

        def emit(self, record: logging.LogRecord) -> None:
            self.lines.append(f"{record.name.split('_')[0]}:{record.levelname}")

    root, collect = logging.getLogger(), Collect()
    saved = root.level
    root.addHandler(collect)
    root.setLevel(logging.INFO)
    before = logging.getLogger(f"otherlib_{verbose}")  # a library imported before the job
    ours = logging.getLogger(f"mmar_hydra.quiet_{verbose}")
    try:
        with job_logging(None, run_dir=False, verbose=verbose, allow_code=False):
            late = logging.getLogger(f"latelib_{verbose}")  # created during the job, with its
            late.propagate, late.handlers = False, [collect]  # own handler (MONAI's get_logger)
            for logger in (before, ours, late):
                logger.info("x")
            before.warning("x")
    finally:
        root.removeHandler(collect)
        root.setLevel(saved)
    shown = ["mmar:INFO", "otherlib:WARNING"]
    if verbose:
        shown = ["otherlib:INFO", "mmar:INFO", "latelib:INFO", "otherlib:WARNING"]
    assert collect.lines == shown
    assert logging.getLoggerClass() is logging.Logger  # restored after the job


@pytest.mark.slow
def test_a_make_demo_log_has_no_info_line_from_another_library(tmp_path):
    import re
    import subprocess

    from conftest import REPO, TINY_TRAIN

    demo = tmp_path / "demo"
    proc = subprocess.run(
        # -o: never (re)install from a test; `make test` installed the package already
        ["make", "-s", "-o", ".make/installed", "-C", str(REPO), "demo", f"MMAR={demo}"]
        + [f"ARGS={' '.join(TINY_TRAIN)}"],
        capture_output=True,
        text=True,
        timeout=900,
    )
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-3000:]
    info = [ln for ln in log.splitlines() if re.search(r"\bINFO\b", ln)]
    assert info, log[-3000:]  # mmar_hydra's own INFO lines are shown...
    others = [ln for ln in info if not re.search(r"(\[| - )mmar_hydra(\]| - )", ln)]
    assert not others, others  # ...and no other library's
    assert f"logging: configured from {demo / 'resources' / 'log.config'}" in log
    (run,) = (demo / "runs").iterdir()
    assert "trained with" in (run / "mmar_hydra.log").read_text()  # the sample's log.config
