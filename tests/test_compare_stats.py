"""task=compare case by case, on synthetic per-case CSVs (fast): the statistics against an
independent scipy computation, Holm, pairing on case ids, missing cases, validate_missing's
decisions, and the files the task writes (paired.csv, per_case.csv, compare.md, report.html).
The training comparisons and the browser check are in test_compare_report.py (slow)."""

from __future__ import annotations

import csv
import inspect
import json
import re
from pathlib import Path

import numpy as np
import pytest
from conftest import run_main
from scipy import stats as st

from mmar_hydra.comparison.paired import compare_cases
from mmar_hydra.comparison.per_case import case_ids, eval_state, read_raw_csv
from mmar_hydra.comparison.stats import holm, paired_stats
from mmar_hydra.comparison.variant_cases import gather_cases, validate_argv
from mmar_hydra.writers.eval_csv import write_metric_files

BASE = np.random.default_rng(7).uniform(0.55, 0.9, size=(12, 2))  # 12 cases, 2 classes


def make_variant(
    root: Path,
    name: str,
    values: np.ndarray,
    *,
    lr: float,
    drop: int | None = None,
    validated: bool = True,
    deli: str = ",",
) -> Path:
    """An MMAR folder as training + task=validate leave it, with the given per-case values."""
    mmar = root / name
    (mmar / "config").mkdir(parents=True)
    env = {"MMAR_EVAL_OUTPUT_PATH": "eval", "DATA_ROOT": str(mmar / "data")}
    (mmar / "config" / "environment.json").write_text(json.dumps(env))
    config = {"learning_rate": lr, "train": {"model": {"name": "UNet", "args": {"x": 1}}}}
    (mmar / "config" / "config_train.json").write_text(json.dumps(config))
    (mmar / "models").mkdir()
    stats = {
        "key_metric_name": "val_mean_dice",
        "best_key_metric": float(values.mean()),
        "best_key_metric_epoch": 3,
        "epochs_completed": 4,
        "total_time": 10.0,
        "peak_rss_mb": 812.5,
    }
    (mmar / "models" / "train_stats.json").write_text(json.dumps(stats))
    files = [str(mmar / "data" / "imagesTr" / f"case_{i:02d}.nii.gz") for i in range(len(values))]
    if drop is not None:
        values, files = np.delete(values, drop, axis=0), files[:drop] + files[drop + 1 :]
    if validated:
        details = {"val_mean_dice": (files, values)}
        write_metric_files(mmar / "eval", {"val_mean_dice": 0.0}, details, deli=deli)
        (mmar / "eval" / "run_info.json").write_text(json.dumps({"validate": {}}))
    return mmar


def test_paired_stats_match_an_independent_scipy_computation():
    rng = np.random.default_rng(1)
    a = rng.uniform(0.6, 0.8, 15)
    b = a + rng.normal(0.03, 0.02, 15)
    result = paired_stats(a, b, seed=3)
    diff = b - a
    assert result.n == 15 and result.mean_diff == pytest.approx(diff.mean())
    assert result.median_diff == pytest.approx(np.median(diff))
    assert result.p_value == pytest.approx(st.wilcoxon(b, a).pvalue)
    # the paired bootstrap of the two samples is the one-sample bootstrap of the differences
    ci = st.bootstrap((diff,), np.mean, n_resamples=9999, **_seeded(3))
    low, high = ci.confidence_interval
    assert result.mean_ci == pytest.approx((low, high), abs=1e-12)
    assert result.ci_method == "BCa" and result.significant()
    assert paired_stats(a, b, seed=3) == result  # seeded: the same numbers every time


def test_no_difference_gives_p_1_and_a_ci_of_0_and_nan_pairs_are_dropped():
    a = np.random.default_rng(2).uniform(0.6, 0.8, 10)
    same = paired_stats(a, a.copy())
    assert same.p_value == 1.0 and same.mean_ci == (0.0, 0.0) and not same.significant()
    shifted = paired_stats(a, a + 0.1)  # every case moved by the same amount
    assert shifted.mean_ci == pytest.approx((0.1, 0.1)) and shifted.ci_method == "exact"
    with_nan = paired_stats([*a, np.nan], [*a, 0.5])
    assert with_nan.n == 10


def test_holm_step_down():
    # sorted: 0.005*4=0.02, 0.01*3=0.03, 0.03*2=0.06, 0.04*1=0.04 -> kept monotone: 0.06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, None, 0.9]) == [pytest.approx(1.0), None, pytest.approx(1.0)]
    assert holm([0.02]) == [0.02]


