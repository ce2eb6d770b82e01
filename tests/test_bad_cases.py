"""Bad cases met in the middle of a run (#21): a corrupt NIfTI in case 5 of 8.

The first case is fine (so the check's first-case dry run passes); case 5 (``training[4]``)
is a truncated .nii.gz. Plain ``Dataset`` meets it during the epoch, CacheDataset (the
demo's own) at start-up.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch
from conftest import TINY_EVAL, TINY_TRAIN, run_main
from monai.data import DataLoader, PersistentDataset, SmartCacheDataset
from monai.transforms import Compose, EnsureChannelFirstd, LoadImaged, RandFlipd

from mmar_hydra.errors import BadCaseError, ConfigError
from mmar_hydra.faults.bad_case_loader import BadCaseTracker, GuardedLoader
from mmar_hydra.faults.bad_cases import BadCasePolicy, CaseIndex, is_marker
from mmar_hydra.faults.case_guard import CaseGuard

# one epoch, no validation (its cases would take as long as training's): about 1 s a run
ONE_EPOCH = [a for a in TINY_TRAIN if not a.startswith(("epochs=", "num_interval"))] + [
    "epochs=1",
    "num_interval_per_valid=2",
]
PLAIN = [
    "train.dataset.name=Dataset",
    "~train.dataset.args.cache_rate",
    "~train.dataset.args.num_workers",
]


def _eight_cases(mmar: Path) -> Path:
    """dataset_bad.json: 8 training cases (the 4 demo ones twice), case 5 truncated."""
    data = mmar / "data"
    datalist = json.loads((data / "dataset.json").read_text())
    good = datalist["training"]
    bad_image = data / "imagesTr" / "truncated.nii.gz"
    raw = (data / good[0]["image"]).read_bytes()
    bad_image.write_bytes(raw[: len(raw) // 2])
    bad = {"image": "imagesTr/truncated.nii.gz", "label": good[0]["label"]}
    datalist["training"] = [*good, bad, *good[1:]]
    (data / "dataset_bad.json").write_text(json.dumps(datalist))
    return bad_image


def _train(mmar: Path, *extra: str):  # noqa: ANN202
    return run_main(
        f"mmar={mmar}", "task=train", *ONE_EPOCH, "DATASET_JSON=data/dataset_bad.json", *extra
    )


def test_a_corrupt_case_met_mid_run_stops_naming_file_and_entry(tiny_demo, monkeypatch):
    from mmar_hydra.engine.module import MMARLightningModule

    steps, step = [], MMARLightningModule.training_step

    def counted(self, batch, batch_idx):  # noqa: ANN001, ANN202
        steps.append(batch_idx)
        return step(self, batch, batch_idx)

    monkeypatch.setattr(MMARLightningModule, "training_step", counted)
    bad = _eight_cases(tiny_demo)
    proc = _train(tiny_demo, *PLAIN, "train.dataloader.args.shuffle=false")
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    assert str(bad) in proc.stderr and "dataset_bad.json: training[4].image" in proc.stderr
    assert "EOFError" in proc.stderr and "skip_bad_cases=true" in proc.stderr
    assert steps == [0, 1]  # met mid-epoch: batches 0 and 1 trained, batch 2 holds case 4
    names = {p.name for p in (tiny_demo / "models").iterdir()}  # nothing half-written
    assert not [n for n in names if ".tmp-" in n] and "model.pt" not in names


def test_skip_bad_cases_finishes_and_counts_the_case(tiny_demo):
    bad = _eight_cases(tiny_demo)
    proc = _train(tiny_demo, *PLAIN, "skip_bad_cases=true", "max_bad_fraction=0.2")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "bad case skipped (1 in train): training[4].image" in proc.stdout
    stats = json.loads((tiny_demo / "models" / "train_stats.json").read_text())
    assert stats["skipped_cases"] == 1 and stats["epochs_completed"] == 1
    assert stats["bad_cases"][0]["file"] == str(bad)
    assert stats["bad_cases"][0]["entry"] == "training[4].image"


def test_cache_dataset_meets_the_bad_case_at_start_up(tiny_demo):
    bad = _eight_cases(tiny_demo)
    proc = _train(tiny_demo)  # the demo's CacheDataset: loaded before the first step
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert str(bad) in proc.stderr and "training[4].image" in proc.stderr
    assert "Epoch 1" not in proc.stdout  # stopped before training
    assert not (tiny_demo / "models" / "train_stats.json").exists()


def test_more_bad_cases_than_max_bad_fraction_stop_the_run(tiny_demo):
    _eight_cases(tiny_demo)
    proc = _train(tiny_demo, "skip_bad_cases=true")  # 1 of 8 > the default 0.1
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert "too many bad cases: 1 of 8 train cases (12%)" in proc.stderr
    assert "max_bad_fraction=0.1" in proc.stderr


def test_max_bad_fraction_must_be_a_fraction():
    with pytest.raises(ConfigError, match="max_bad_fraction=2"):
        BadCasePolicy(True, 2.0)


# -- the guard and the loader, without a run ---------------------------------------------
@pytest.fixture
def cases(tmp_path: Path) -> list[dict]:
    """Four 2-file cases: 0 and 1 good, 2 a truncated image, 3 a label of another shape."""
    affine = np.eye(4)
    items = []
    for i, (ishape, lshape) in enumerate([((8, 8, 4),) * 2] * 3 + [((8, 8, 4), (8, 6, 4))]):
        image, label = tmp_path / f"img{i}.nii.gz", tmp_path / f"lab{i}.nii.gz"
        nib.save(nib.Nifti1Image(np.ones(ishape, np.float32), affine), image)
        nib.save(nib.Nifti1Image(np.ones(lshape, np.uint8), affine), label)
        items.append({"image": str(image), "label": str(label)})
    raw = Path(items[2]["image"]).read_bytes()
    Path(items[2]["image"]).write_bytes(raw[: len(raw) // 2])
    return items


def _guard(items: list[dict], *, retry: bool = False) -> CaseGuard:
    keys = ["image", "label"]
    # a random transform last, as in training chains: PersistentDataset caches up to it
    chain = Compose([LoadImaged(keys), EnsureChannelFirstd(keys), RandFlipd(keys, prob=0.0)])
    index = CaseIndex(items, key="training", datalist="dataset.json", section="train")
    return CaseGuard.around(chain, index, retry_cached=retry)


def test_a_label_of_another_shape_is_a_bad_case_of_its_label(cases):
    marker = _guard(cases)(dict(cases[3]))
    assert is_marker(marker)
    with pytest.raises(BadCaseError, match=r"label shape \(8, 6, 4\) does not match") as err:
        BadCaseTracker(BadCasePolicy()).report([marker["__mmar_bad_case__"]])
    assert err.value.path == "training[3].label" and cases[3]["label"] in err.value.what


def _images(loader: GuardedLoader) -> int:
    return sum(len(batch["image"]) for batch in loader)


@pytest.mark.parametrize("kind", ["persistent", "smart"])
def test_persistent_and_smart_caches_skip_and_count_the_same_way(cases, tmp_path, kind):
    tracker = BadCaseTracker(BadCasePolicy(skip=True, max_fraction=0.5), say=lambda _: None)
    tracker.totals["train"] = len(cases)
    if kind == "persistent":  # the second pass reads the markers from the cache files
        dataset = PersistentDataset(cases, _guard(cases, retry=True), cache_dir=tmp_path / "c")
        loader = GuardedLoader(DataLoader(dataset, batch_size=2), tracker, "train")
        assert [_images(loader), _images(loader)] == [2, 2]
    else:  # cases 2 and 3 come in through the background replacement
        dataset = SmartCacheDataset(
            cases, _guard(cases), replace_rate=1.0, cache_num=2, shuffle=False
        )
        loader = GuardedLoader(DataLoader(dataset, batch_size=2), tracker, "train")
        dataset.start()
        first = _images(loader)
        dataset.update_cache()
        assert [first, _images(loader)] == [2, 0]  # the batch of two bad cases is dropped
        dataset.shutdown()
    assert {c["entry"] for c in tracker.stats()["bad_cases"]} == {
        "training[2].image",
        "training[3].label",
    }
    state = tracker.state_dict()  # what resume_state.pt carries
    again = BadCaseTracker(BadCasePolicy(skip=True))
    again.load_state_dict(torch.load(_save(state, tmp_path), weights_only=True))
    assert again.stats() == tracker.stats()


def _save(obj: object, tmp_path: Path) -> Path:
    path = tmp_path / "state.pt"
    torch.save(obj, path)
    return path


def test_a_fixed_file_replaces_its_cached_marker(cases, tmp_path):
    dataset = PersistentDataset(cases, _guard(cases, retry=True), cache_dir=tmp_path / "c")
    assert is_marker(dataset[2])
    shutil.copy(cases[0]["image"], cases[2]["image"])  # the user fixes the file
    assert not is_marker(dataset[2]) and dataset[2]["image"].shape == (1, 8, 8, 4)


def test_a_compose_with_its_own_call_is_left_alone():
    from monai.transforms import OneOf

    assert CaseGuard.can_wrap([LoadImaged("image")]) and CaseGuard.can_wrap(Compose([]))
    assert not CaseGuard.can_wrap(OneOf([LoadImaged("image")]))


@pytest.mark.slow
def test_validate_stops_at_a_bad_case_naming_it(trained_demo, tmp_path):
    data = trained_demo / "data"
    datalist = json.loads((data / "dataset.json").read_text())
    cases = [{k: str(data / v) for k, v in c.items()} for c in datalist["validation"]]
    bad = tmp_path / "truncated.nii.gz"
    raw = Path(cases[0]["image"]).read_bytes()
    bad.write_bytes(raw[: len(raw) // 2])
    cases.append({"image": str(bad), "label": cases[0]["label"]})
    (tmp_path / "bad.json").write_text(json.dumps({"validation": cases}))
    proc = run_main(
        f"mmar={trained_demo}",
        "task=validate",
        *TINY_EVAL,
        "dont_load_ts_model=true",
        "dont_load_ckpt_model=false",
        f"DATASET_JSON={tmp_path / 'bad.json'}",
        f"MMAR_EVAL_OUTPUT_PATH={tmp_path / 'eval'}",
        f"allow_write=[{tmp_path}]",
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert str(bad) in proc.stderr and "bad.json: validation[2].image" in proc.stderr
