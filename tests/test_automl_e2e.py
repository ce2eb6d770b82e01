"""task=automl on Clara's own AutoML MMARs (../shared/clara_examples, cte_automl_40 / 41), unmodified
configs on tiny synthetic data: 2 trials x 1 epoch each, for each of the five trn_autoML_*.json;
the best MMAR trains, validates and exports; commands/automl.sh runs through apps.automl."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, run_main

pytestmark = [pytest.mark.slow, pytest.mark.real_clara]

CONFIGS = ("Enum", "LR_LP", "Loss_Optimizer", "Transform", "TransformProb")
ROI = "[32,32,32]"


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """Two training cases (one batch: 1-iteration epochs) and one validation case."""
    from mmar_hydra.demo.synthetic import generate_dataset

    out = tmp_path_factory.mktemp("automl_data")
    generate_dataset(out, n_train=2, n_val=1, n_test=1, shape=(40, 40, 32))
    return out


def _mmar(clara_examples: Path, folder: str, tmp_path: Path) -> Path:
    dst = tmp_path / folder  # a cp -r of the real MMAR: its files stay unmodified
    shutil.copytree(clara_examples / "public" / folder, dst)
    return dst


def _tiny(mmar: Path, name: str, data: Path) -> list[str]:
    """Overrides that shrink the run: the data, the crop and window size, no worker processes."""
    raw = json.loads((mmar / "config" / name).read_text())
    crop = next(
        i for i, t in enumerate(raw["train"]["pre_transforms"]) if "RandCrop" in t.get("name", "")
    )
    return [
        f"DATA_ROOT={data}",
        f"DATASET_JSON={data / 'dataset.json'}",
        f"train.pre_transforms.{crop}.args.spatial_size={ROI}",
        f"train.pre_transforms.{crop}.args.num_samples=1",
        f"validate.inferer.args.roi_size={ROI}",
        "train.dataloader.args.num_workers=0",
        "validate.dataloader.args.num_workers=0",
        "num_interval_per_valid=1",
    ]


def _components(config: dict, name: str) -> list[dict]:
    found = []
    for value in config["train"].values():
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, dict) and item.get("name") == name:
                found.append(item)
    return found


def _assert_written(config: dict, label: str, value) -> None:
    """The sampled setting ``label: value`` as the trial's config holds it."""
    if label in ("train.loss", "train.optimizer"):
        assert config["train"][label.split(".")[1]]["name"] == value
    elif "." not in label:
        assert config[label] == value
    else:
        comp, arg = label.split(".", 1)
        arg = arg.split("#")[0]
        comps = _components(config, comp)
        assert comps, label
        for c in comps:
            assert (c.get(arg, False) if arg == "disabled" else c["args"][arg]) == value, label


def _assert_engine(engine: dict, label: str, value) -> None:
    """The sampled setting as the engine logged it (hparams.yaml), where it names it."""
    if label == "train.loss":
        assert engine["loss"] == value
    elif label == "train.optimizer":
        assert engine["optimizer"] == value
    elif label == "learning_rate":
        assert engine["lr"] == pytest.approx(value)
    elif label.endswith(".disabled"):
        comp = label.split(".")[0]
        assert any(t.startswith(comp) for t in engine["pre_transforms"]) == (not value), label
    elif ".prob" in label:
        assert f"{label.split('.')[0]}(prob={value:g})" in engine["pre_transforms"], label