def test_raw_csv_case_ids_and_per_class_pairing(tmp_path):
    a = make_variant(tmp_path, "A", BASE, lr=0.1, deli="\t")
    b = make_variant(tmp_path, "B", BASE + 0.05, lr=0.2, drop=4)
    raw = read_raw_csv(a / "eval" / "val_mean_dice_raw.csv")
    assert set(raw) == {"class0", "class1", "mean"} and len(raw["mean"]) == 12
    ids = case_ids({"A": set(raw["mean"]), "B": {str(b / "data/imagesTr/case_00.nii.gz")}})
    assert ids[str(a / "data/imagesTr/case_00.nii.gz")] == "case_00.nii.gz"
    # two files with one name in one variant: the id grows to tell them apart
    assert set(case_ids({"X": {"/d/1/x.nii", "/d/2/x.nii"}}).values()) == {"1/x.nii", "2/x.nii"}
    gathered = gather_cases(
        [_record(a), _record(b)], validate_missing=False, validate=lambda _: 1, say=print
    )
    rows = compare_cases(gathered.tables, "A")
    assert [(r.metric, r.column) for r in rows] == [
        ("val_mean_dice", "mean"),
        ("val_mean_dice", "class0"),
        ("val_mean_dice", "class1"),
    ]
    mean = rows[0]
    assert mean.only_baseline == ("case_04.nii.gz",) and len(mean.cases) == 11
    assert mean.verdict() == "better" and mean.stats is not None
    assert mean.stats.mean_diff == pytest.approx(0.05, abs=1e-3)  # the CSV keeps 4 decimals


def _record(root: Path):
    from mmar_hydra.runs.collect import load_run

    return load_run(root, root.name)


def test_validate_missing_validates_only_what_needs_it(tmp_path):
    done = make_variant(tmp_path, "done", BASE, lr=0.1)
    todo = make_variant(tmp_path, "todo", BASE, lr=0.2, validated=False)
    (todo / "models" / "model.pt").write_bytes(b"trained")
    untrained = make_variant(tmp_path, "new", BASE, lr=0.3, validated=False)
    assert [eval_state(p).state for p in (done, todo, untrained)] == ["ok", "missing", "untrained"]
    assert validate_argv(todo) == [f"mmar={todo}", "task=validate"]
    assert validate_argv(todo, allow_code=True)[-1] == "allow_code=true"  # trust carries over
    records = [_record(p) for p in (done, todo, untrained)]
    said: list[str] = []

    def validate(root: Path) -> int:  # stands in for the child task=validate
        make_variant(tmp_path / "v", "todo", BASE + 0.01, lr=0.2)
        (root / "eval").mkdir()
        for f in (tmp_path / "v" / "todo" / "eval").iterdir():
            f.rename(root / "eval" / f.name)
        return 0

    gathered = gather_cases(records, validate_missing=True, validate=validate, say=said.append)
    assert gathered.validated == ["todo"] and set(gathered.tables) == {"done", "todo"}
    assert said == [
        "validate_missing: todo has no usable per-case results (it was never validated): validating it"
    ]
    assert any("new: not trained" in n for n in gathered.notes)
    quiet = gather_cases(records[:1], validate_missing=False, validate=validate, say=said.append)
    assert not quiet.notes
    # results older than the model they should describe are stale
    (todo / "models" / "model.pt").write_bytes(b"retrained")
    assert eval_state(todo).state == "stale"
    stale = gather_cases(records[1:2], validate_missing=False, validate=validate, say=print)
    assert "validate_missing=true" in stale.notes[0] and "todo" in stale.tables


