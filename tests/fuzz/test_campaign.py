"""``make test-slow``'s share of the fuzz suite: 500 cases, the fixed seed, two workers.

It runs ``tests/fuzz/run.py`` as ``make fuzz`` does (a process: the workers get their own data
limit and their own Hypothesis seed) and asserts what the issue asks of every case: no
traceback, no canary, no write outside, no lost model, every family tried.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from fuzz.campaign import ALL_FAMILIES

RUN = Path(__file__).with_name("run.py")


@pytest.mark.slow
def test_500_fuzz_cases_find_nothing(tmp_path):
    out = tmp_path / "fuzz.json"
    proc = subprocess.run(
        [
            sys.executable,
            str(RUN),
            "--examples",
            "500",
            "--seed",
            "0",
            "--work",
            str(tmp_path / "w"),
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=3600,
    )
    report = proc.stdout[-6000:] + proc.stderr[-3000:]
    assert out.is_file(), report
    result = json.loads(out.read_text())
    assert result["failures"] == [], report
    assert set(result["tried"]) == set(ALL_FAMILIES), report
    assert sum(result["tried"].values()) >= 450, report  # Hypothesis may exhaust a small family
    assert proc.returncode == 0, report
