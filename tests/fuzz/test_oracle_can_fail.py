"""The oracle can fail: with ``os`` and ``subprocess`` patched into the allowlist, a payload
runs and the fuzz suite reports it; with the real allowlist the same case passes.

Also unit tests of the oracle's reading of a run's output.
"""

from __future__ import annotations

import pytest

from fuzz.campaign import Result, make_ctx, run_case, run_family
from fuzz.cases import Case, task_args
from fuzz.oracle import judge_output
from fuzz.payloads import component_payloads
from fuzz.seeds import DEMO_TRAIN, Seed, Target
from mmar_hydra.components import registry, trust


@pytest.fixture
def weakened(monkeypatch):
    """The allowlist with ``os`` (and ``subprocess``, whose Popen is a class) trusted."""
    for module in ("os", "posix", "subprocess"):
        monkeypatch.setitem(trust.ALLOWED_PACKAGES, module, "weakened on purpose by a test")
    monkeypatch.setattr(registry, "TRUSTED_ROOTS", (*registry.TRUSTED_ROOTS, "os", "subprocess"))


def _demo(root) -> Seed:  # noqa: ANN001
    return Seed("demo", root, [Target(DEMO_TRAIN, DEMO_TRAIN)], has_data=True)


def _popen_loss_case(seed: Seed, ctx) -> Case:  # noqa: ANN001
    """The components family's subprocess.Popen payload as train.loss."""
    payload = dict(component_payloads(ctx.canary / "component", ctx.outside))["subprocess.Popen"]

    def edit(ex) -> None:  # noqa: ANN001
        import json

        path = ex.mmar / DEMO_TRAIN
        cfg = json.loads(path.read_text())
        cfg["train"]["loss"] = payload
        path.write_text(json.dumps(cfg))

    return Case("components", seed, ["train.loss = subprocess.Popen"], [edit], [task_args("check")])


def test_weakened_allowlist_runs_the_payload_and_the_oracle_fails(
    tiny_demo_source, tmp_path, weakened
):
    ctx = make_ctx([_demo(tiny_demo_source)], tmp_path / "work")
    failures = run_case(_popen_loss_case(ctx.demo, ctx), ctx.work, Result())
    assert [f["detail"] for f in failures if f["kind"] == "canary"] == ["code ran: component"]


def test_the_same_case_passes_with_the_real_allowlist(tiny_demo_source, tmp_path):
    ctx = make_ctx([_demo(tiny_demo_source)], tmp_path / "work")
    assert run_case(_popen_loss_case(ctx.demo, ctx), ctx.work, Result()) == []


@pytest.mark.slow
def test_weakened_allowlist_is_found_by_the_hypothesis_suite(tiny_demo_source, tmp_path, weakened):
    """The components family, drawn by Hypothesis as ``make fuzz`` draws it, finds the hole."""
    ctx = make_ctx([_demo(tiny_demo_source)], tmp_path / "work")
    result = Result()
    run_family("components", 80, ctx, result, seed_value=0)
    canaries = [f for f in result.failures if f["kind"] == "canary"]
    assert canaries, f"{result.tried} cases, no canary: the oracle did not fail"


def test_oracle_reads_tracebacks_and_unclean_errors():
    assert judge_output(0, "check passed", "") == []
    crash = judge_output(1, "", "Traceback (most recent call last):\n  ...\nKeyError: 'x'\n")
    assert [(f.kind, f.detail) for f in crash] == [("traceback", "exit 1: KeyError: 'x'")]
    clean = (
        "config error: bad\n  where:    f.json: a.b\n  expected: e\n  fix:      x\n"
        "  (add debug=true for a traceback)\n"
    )
    assert judge_output(2, "", clean) == []
    assert judge_output(2, "", clean.replace("  fix:      x\n", ""))[0].kind == "unclean error"
    assert judge_output(2, "", "usage: something\n")[0].kind == "unclean error"
    assert judge_output(0, "\ud800", "")[0].kind == "traceback"  # a real stdout cannot print it
