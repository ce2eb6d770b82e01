"""Post-processing chosen on out-of-fold predictions: constructed cases where it helps / hurts."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import paths_inside, run_main
from monai.data import MetaTensor

from mmar_hydra.components.builder import check_config
from mmar_hydra.components.metrics import build_metric
from mmar_hydra.cv.folder import CVFolder
from mmar_hydra.cv.oof import OOFCase, SaveOOF, load_case, oof_cases
from mmar_hydra.cv.postprocess import Choice, choose, klcc_specs, write_config
from mmar_hydra.cv.split import make_split
from mmar_hydra.errors import ConfigError
from mmar_hydra.reader.mmar_reader import read_mmar


def _dice():
    return build_metric("MeanDice", {"include_background": False})


def _label_map(*boxes: tuple[int, int, int]) -> np.ndarray:
    """(1, 20, 20, 20) label map; each box is (start, stop, label) along all three axes."""
    out = np.zeros((1, 20, 20, 20), dtype=np.uint8)
    for start, stop, label in boxes:
        out[0, start:stop, start:stop, start:stop] = label
    return out


def _case(pred: np.ndarray, label: np.ndarray, classes: int = 2) -> OOFCase:
    return OOFCase(pred, label, True, classes, "case.nii.gz")


def test_keeping_the_largest_component_is_chosen_where_it_helps():
    # the organ is found, plus a small false positive far from it
    cases = [_case(_label_map((2, 9, 1), (15, 17, 1)), _label_map((2, 9, 1))) for _ in range(2)]
    choice, rows = choose(lambda: cases, _dice, metric_name="dice")
    assert choice == Choice(together=True)
    assert rows[0]["kept"] == "yes" and rows[0]["dice with it"] == pytest.approx(1.0)
    assert rows[0]["dice before"] == pytest.approx(2 * 343 / (343 + 351))  # 7^3 found, 2^3 extra
    assert rows[1]["kept"] == "no"  # label 1 alone adds nothing once all labels are kept together


def test_keeping_the_largest_component_is_refused_where_it_hurts():
    # the organ really has two parts, and the prediction finds both
    truth = _label_map((2, 9, 1), (13, 18, 1))
    choice, rows = choose(lambda: [_case(truth.copy(), truth)], _dice, metric_name="dice")
    assert choice == Choice() and [r["kept"] for r in rows] == ["no", "no"]
    assert rows[0]["dice before"] == pytest.approx(1.0) and rows[0]["change"] < -0.1


def test_labels_are_decided_one_by_one():
    # label 1: one organ plus a false positive (helps); label 2: two true parts (hurts)
    pred = _label_map((1, 6, 1), (18, 19, 1), (8, 11, 2), (13, 16, 2))
    truth = _label_map((1, 6, 1), (8, 11, 2), (13, 16, 2))
    choice, rows = choose(lambda: [_case(pred, truth, 3)], _dice, metric_name="dice")
    assert choice == Choice(together=False, labels=(1,))
    assert [r["candidate"].split(", ")[1] for r in rows] == [
        "all labels together",
        "label 1",
        "label 2",
    ]
    assert [r["kept"] for r in rows] == ["no", "yes", "no"]
    assert klcc_specs(choice, [1, 2]) == [
        {
            "name": "KeepLargestConnectedComponentd",
            "args": {"keys": "pred", "applied_labels": [1], "independent": True},
        }
    ]


def test_the_choice_goes_after_the_prediction_is_discretized(tmp_path):
    config = {
        "post_transforms": [
            {"name": "Activationsd", "args": {"keys": "pred", "softmax": True}},
            {"name": "AsDiscreted", "args": {"keys": ["pred"], "argmax": True}},
            {"name": "SaveImaged", "args": {"keys": "pred"}},
        ]
    }
    specs = klcc_specs(Choice(together=True), [1])
    out = json.loads(
        write_config(tmp_path / "in.json", config, specs, tmp_path / "o.json").read_text()
    )
    names = [t["name"] for t in out["post_transforms"]]
    assert names == ["Activationsd", "AsDiscreted", "KeepLargestConnectedComponentd", "SaveImaged"]
    with pytest.raises(ConfigError, match="does not discretize the prediction"):
        write_config(
            tmp_path / "in.json",
            {"post_transforms": config["post_transforms"][:1]},
            specs,
            tmp_path / "x.json",
        )


def _fake_cv(root, helps: bool) -> CVFolder:
    """A CV folder of 2 folds whose out-of-fold predictions are the constructed cases."""
    folder = CVFolder(root / "cv")
    items = [{"image": f"c{i}.nii.gz"} for i in range(4)]
    split = make_split(items, folds=2, seed=0)
    folder.write_split(split, items, [{}, {}], {"train_key": "training", "val_key": "validation"})
    extra = (15, 17, 1) if helps else (13, 18, 1)
    for fold in range(2):
        saver = SaveOOF(folder.oof_dir(fold))
        for i in split.validation(fold):
            pred = _label_map((2, 9, 1), extra)
            truth = _label_map((2, 9, 1)) if helps else pred
            onehot = [
                torch.as_tensor(np.concatenate([a == 0, a == 1]).astype(np.float32))
                for a in (pred, truth)
            ]
            image = MetaTensor(
                torch.zeros(1, 20, 20, 20), meta={"filename_or_obj": f"/d/c{i}.nii.gz"}
            )
            saver({"pred": onehot[0], "label": onehot[1], "image": image})
        spec = {"name": "MeanDice", "args": {"include_background": False}}
        record = {"key_metric": "val_mean_dice", "key_metric_spec": spec, "value": 0.9}
        (folder.oof_dir(fold) / "oof.json").write_text(json.dumps(record))
    return folder


def test_task_postprocess_writes_the_inference_config_and_the_decision(tiny_demo):
    folder = _fake_cv(tiny_demo, helps=True)
    stored = load_case(oof_cases([folder.oof_dir(0)])[0])
    assert (
        stored.categorical
        and stored.pred.shape == (1, 20, 20, 20)
        and stored.source.endswith(".nii.gz")
    )
    proc = run_main(f"mmar={tiny_demo}", "task=postprocess")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "kept: the largest component of labels [1] together" in proc.stdout
    written = tiny_demo / "config" / "config_inference_cv.json"
    post = json.loads(written.read_text())["post_transforms"]
    assert [t["name"] for t in post][2:4] == ["AsDiscreted", "KeepLargestConnectedComponentd"]
    assert post[3]["args"] == {"keys": "pred", "applied_labels": [1], "independent": False}
    read = read_mmar(tiny_demo, task="infer", config_file="config/config_inference_cv.json")
    assert check_config(read.config, paths=paths_inside(tiny_demo), check_data=False) == []
    report = (folder.root / "cv_report.md").read_text()
    assert "## Post-processing chosen on the out-of-fold predictions" in report
    assert (folder.root / "postprocess.csv").read_text().count("\n") == 3


def test_task_postprocess_keeps_nothing_that_hurts_and_needs_a_cv_folder(tiny_demo):
    _fake_cv(tiny_demo, helps=False)
    proc = run_main(f"mmar={tiny_demo}", "task=postprocess")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "kept: nothing" in proc.stdout
    post = json.loads((tiny_demo / "config" / "config_inference_cv.json").read_text())[
        "post_transforms"
    ]
    assert "KeepLargestConnectedComponentd" not in [t["name"] for t in post]
    proc = run_main(f"mmar={tiny_demo}", "task=postprocess", "cv_dir=elsewhere")
    assert proc.returncode == 2 and "not a CV folder" in proc.stderr