@pytest.mark.parametrize("folder", ["cte_automl_41", "cte_automl_40"])
@pytest.mark.parametrize("which", CONFIGS)
def test_automl_two_trials(clara_examples, data, tmp_path, folder, which):
    mmar = _mmar(clara_examples, folder, tmp_path)
    name = f"trn_autoML_{which}.json"
    proc = run_main(
        f"mmar={mmar}",
        "task=automl",
        f"config_file=config/{name}",
        "automl.trials=2",
        *_tiny(mmar, name, data),
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    search = mmar / "automl" / f"trn_autoML_{which}"
    trials = [json.loads((search / f"trial_{i}" / "trial.json").read_text()) for i in (0, 1)]
    assert trials[0]["settings"] != trials[1]["settings"]
    engines = [t["engine"] for t in trials]
    for i, trial in enumerate(trials):
        config = json.loads((search / f"trial_{i}" / "config" / name).read_text())
        assert '"search"' not in json.dumps(config) and '"apply"' not in json.dumps(config)
        for label, value in trial["settings"].items():
            _assert_written(config, label, value)
            _assert_engine(engine=engines[i], label=label, value=value)
    if which == "Enum":  # channels / norm / step_size: the engine built different networks
        rows = [t["settings"] for t in trials]
        if rows[0].get("UNet.channels") != rows[1].get("UNet.channels"):
            assert engines[0]["parameters"] != engines[1]["parameters"]
    report = (search / "automl_report.csv").read_text().splitlines()
    assert len(report) == 3 and "best val_mean_dice" in report[0]
    assert (search / "automl_report.png").is_file()
    assert (search / "best" / "models" / "model.pt").is_file()
    assert json.loads((search / "best" / "best.json").read_text())["trial"] in (0, 1)


def test_best_mmar_trains_validates_exports_and_compares(clara_examples, data, tmp_path):
    mmar = _mmar(clara_examples, "cte_automl_41", tmp_path)
    name = "trn_autoML_Loss_Optimizer.json"
    proc = run_main(
        f"mmar={mmar}",
        "task=automl",
        f"config_file=config/{name}",
        "automl.trials=2",
        "automl.keep=1",
        "automl.run_id=search",
        *_tiny(mmar, name, data),
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    search = mmar / "automl" / "search"
    kept = sorted(p.name for p in search.glob("trial_*"))
    assert len(kept) == 1  # num_mmars_to_keep=1: the other trial was pruned
    assert "pruned" in (search / "automl_report.md").read_text()
    best = search / "best"
    for args in (
        ("task=validate",),
        ("task=export", f"config_file=config/{name}", f"input_shape=[1,1,{ROI[1:-1]}]"),
        ("task=train", f"config_file=config/{name}"),
    ):
        proc = run_main(f"mmar={best}", *args)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert list((best / "eval").glob("*.csv")) and (best / "models" / "model.ts").is_file()
    proc = run_main("task=compare", f"runs={search}", f"out={tmp_path / 'cmp'}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "cmp" / "compare.csv").read_text().count("\n") == 3  # trial + best


def test_clara_automl_sh_runs_through_apps_automl(clara_examples, data, tmp_path):
    mmar = _mmar(clara_examples, "cte_automl_41", tmp_path)
    script = mmar / "commands" / "automl.sh"
    # the one change: the module name (medl.apps.automl.train -> mmar_hydra.apps.automl)
    text = script.read_text().replace("medl.apps.automl.train", "mmar_hydra.apps.automl")
    script.write_text(text.replace("python -u", f"{sys.executable} -u"))
    name = "trn_autoML_TransformProb"
    (mmar / "automl" / name).mkdir(parents=True)  # automl.sh removes an earlier search
    env = {**os.environ, "PYTHONPATH": str(REPO), "TERM": "dumb"}
    proc = subprocess.run(
        ["bash", str(script), name, "trials=2", *_tiny(mmar, f"{name}.json", data)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "workers=0:0:0:0:0:0:0:0 has no effect" in proc.stdout
    assert len(list((mmar / "automl" / name).glob("trial_*/models/model.pt"))) == 2


def test_plain_train_on_a_search_config_trains_the_first_alternatives(
    clara_examples, data, tmp_path
):
    mmar = _mmar(clara_examples, "cte_automl_40", tmp_path)
    name = "trn_autoML_Loss_Optimizer.json"
    proc = run_main(
        f"mmar={mmar}", "task=train", f"config_file=config/{name}", *_tiny(mmar, name, data)
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Clara AutoML search space: 2 search block(s)" in proc.stderr
    assert "first alternative of each list" in proc.stderr
    from omegaconf import OmegaConf

    engine = OmegaConf.load(mmar / "models" / "hparams.yaml")
    assert (engine.loss, engine.optimizer) == ("DiceLoss", "Adam")