def test_compare_task_three_variants_holm_and_self_contained_html(tmp_path):
    rng = np.random.default_rng(3)
    a = make_variant(tmp_path, "A", BASE, lr=0.1)
    b = make_variant(tmp_path, "B", BASE + rng.normal(0.04, 0.01, BASE.shape), lr=0.2, drop=2)
    c = make_variant(tmp_path, "C", BASE + rng.normal(0, 0.01, BASE.shape), lr=0.3)
    out = tmp_path / "cmp"
    proc = run_main("task=compare", f"runs=[{a},{b},{c}]", f"baseline={a}", f"out={out}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = list(csv.DictReader((out / "paired.csv").open()))
    assert [(r["class"], r["variant"]) for r in rows] == [
        (k, v) for k in ("mean", "class0", "class1") for v in ("B", "C")
    ]
    b_mean, c_mean = rows[0], rows[1]
    p_b, p_c = float(b_mean["Wilcoxon p"]), float(c_mean["Wilcoxon p"])
    assert float(b_mean["Holm p"]) == pytest.approx(holm([p_b, p_c])[0])
    assert float(b_mean["Holm p"]) == pytest.approx(2 * p_b)  # the smaller p of 2, times 2
    assert b_mean["verdict"] == "better" and c_mean["verdict"] == "no significant difference"
    assert (b_mean["cases"], b_mean["unpaired"]) == ("11", "1")
    assert float(b_mean["mean diff CI low"]) > 0 > float(c_mean["mean diff CI low"])
    assert "| val_mean_dice | mean | B | A | 11 (+1 unpaired) |" in proc.stdout
    assert "* better" in proc.stdout
    assert "B has no result for 1 case(s) other variants have: case_02.nii.gz" in proc.stdout
    table = list(csv.DictReader((out / "compare.csv").open()))
    assert {"peak RSS (MB)", "epochs", "best epoch", "train time (s)", "params"} <= set(table[0])
    per_case = list(csv.DictReader((out / "per_case.csv").open()))
    assert len(per_case) == (12 + 11 + 12) * 3
    assert "## Paired per-case differences against A" in (out / "compare.md").read_text()
    page = (out / "report.html").read_text()
    for needed in ('<table id="variants"', '<table id="paired"', '<table id="config-diff"'):
        assert needed in page
    assert page.count("data:image/svg+xml;base64,") == 6  # (dots + box) x (mean + 2 classes)
    assert 'class="sig-better"' in page and "learning_rate" in page
    # nothing to fetch: no URL in any src / href / url(), no script
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)|url\(|<script""", page)

    wrong = run_main("task=compare", f"runs=[{a},{b}]", "baseline=nope", f"out={out}")
    assert wrong.returncode == 2 and "baseline=nope is none of the compared runs" in wrong.stderr


def make_cv(root: Path, values: np.ndarray, folds: int = 2) -> Path:
    """A task=cv folder as it is left after training and out-of-fold prediction."""
    cases = [f"/data/imagesTr/case_{i:02d}.nii.gz" for i in range(len(values))]
    record = {"folds": folds, "cases": {c: i % folds for i, c in enumerate(cases)}}
    (root / "oof").mkdir(parents=True)
    (root / "cv.json").write_text(json.dumps(record))
    for fold in range(folds):
        mine = [i for i in range(len(cases)) if i % folds == fold]
        mmar = make_variant(root / f"fold_{fold}", "mmar", values[mine], lr=0.1, validated=False)
        (mmar / "models" / "final_model.pt").write_bytes(b"")
        details = {"val_mean_dice": ([cases[i] for i in mine], values[mine])}
        write_metric_files(root / "oof" / f"fold_{fold}", {}, details)
        (root / "oof" / f"fold_{fold}" / "oof.json").write_text("{}")
    return root


def test_cv_runs_pair_on_their_out_of_fold_cases(tmp_path):
    first = make_cv(tmp_path / "a" / "cv", BASE[:, :1])
    second = make_cv(tmp_path / "b" / "cv", BASE[:, :1] + 0.03)
    out = tmp_path / "cmp"
    proc = run_main("task=compare", f"runs=[{first},{second}]", f"out={out}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    (row,) = list(csv.DictReader((out / "paired.csv").open()))
    assert (row["variant"], row["baseline"], row["cases"]) == ("b/cv", "a/cv", "12")
    assert row["verdict"] == "better"
    table = list(csv.DictReader((out / "compare.csv").open()))
    assert {r["status"] for r in table} == {"finished"} and table[0]["best epoch"] == "3/3"
    values = list(csv.DictReader((out / "per_case.csv").open()))
    assert {r["fold"] for r in values} == {"0", "1"}
    page = (out / "report.html").read_text()
    assert page.count("<h2>Per-fold results:") == 2 and '<table id="folds-1"' in page

    # a fold's own MMAR reads its fold's out-of-fold cases; two folds share none
    from mmar_hydra.runs.collect import find_mmars, load_run

    folds = [load_run(root, root.parent.name) for root in find_mmars(str(first))]
    gathered = gather_cases(folds, validate_missing=False, validate=lambda _: 1, say=print)
    assert [len(gathered.tables[f].cases()) for f in ("fold_0", "fold_1")] == [6, 6]
    (between,) = compare_cases(gathered.tables, "fold_0")
    assert between.stats is None and len(between.only_baseline) == 6


def _seeded(seed: int) -> dict:
    """scipy's bootstrap seed argument: rng= from scipy 1.15, random_state= before."""
    key = "rng" if "rng" in inspect.signature(st.bootstrap).parameters else "random_state"
    return {key: np.random.default_rng(seed)}
