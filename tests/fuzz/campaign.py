"""Run the families in this process: Hypothesis draws each case, the oracle judges each run.

A failing case is recorded, not raised, so one campaign finds every failure rather than
the first (and Hypothesis spends no time shrinking: each case says what it did, which is
enough to write the regression test by hand).
"""

from __future__ import annotations

import signal
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from conftest import run_main
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from fuzz import oracle
from fuzz.cases import Case, Ctx
from fuzz.families import FAMILIES
from fuzz.seeds import Seed
from fuzz.workspace import prepare, wipe

__all__ = ["ALL_FAMILIES", "Result", "CaseTimeout", "run_case", "run_family", "WEIGHTS"]

ALL_FAMILIES: dict[str, Callable[[Any, Ctx], Case]] = FAMILIES
# share of the examples per family (the JSON families are cheap and have the largest spaces)
WEIGHTS = {
    "keys": 18,
    "values": 16,
    "refs": 10,
    "variables": 10,
    "components": 10,
    "code strings": 10,
    "checkpoints": 7,
    "nifti": 7,
    "datalists": 4,
    "symlinks": 4,
    "environment": 4,
}
RUN_TIMEOUT = 240  # s: a run slower than this counts as a hang


class CaseTimeout(BaseException):
    """Raised in the run by the watchdog (a BaseException: the CLI's handlers let it through)."""


@dataclass
class Result:
    """What one process found: cases and runs per family, failures, the slowest cases."""

    tried: dict[str, int] = field(default_factory=dict)
    runs: dict[str, dict[str, int]] = field(default_factory=dict)
    failures: list[dict[str, Any]] = field(default_factory=list)
    slowest: list[tuple[float, str]] = field(default_factory=list)
    task_seconds: dict[str, float] = field(default_factory=dict)  # time in the CLI per task
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _alarm(signum: int, frame: Any) -> None:
    raise CaseTimeout()


def _one_run(ex: Any, args: list[str]) -> list[oracle.Finding]:
    """One CLI run under the watchdog; the oracle's findings."""
    before, model = oracle.snapshot(ex), oracle.model_hash(ex.mmar)
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(RUN_TIMEOUT)
    try:
        result = run_main(f"mmar={ex.mmar}", *args, cwd=ex.cwd)
    except CaseTimeout:
        return [oracle.Finding("hang", f"no exit after {RUN_TIMEOUT} s")]
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    found = oracle.judge_output(result.returncode, result.stdout, result.stderr)
    found += oracle.canaries(ex)
    found += oracle.diff(before, oracle.snapshot(ex))
    trains = args[0] in ("task=train", "task=finetune") and result.returncode == 0
    if model is not None and not trains and oracle.model_hash(ex.mmar) != model:
        found.append(
            oracle.Finding("model lost", f"models/model.pt changed (exit {result.returncode})")
        )
    return found


def run_case(case: Case, work: Path, result: Result) -> list[dict[str, Any]]:
    """Make the case's MMAR, run its runs, record what the oracle says; its failures."""
    start = time.perf_counter()
    failures = []
    ex = prepare(work, case.seed.root)
    try:
        for edit in case.edits:
            edit(ex)
        for args in case.runs:
            task = args[0].removeprefix("task=")
            counts = result.runs.setdefault(case.family, {})
            counts[task] = counts.get(task, 0) + 1
            started = time.perf_counter()
            found = _one_run(ex, args)
            spent = time.perf_counter() - started
            result.task_seconds[task] = result.task_seconds.get(task, 0.0) + spent
            for finding in found:
                failures.append(
                    {
                        "family": case.family,
                        "kind": finding.kind,
                        "detail": finding.detail,
                        "run": " ".join(args),
                        "steps": case.steps,
                    }
                )
    except Exception:  # noqa: BLE001 - a harness error is reported like a failure, never hidden
        failures.append(
            {
                "family": case.family,
                "kind": "harness",
                "detail": traceback.format_exc()[-1500:],
                "run": "",
                "steps": case.steps,
            }
        )
    finally:
        wipe(ex.root)
    result.tried[case.family] = result.tried.get(case.family, 0) + 1
    result.failures += failures
    result.slowest = sorted(
        [*result.slowest, (time.perf_counter() - start, "; ".join(case.steps))], reverse=True
    )[:5]
    return failures


def run_family(
    name: str,
    examples: int,
    ctx: Ctx,
    result: Result,
    *,
    seed_value: int = 0,
    on_case: Callable[[Case, list], None] | None = None,
) -> None:
    """``examples`` cases of family ``name``, drawn by Hypothesis from ``seed_value``."""
    if examples <= 0:
        return
    draw = ALL_FAMILIES[name]

    @seed(seed_value)
    @settings(
        max_examples=examples,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        derandomize=False,
        report_multiple_bugs=False,
    )
    @given(st.data())
    def family(data: Any) -> None:
        try:
            case = draw(data, ctx)
        except Exception:  # noqa: BLE001 - a broken draw is the harness's bug: report, go on
            result.failures.append(
                {
                    "family": name,
                    "kind": "harness",
                    "run": "",
                    "steps": [],
                    "detail": traceback.format_exc()[-1500:],
                }
            )
            return
        failures = run_case(case, ctx.work, result)
        if on_case is not None:
            on_case(case, failures)

    family()


def make_ctx(seeds: list[Seed], work: Path) -> Ctx:
    work.mkdir(parents=True, exist_ok=True)
    return Ctx(seeds, work)
