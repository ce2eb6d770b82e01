"""The four public deepgrow MMARs (``../shared/clara_examples/public/cte_deepgrow*``), unmodified,
on synthetic CT prepared through ``task=prepare_dataset`` (``tests/corpus/deepgrow.py``).

Each one: refused without ``allow_code`` (its Interaction is custom/ code), then trained for
one epoch with its ``iteration`` section (simulated clicks inside every training and
validation step), then validated with its own ``config_validation.json`` (4.0: the exported
TorchScript model; early access: its CheckpointLoader), its custom/ handlers run
(DeepgrowStatsHandler's region Dice in TensorBoard, SegmentationSaver's files), and the
early-access ones
fine-tuned with their ``config_finetune.json``. The MMARs' crop sizes (256x256,
128x192x192), click counts (up to 20) and UNet widths are for a GPU; overrides of the
config's own JSON paths size them for 2 CPU cores, everything else is as published.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from corpus.cli import copy_mmar
from corpus.cli import ok as _ok
from corpus.cli import run as _run
from corpus.deepgrow import make_deepgrow_raw

pytestmark = [pytest.mark.slow, pytest.mark.real_clara]

MMARS = ["cte_deepgrow2d_40", "cte_deepgrow2d_ea", "cte_deepgrow3d_40", "cte_deepgrow3d_ea"]
SIZE = {2: [48, 48], 3: [32, 32, 32]}
FEATURES = "[4,8,16,32,64,4]"


def _mmar(clara_examples: Path, name: str, tmp_path: Path) -> Path:
    return copy_mmar(clara_examples / "public" / name, tmp_path / name)


@pytest.fixture(scope="module")
def raw(tmp_path_factory) -> dict[str, Path]:
    return make_deepgrow_raw(tmp_path_factory.mktemp("deepgrow_raw"), cases=3)


def _small(config: dict, section: str, dims: int, prefix: str = "") -> list[str]:
    """Overrides sizing one section for the CPU (its own items only, not {"ref": ...})."""
    out = []
    items = config.get("pre_transforms", [])
    for i, item in enumerate(items):
        if item.get("name") in ("SpatialCropForegroundd", "Resized") and "args" in item:
            out.append(
                f"{prefix}pre_transforms.{i}.args.spatial_size={SIZE[dims]}".replace(" ", "")
            )
    if "iteration" in config:
        out.append(f"{prefix}iteration.args.max_interactions=2")
    if isinstance(config.get("model"), dict) and "features" in config["model"].get("args", {}):
        out.append(f"{prefix}model.args.features={FEATURES}")
    for key in ("dataloader",):
        if key in config:
            out.append(f"{prefix}{key}.args.num_workers=0")
    return out


def _scalar_tags(folder: Path) -> set[str]:
    """Every scalar tag in the TensorBoard event files of ``folder``."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tags: set[str] = set()
    for events in folder.glob("events.out.tfevents.*"):
        accumulator = EventAccumulator(str(events), size_guidance={"scalars": 0})
        accumulator.Reload()
        tags.update(accumulator.Tags()["scalars"])
    return tags


def _checkpoints(mmar: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in (mmar / "models").glob("*.pt")}


def _train_overrides(mmar: Path, dims: int) -> list[str]:
    config = json.loads((mmar / "config" / "config_train.json").read_text())
    return [
        *_small(config["train"], "train", dims, "train."),
        *_small(config["validate"], "validate", dims, "validate."),
    ]


def _validate_overrides(mmar: Path, dims: int) -> list[str]:
    config = json.loads((mmar / "config" / "config_validation.json").read_text())
    out = _small(config, "", dims)
    models = config.get("model")
    for i, option in enumerate(models if isinstance(models, list) else []):
        if "features" in option.get("args", {}):
            out.append(f"model.{i}.args.features={FEATURES}")
    return out


@pytest.mark.parametrize("name", MMARS)
def test_deepgrow_mmar_trains_and_validates(clara_examples, raw, tmp_path, name):
    mmar = _mmar(clara_examples, name, tmp_path)
    dims = 2 if "2d" in name else 3
    data = tmp_path / f"data_{dims}d"
    out = _ok(
        f"mmar={mmar}",
        "task=prepare_dataset",
        f"dataset_root={raw['dataset_root']}",
        f"out={data}",
        "limit=1" if dims == 2 else "limit=0",
        "split=0.7",
    )
    assert f"{dims}D item(s)" in out and (data / "dataset_0.json").is_file()
    lists = json.loads((data / "dataset_0.json").read_text())
    assert lists["training"] and lists["validation"]
    assert not Path(lists["training"][0]["image"]).is_absolute()

    env = [f"mmar={mmar}", f"DATA_ROOT={data}", f"DATASET_JSON={data / 'dataset_0.json'}"]
    train = [*env, "task=train", "epochs=1", *_train_overrides(mmar, dims)]
    code, out = _run(*train)
    assert code == 2 and "allow_code=true" in out and "iteration" in out, out[-2000:]

    out = _ok(*train, "allow_code=true")
    assert (mmar / "models" / "model.pt").is_file()
    assert "val_dice" in out and "is not run" not in out
    # the MMAR's custom DeepgrowStatsHandler ran in the validation during training
    assert any(re.fullmatch(r"val_dice_\d\d", t) for t in _scalar_tags(mmar / "models")), out

    validate = [*env, "task=validate", "allow_code=true", *_validate_overrides(mmar, dims)]
    if name.endswith("_40"):  # dont_load_ts_model=false: the exported TorchScript model
        shape = [1, 3, *SIZE[dims]]
        _ok(f"mmar={mmar}", "task=export", f"input_shape={shape}".replace(" ", ""))
        assert (mmar / "models" / "model.ts").is_file()
    out = _ok(*validate)
    assert "case(s) validated" in out and "is not run" not in out, out[-2000:]
    if name.endswith("_40"):  # and the checkpoint through its CheckpointLoader
        ckpt = _ok(*validate, "dont_load_ts_model=true", "dont_load_ckpt_model=false")
        assert "case(s) validated" in ckpt and "model: checkpoint" in ckpt, ckpt[-2000:]
    # its custom SegmentationSaver (2D: PNG grids, 3D: NIfTI) and DeepgrowStatsHandler ran
    saved = sorted((mmar / "eval" / "segs").iterdir())
    assert saved and all(p.name.endswith(".png" if dims == 2 else ".nii.gz") for p in saved)
    assert any(re.fullmatch(r"val_dice_\d\d", t) for t in _scalar_tags(mmar / "eval"))

    finetune = mmar / "config" / "config_finetune.json"
    if finetune.is_file():  # early access: commands/finetune.sh, from the trained MMAR_CKPT
        config = json.loads(finetune.read_text())
        before = _checkpoints(mmar)
        out = _ok(
            *env,
            "task=finetune",
            "config_file=config/config_finetune.json",
            "epochs=1",
            "allow_code=true",
            *_small(config["train"], "train", dims, "train."),
            *_small(config["validate"], "validate", dims, "validate."),
        )
        assert "CheckpointLoader" in out, out[-2000:]
        after = _checkpoints(mmar)
        assert any(after[k] != before.get(k) for k in after), (before, after)  # it saved
