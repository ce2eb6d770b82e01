"""The garbage-collector policy of a process that runs a task (mmar_hydra.gc_policy)."""

from __future__ import annotations

import gc
import json
import subprocess
import sys

import pytest
from conftest import TINY_TRAIN, run_main

from mmar_hydra import gc_policy


@pytest.fixture
def restore_gc():
    """Leave the collector as the test session had it."""
    was_enabled = gc.isenabled()
    yield
    gc.unfreeze()
    gc_policy._paused_by_us = False
    (gc.enable if was_enabled else gc.disable)()


def test_pause_then_settle_freezes_the_startup_heap(restore_gc):
    gc.unfreeze()
    gc_policy.pause_for_startup()
    assert not gc.isenabled()
    keep = [[i] for i in range(1000)]  # start-up objects that live for the whole run
    gc_policy.settle()
    assert gc.isenabled()
    assert gc.get_freeze_count() >= len(keep)
    assert not gc_policy.is_paused_by_us()


def test_settle_is_a_no_op_unless_an_entry_point_paused(restore_gc):
    gc.unfreeze()
    gc_policy.settle()  # in-process callers (tests, notebooks) keep Python's defaults
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0


def test_pause_keeps_a_collector_someone_else_disabled_off(restore_gc):
    gc.disable()
    gc_policy.pause_for_startup()
    gc_policy.settle()
    assert not gc.isenabled()  # not ours to switch on


PROBE = """
import gc, json, sys
from mmar_hydra import cli, gc_policy
seen = {}
settle = gc_policy.settle
def spy():
    seen.setdefault("enabled_before_loop", gc.isenabled())
    settle()
    seen.setdefault("enabled_in_loop", gc.isenabled())
    seen.setdefault("frozen_at_loop", gc.get_freeze_count())
gc_policy.settle = spy
getattr(cli, sys.argv[1])(sys.argv[2:])
seen["frozen_at_exit"] = gc.get_freeze_count()
print("PROBE " + json.dumps(seen))
"""


def _probe(entry: str, mmar, tmp_path) -> dict:
    args = [f"mmar={mmar}", "task=train", *TINY_TRAIN, "epochs=1", f"hydra.run.dir={tmp_path}"]
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, entry, *args], capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    line = next(x for x in proc.stdout.splitlines() if x.startswith("PROBE "))
    return json.loads(line[len("PROBE ") :])


def test_entry_point_trains_with_the_startup_heap_frozen(tiny_demo, tmp_path):
    seen = _probe("entry", tiny_demo, tmp_path)
    assert seen["enabled_before_loop"] is False  # no full collections during start-up
    assert seen["enabled_in_loop"] is True  # the loop's garbage is collected as usual
    assert seen["frozen_at_loop"] > 100_000  # torch + MONAI + Lightning + Hydra objects
    assert seen["frozen_at_exit"] >= seen["frozen_at_loop"]  # shutdown skips the walk
    assert (tiny_demo / "models" / "model.pt").is_file()


def test_in_process_main_keeps_python_gc_defaults(tiny_demo, tmp_path, monkeypatch, restore_gc):
    gc.unfreeze()
    seen = {}
    settle = gc_policy.settle

    def spy() -> None:
        seen.setdefault("enabled_before_loop", gc.isenabled())
        settle()
        seen.setdefault("frozen_at_loop", gc.get_freeze_count())

    monkeypatch.setattr(gc_policy, "settle", spy)
    args = [f"mmar={tiny_demo}", "task=train", *TINY_TRAIN, "epochs=1", f"hydra.run.dir={tmp_path}"]
    assert run_main(*args).returncode == 0
    assert seen == {"enabled_before_loop": True, "frozen_at_loop": 0}
    assert gc.get_freeze_count() == 0
