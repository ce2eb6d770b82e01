"""The CV split, the CV folder and the fold sweep's command line, without training."""

from __future__ import annotations

import json

import pytest
from conftest import TINY_TRAIN, run_main

from mmar_hydra.cv.folder import CVFolder
from mmar_hydra.cv.launch import fold_sweep_argv, passthrough_overrides
from mmar_hydra.cv.split import case_id, fold_datalist, make_split
from mmar_hydra.errors import ConfigError, DataError
from mmar_hydra.hydra_config import parse_overrides


def _items(n: int, **extra) -> list[dict]:
    return [{"image": f"img_{i}.nii.gz", "label": f"lab_{i}.nii.gz", **extra} for i in range(n)]


def test_seeded_kfold_puts_every_case_in_exactly_one_validation_fold():
    items = _items(10)
    split = make_split(items, folds=3, seed=7)
    assert split.k == 3 and split.source == "kfold"
    validations = [set(split.validation(f)) for f in range(3)]
    assert sorted(len(v) for v in validations) == [3, 3, 4]
    assert set().union(*validations) == set(range(10))
    assert sum(len(v) for v in validations) == 10  # disjoint
    assert make_split(items, folds=3, seed=7) == split  # reproducible
    assert make_split(items, folds=3, seed=8).folds != split.folds
    assert make_split(items, folds=None).k == 5  # nnU-Net's default


def test_group_key_keeps_a_patient_in_one_fold():
    items = [
        {"image": f"{p}_{s}.nii.gz", "patient": p}
        for p in "abcdefg"
        for s in range(3 if p < "c" else 1)
    ]
    split = make_split(items, folds=3, seed=0, group_key="patient")
    fold_of = {}
    for item, fold in zip(items, split.folds, strict=True):
        assert fold_of.setdefault(item["patient"], fold) == fold
    assert len(set(split.folds)) == 3


def test_fold_keys_of_the_datalist_are_used_and_checked():
    items = [{"image": f"{i}.nii.gz", "fold": i % 3} for i in range(6)]
    split = make_split(items, folds=None, seed=123)
    assert split.source == "fold key" and split.folds == (0, 1, 2, 0, 1, 2)
    with pytest.raises(ConfigError, match="folds=5, but the datalist's 'fold' keys define 3"):
        make_split(items, folds=5)
    gaps = [{"image": f"{i}.nii.gz", "fold": f} for i, f in enumerate([0, 1, 3, 3])]
    with pytest.raises(DataError, match="fold 2 has no case") as exc:
        make_split(gaps, folds=None, file="dataset.json")
    assert exc.value.file == "dataset.json"
    with pytest.raises(DataError, match="1 of 4 cases have no 'fold' key"):
        make_split([*items[:3], {"image": "x.nii.gz"}], folds=None)
    leak = [{"image": "a", "fold": 0, "p": 1}, {"image": "b", "fold": 1, "p": 1}]
    with pytest.raises(DataError, match="p='1' has cases in fold 0 and fold 1"):
        make_split(leak, folds=None, group_key="p")


def test_bad_split_requests_are_clean_errors():
    with pytest.raises(ConfigError, match="folds=5 with 4 cases") as exc:
        make_split(_items(4), folds=5)
    assert "2 <= folds <= 4" in exc.value.expected
    with pytest.raises(ConfigError, match="folds=1"):
        make_split(_items(4), folds=1)
    with pytest.raises(ConfigError, match=r"folds=3 with 2 groups \('p'\)"):
        make_split([{"image": str(i), "p": i % 2} for i in range(6)], folds=3, group_key="p")
    with pytest.raises(DataError, match="2 of 4 cases have no 'patient'") as exc:
        make_split([*_items(2, patient="a"), *_items(2)], folds=2, group_key="patient")
    assert "img_0.nii.gz" in exc.value.path


def test_fold_datalist_and_the_cv_folder_record(tmp_path):
    items = _items(6)
    source = {"name": "x", "training": items[:4], "validation": items[4:], "test": ["t.nii.gz"]}
    split = make_split(items, folds=3, seed=0)
    lists = [
        fold_datalist(source, items, split, f, train_key="training", val_key="validation")
        for f in range(3)
    ]
    for f, dl in enumerate(lists):
        assert dl["name"] == "x" and dl["test"] == ["t.nii.gz"]
        val, train = {case_id(i) for i in dl["validation"]}, {case_id(i) for i in dl["training"]}
        assert not val & train and len(val | train) == 6
        assert val == {case_id(items[i]) for i in split.validation(f)}
    folder = CVFolder(tmp_path / "cv")
    folder.write_split(split, items, lists, {"seed": 0})
    assert folder.folds() == [0, 1, 2]
    assert json.loads(folder.split_file(1).read_text()) == lists[1]
    rows = (folder.root / "split.csv").read_text().splitlines()
    assert rows[0] == "case,fold" and len(rows) == 7
    folder.write_split(split, items, lists, {"seed": 0})  # same split: resumable
    other = make_split(items, folds=3, seed=1)
    with pytest.raises(ConfigError, match="holds another split"):
        folder.write_split(other, items, lists, {"seed": 1})
    assert not folder.trained(0) and not folder.has_oof(0)


def test_fold_sweep_argv_trains_only_the_given_folds_and_passes_the_rest_through(tmp_path):
    folder = CVFolder(tmp_path / "my cv")
    passthrough = passthrough_overrides(
        ["task=cv", "folds=3", "epochs=2", "DATASET_JSON=/src.json", "++seed=4", "trainer=ddp_cpu"],
        ["hydra.run.dir=.", "hydra/job_logging=disabled", "hydra/launcher=local"],
        ("DATASET_JSON",),
    )
    assert passthrough == ["epochs=2", "trainer=ddp_cpu", "hydra/launcher=local"]
    argv = fold_sweep_argv(tmp_path, folder, [1, 2], passthrough, ("validate.dataset",))
    assert argv[:3] == ["-m", f"mmar='{tmp_path}'", "task=train"]
    assert "cv_fold=1,2" in argv and "hydra.sweep.subdir=fold_${cv_fold}" in argv
    pattern = f"'{tmp_path}/my cv/splits/fold_${{cv_fold}}.json'"
    assert f"DATASET_JSON={pattern}" in argv
    assert f"validate.dataset.data_list_file_path={pattern}" in argv
    parsed = {o.key_or_group: o for o in parse_overrides(argv[1:])}  # valid Hydra syntax
    assert list(parsed["cv_fold"].sweep_iterator()) == [1, 2]
    assert parsed["hydra.sweep.dir"].value() == str(tmp_path / "my cv")


def test_task_cv_refuses_more_folds_than_cases_before_training(tiny_demo):
    proc = run_main(f"mmar={tiny_demo}", "task=cv", "folds=9", *TINY_TRAIN)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "folds=9 with 4 cases in the pool" in proc.stderr
    assert "cv_pool=all" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tiny_demo / "cv" / "fold_0").exists()
    proc = run_main(f"mmar={tiny_demo}", "task=cv", "folds=2", "group_key=patient", *TINY_TRAIN)
    assert proc.returncode == 2 and "have no 'patient' (the group_key)" in proc.stderr
