"""A trusted MMAR's own custom/ handlers run as ignite handlers in the loop of their section:
``task=validate``, the validation during training and the training loop, with Clara's event
order, epoch and iteration numbers and ``state.output``; a failing one stops with a clean
error naming it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import TINY_EVAL, TINY_TRAIN, run_main

pytest.importorskip("ignite")
CKPT = ["dont_load_ts_model=true", "dont_load_ckpt_model=false"]  # validate model.pt

RECORDER = '''\
import json

from monai.engines.workflow import Events


class EventRecorder:
    """Appends one JSON line per event it sees to ``path``."""

    def __init__(self, path, fail_at=None):
        self.path = path
        self.fail_at = fail_at

    def attach(self, engine):
        for event in ("STARTED", "EPOCH_STARTED", "ITERATION_COMPLETED", "EPOCH_COMPLETED",
                      "COMPLETED"):
            engine.add_event_handler(getattr(Events, event), self, event)

    def __call__(self, engine, event):
        if event == self.fail_at:
            raise RuntimeError("recorder told to fail")
        state = engine.state
        output = state.output if event == "ITERATION_COMPLETED" else {}
        with open(self.path, "a") as f:
            f.write(json.dumps({
                "event": event, "epoch": state.epoch, "iteration": state.iteration,
                "device": str(state.device), "output": sorted(output),
                "pred_shape": list(output["pred"].shape) if "pred" in output else None,
            }) + "\\n")
'''


def _with_recorder(mmar: Path, config: str, section: str | None, log: Path, **args) -> None:
    (mmar / "custom").mkdir(exist_ok=True)
    (mmar / "custom" / "recorder.py").write_text(RECORDER)
    path = mmar / "config" / config
    data = json.loads(path.read_text())
    target = data[section] if section else data
    target["handlers"].append(
        {"path": "recorder.EventRecorder", "args": {"path": str(log), **args}}
    )
    path.write_text(json.dumps(data, indent=2))


def _events(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def test_custom_handlers_run_in_the_training_and_validation_loops(tiny_demo, tmp_path):
    """One fit: a ``validate`` handler sees one evaluator run per validation, a ``train``
    handler one run for the whole fit."""
    val_log, train_log = tmp_path / "validate.jsonl", tmp_path / "train.jsonl"
    _with_recorder(tiny_demo, "config_train.json", "validate", val_log)
    _with_recorder(tiny_demo, "config_train.json", "train", train_log)
    proc = run_main(f"mmar={tiny_demo}", "task=train", "allow_code=true", *TINY_TRAIN)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "is not run" not in proc.stdout + proc.stderr

    events = _events(val_log)  # 2 epochs, validated each with 2 cases
    order = ["STARTED", "EPOCH_STARTED", *["ITERATION_COMPLETED"] * 2, "EPOCH_COMPLETED"]
    assert [e["event"] for e in events] == [*order, "COMPLETED"] * 2
    assert [e["epoch"] for e in events if e["event"] == "EPOCH_STARTED"] == [1, 2]
    assert [e["epoch"] for e in events if e["event"] == "STARTED"] == [0, 1]  # as in ignite
    steps = [e for e in events if e["event"] == "ITERATION_COMPLETED"]
    assert [e["iteration"] for e in steps] == [1, 2, 1, 2]  # counted per pass, as ignite did
    assert all(e["output"] == ["image", "label", "pred"] and e["device"] == "cpu" for e in steps)
    assert steps[0]["pred_shape"][:2] == [1, 2]  # batched, after the post transforms

    events = _events(train_log)  # 2 epochs of 2 steps (4 cases, batch size 2)
    epoch = ["EPOCH_STARTED", *["ITERATION_COMPLETED"] * 2, "EPOCH_COMPLETED"]
    assert [e["event"] for e in events] == ["STARTED", *epoch, *epoch, "COMPLETED"]
    steps = [e for e in events if e["event"] == "ITERATION_COMPLETED"]
    assert [e["iteration"] for e in steps] == [1, 2, 3, 4]  # counted across epochs
    assert [e["epoch"] for e in steps] == [1, 1, 2, 2]
    assert all(e["output"] == ["image", "label", "loss", "pred"] for e in steps)


def test_custom_handler_runs_in_task_validate(trained_demo, tmp_path):
    import shutil

    mmar = tmp_path / "mmar"
    shutil.copytree(trained_demo, mmar)
    log = tmp_path / "events.jsonl"
    _with_recorder(mmar, "config_validation.json", None, log)
    args = [f"mmar={mmar}", "task=validate", *CKPT, *TINY_EVAL]
    proc = run_main(*args)  # custom/ code is not imported without allow_code
    assert proc.returncode == 2 and "allow_code=true" in proc.stdout + proc.stderr
    proc = run_main(*args, "allow_code=true")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    events = _events(log)
    assert [e["event"] for e in events][:2] == ["STARTED", "EPOCH_STARTED"]
    assert [e["event"] for e in events][-2:] == ["EPOCH_COMPLETED", "COMPLETED"]
    assert sum(e["event"] == "ITERATION_COMPLETED" for e in events) == 2


def test_a_failing_custom_handler_is_a_clean_error_naming_it(trained_demo, tmp_path):
    import shutil

    mmar = tmp_path / "mmar"
    shutil.copytree(trained_demo, mmar)
    log = tmp_path / "events.jsonl"
    _with_recorder(mmar, "config_validation.json", None, log, fail_at="ITERATION_COMPLETED")
    proc = run_main(f"mmar={mmar}", "task=validate", "allow_code=true", *CKPT, *TINY_EVAL)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2 and "Traceback" not in out, out[-3000:]
    assert "evaluation handler recorder.EventRecorder failed (ITERATION_COMPLETED)" in out
    assert "RuntimeError: recorder told to fail" in out
    assert "config/config_validation.json" in out and "handlers[" in out
