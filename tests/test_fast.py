"""fast=true: the data pipeline rewritten as MONAI's fast-training guide does, each change said."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from conftest import TINY_TRAIN, paths_inside, run_main

from mmar_hydra.components import cache_estimate, fast, fast_copy, fast_post
from mmar_hydra.components.fast import apply_fast, settle_cache
from mmar_hydra.components.fast_indices import spec_name


def _plain_pipeline(root: Path) -> dict:
    """The tiny demo's resolved training config with a plain Dataset and worker processes."""
    from omegaconf import OmegaConf

    from mmar_hydra.context import resolve_config
    from mmar_hydra.reader.mmar_reader import read_mmar

    cfg = resolve_config(OmegaConf.create(read_mmar(root, task="train").config))
    cfg["train"]["dataset"].update(name="Dataset", args={"transform": "@pre_transforms"})
    cfg["train"]["dataloader"]["args"]["num_workers"] = 2
    return cfg


def test_dataset_is_cached_and_cpu_loader_has_no_workers_and_no_thread(tiny_demo, monkeypatch):
    monkeypatch.setattr(fast, "cpu_has_bf16", lambda: True)
    config, plan = apply_fast(_plain_pipeline(tiny_demo), gpu=False)
    plan.notes += settle_cache(config, plan, paths=paths_inside(tiny_demo), allow_code=False)
    train = config["train"]
    assert (
        train["dataset"]["name"] == "CacheDataset" and train["dataset"]["args"]["cache_rate"] == 1
    )
    # on a CPU a loader thread competes with training for the same cores
    assert train["dataloader"]["name"] == "DataLoader"
    assert train["dataloader"]["args"]["num_workers"] == 0
    assert plan.track_meta_off and plan.precision == "bf16-mixed" and not plan.channels_last
    text = "\n".join(plan.notes)
    assert "train.dataset: Dataset -> CacheDataset" in text
    assert "DataLoader(num_workers=2) -> DataLoader(num_workers=0)" in text
    assert "no loader thread on a CPU" in text
    assert "set_track_meta(False)" in text


def test_a_cache_too_big_for_memory_goes_to_disk(tiny_demo, monkeypatch):
    monkeypatch.setattr(cache_estimate, "available_memory", lambda: 1000)
    monkeypatch.setattr(fast, "available_memory", lambda: 1000)
    config, plan = apply_fast(_plain_pipeline(tiny_demo), gpu=False)
    notes = settle_cache(config, plan, paths=paths_inside(tiny_demo), allow_code=False)
    dataset = config["train"]["dataset"]
    assert dataset["name"] == "PersistentDataset" and "cache_rate" not in dataset["args"]
    assert any("cached on disk instead" in n for n in notes)


def test_fast_builds_nothing_before_the_check(tiny_demo, monkeypatch):
    """fast=true rewrites the config, the one check walk runs on it, and only a config that
    passed is built: a bad component is reported by the check, no cache is sized."""
    sized = []
    monkeypatch.setattr(fast, "estimate_dataset_cache", lambda *a, **k: sized.append(a))
    config = tiny_demo / "config" / "config_train.json"
    cfg = json.loads(config.read_text())
    cfg["train"]["dataset"].update(name="Dataset", args={"transform": "@pre_transforms"})
    cfg["train"]["pre_transforms"][0]["args"]["no_such_arg"] = 1
    config.write_text(json.dumps(cfg))
    proc = run_main(f"mmar={tiny_demo}", "task=train", "fast=true", *TINY_TRAIN)
    assert proc.returncode == 2 and "no_such_arg" in proc.stderr, proc.stderr[-2000:]
    assert sized == []  # the cache estimate (a build) never ran on the unchecked config


def test_gpu_gets_to_device_amp_and_channels_last(tiny_demo):
    config, plan = apply_fast(_plain_pipeline(tiny_demo), gpu=True)
    names = [spec_name(t) for t in config["train"]["pre_transforms"]]
    first_random = next(i for i, n in enumerate(names) if n.startswith("Rand"))
    # the indices are computed (and cached) on the CPU, then everything moves to the GPU
    assert names[first_random - 3 : first_random] == ["FgBgToIndicesd", "EnsureTyped", "ToDeviced"]
    assert config["train"]["pre_transforms"][first_random - 1]["args"]["device"] == "cuda"
    assert plan.precision == "16-mixed" and plan.channels_last
    # on a GPU the loader thread prepares the next batch while the GPU computes
    assert config["train"]["dataloader"]["name"] == "ThreadDataLoader"
    assert "num_workers" not in config["train"]["dataloader"]["args"]


def test_metadata_stays_on_when_a_training_transform_needs_it(tiny_demo):
    cfg = _plain_pipeline(tiny_demo)
    cfg["train"]["post_transforms"].append({"name": "SaveImaged", "args": {"keys": "pred"}})
    _, plan = apply_fast(cfg, gpu=False)
    assert not plan.track_meta_off
    assert any("SaveImaged need(s) it" in n for n in plan.notes)


def test_fast_training_runs_with_metadata_off_in_the_loop(tiny_demo, monkeypatch):
    from monai.data import get_track_meta

    from mmar_hydra.engine import module

    seen = []
    step = module.MMARLightningModule.training_step

    post = []

    def spy(self, batch, batch_idx):  # noqa: ANN001, ANN202
        seen.append(get_track_meta())
        post.extend((self.train_post, self.eval_parts.post_transforms))
        return step(self, batch, batch_idx)

    monkeypatch.setattr(module.MMARLightningModule, "training_step", spy)
    path = tiny_demo / "config" / "config_train.json"
    cfg = json.loads(path.read_text())
    cfg["train"]["dataset"].update(name="Dataset", args={"transform": "@pre_transforms"})
    path.write_text(json.dumps(cfg))
    proc = run_main(f"mmar={tiny_demo}", "task=train", *TINY_TRAIN, "fast=true")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "fast: train.dataset: Dataset -> CacheDataset" in proc.stdout
    assert seen and not any(seen)  # every training step ran without metadata tracking
    assert get_track_meta()  # and it is back on afterwards
    assert (tiny_demo / "models" / "model.pt").is_file()
    # the argmax post transform is fast_post's, in train and (through its ref) in validate
    assert "fast: train.post_transforms[1]: AsDiscreted(argmax) -> " in proc.stdout
    assert {type(c.transforms[-1]).__module__ for c in post} == {fast_post.__name__}


@pytest.mark.parametrize("flags,expected", [("flags : avx512_bf16", True), ("flags : sse4", False)])
def test_cpu_bf16_detection(tmp_path, monkeypatch, flags, expected):
    info = tmp_path / "cpuinfo"
    info.write_text(flags)
    monkeypatch.setattr(fast, "Path", lambda _: info)
    assert fast.cpu_has_bf16() is expected


def _crop_args(config: dict) -> dict:
    crop = next(t for t in config["train"]["pre_transforms"] if spec_name(t).startswith("Rand"))
    return crop["args"]


def test_crop_indices_are_cached_before_the_random_crop(tiny_demo):
    config, plan = apply_fast(_plain_pipeline(tiny_demo), gpu=False)
    pre = config["train"]["pre_transforms"]
    names = [spec_name(t) for t in pre]
    crop = names.index("RandCropByPosNegLabeld")
    assert names[crop - 2 : crop] == ["FgBgToIndicesd", "EnsureTyped"]
    index = pre[crop - 2]["args"]
    assert index["keys"] == "label" and index["image_key"] == "image"
    assert index["image_threshold"] == 0  # the crop's own threshold: the same indices
    args = _crop_args(config)
    assert (args["fg_indices_key"], args["bg_indices_key"]) == (
        "label_fg_indices",
        "label_bg_indices",
    )
    assert pre[crop - 1]["args"] == {
        "keys": ["label_fg_indices", "label_bg_indices"],
        "track_meta": False,
    }
    assert any(
        "FgBgToIndicesd(label) cached before RandCropByPosNegLabeld" in n for n in plan.notes
    )
    # validate's {"ref": "EnsureTyped"} must still find the MMAR's own EnsureTyped
    assert all("name" not in t for t in pre[crop - 2 : crop])


def test_cached_indices_give_the_same_crops_without_scanning_the_label(tiny_demo, monkeypatch):
    import monai.transforms.croppad.array as array_crops
    import torch
    from monai.data import CacheDataset, set_track_meta

    from mmar_hydra.components.builder import build_train

    def train_items(ds: CacheDataset) -> list:
        ds.transform.set_random_state(seed=0)
        items = [ds[i] for i in range(len(ds))]  # each a list: num_samples crops of a case
        return [crop for item in items for crop in (item if isinstance(item, list) else [item])]

    plain = _plain_pipeline(tiny_demo)
    _crop_args(plain)["spatial_size"] = [24, 24, 16]  # the tiny demo's cases are small
    plain["train"]["dataset"]["name"] = "CacheDataset"
    rewritten, _ = apply_fast(copy.deepcopy(plain), gpu=False)
    built = [build_train(c, paths=paths_inside(tiny_demo)) for c in (plain, rewritten)]
    plain_ds, fast_ds = (b.dataloader.dataset for b in built)
    assert isinstance(plain_ds, CacheDataset) and isinstance(fast_ds, CacheDataset)
    scans: list[int] = []
    scan = array_crops.map_binary_to_indices
    monkeypatch.setattr(
        array_crops, "map_binary_to_indices", lambda *a, **k: scans.append(1) or scan(*a, **k)
    )
    set_track_meta(False)  # as in the fast training loop
    try:
        as_written = train_items(plain_ds)
        assert scans  # the crop as written scans the label on every call
        scans.clear()
        fast_items = train_items(fast_ds)
    finally:
        set_track_meta(True)
    assert not scans  # with the cached indices it only draws
    assert all("image" in item for item in as_written + fast_items)  # no bad-case markers
    assert len(as_written) == len(fast_items) > len(plain_ds)
    for a, b in zip(as_written, fast_items, strict=True):  # the same crops
        assert torch.equal(a["image"], b["image"]) and torch.equal(a["label"], b["label"])
        assert "label_fg_indices" not in b  # popped by the crop, never collated


def test_crop_after_another_random_transform_keeps_its_indices_uncached(tiny_demo):
    cfg = _plain_pipeline(tiny_demo)
    pre = cfg["train"]["pre_transforms"]
    crop = next(i for i, t in enumerate(pre) if spec_name(t) == "RandCropByPosNegLabeld")
    pre.insert(crop, {"name": "RandFlipd", "args": {"keys": ["image", "label"], "prob": 0.5}})
    config, plan = apply_fast(cfg, gpu=False)
    names = [spec_name(t) for t in config["train"]["pre_transforms"]]
    assert "FgBgToIndicesd" not in names
    assert "fg_indices_key" not in _crop_args(config)
    assert any("keeps computing its label indices every step: RandFlipd" in n for n in plan.notes)


def test_label_classes_crop_gets_class_indices(tiny_demo):
    cfg = _plain_pipeline(tiny_demo)
    pre = cfg["train"]["pre_transforms"]
    crop = next(i for i, t in enumerate(pre) if spec_name(t) == "RandCropByPosNegLabeld")
    pre[crop] = {
        "name": "RandCropByLabelClassesd",
        "args": {
            "keys": ["image", "label"],
            "label_key": "label",
            "spatial_size": [24, 24, 16],
            "num_classes": 2,
            "num_samples": 2,
        },
    }
    config, plan = apply_fast(cfg, gpu=False)
    pre = config["train"]["pre_transforms"]
    index = next(t for t in pre if spec_name(t) == "ClassesToIndicesd")
    assert index["args"]["num_classes"] == 2 and "image_key" not in index["args"]
    crop_args = next(t for t in pre if spec_name(t) == "RandCropByLabelClassesd")["args"]
    assert crop_args["indices_key"] == "label_cls_indices"


def test_cache_is_handed_out_without_a_copy_when_no_transform_writes_into_it(tiny_demo):
    config, plan = apply_fast(_plain_pipeline(tiny_demo), gpu=False)
    assert config["train"]["dataset"]["args"]["copy_cache"] is False
    assert "copy_cache" not in config["validate"]["dataset"].get("args", {})
    assert any("train.dataset: copy_cache=False" in n for n in plan.notes)


def test_cache_is_copied_when_a_transform_may_write_into_it(tiny_demo):
    cfg = _plain_pipeline(tiny_demo)
    cfg["train"]["pre_transforms"].append(
        {"name": "RandCoarseDropoutd", "args": {"keys": "image", "holes": 2, "spatial_size": 4}}
    )
    config, plan = apply_fast(cfg, gpu=False)
    assert "copy_cache" not in config["train"]["dataset"]["args"]
    assert any("copy_cache stays on (RandCoarseDropoutd" in n for n in plan.notes)
    cfg = _plain_pipeline(tiny_demo)
    cfg["train"]["post_transforms"].append({"name": "SaveImaged", "args": {"keys": "pred"}})
    config, _ = apply_fast(cfg, gpu=False)
    assert "copy_cache" not in config["train"]["dataset"]["args"]  # metadata on: copied


_TRUSTED_ARGS: dict[str, dict] = {
    "RandCropByPosNegLabeld": {"label_key": "label", "spatial_size": [8, 8, 8], "num_samples": 2},
    "RandCropByLabelClassesd": {
        "label_key": "label",
        "spatial_size": [8, 8, 8],
        "num_classes": 2,
        "num_samples": 2,
    },
    "RandSpatialCropd": {"roi_size": [8, 8, 8]},
    "RandSpatialCropSamplesd": {"roi_size": [8, 8, 8], "num_samples": 2},
    "RandShiftIntensityd": {"offsets": 0.5, "prob": 1.0},
    "RandScaleIntensityd": {"factors": 0.5, "prob": 1.0},
    "RandFlipd": {"prob": 1.0, "spatial_axis": 0},
    "RandRotate90d": {"prob": 1.0},
    "RandGaussianNoised": {"prob": 1.0},
    "ToDeviced": {"device": "cpu"},
    "CastToTyped": {"dtype": "float32"},
}


@pytest.mark.parametrize("name", sorted(fast_copy.NO_INPUT_WRITES))
def test_transforms_trusted_with_the_shared_cache_leave_their_input_alone(name):
    import monai.transforms
    import torch
    from monai.data import MetaTensor, set_track_meta

    torch.manual_seed(0)
    data = {
        "image": MetaTensor(torch.rand(1, 12, 12, 12)),
        "label": MetaTensor((torch.rand(1, 12, 12, 12) > 0.5).float()),
    }
    before = {k: v.clone() for k, v in data.items()}
    transform = getattr(monai.transforms, name)(
        keys=["image", "label"], **_TRUSTED_ARGS.get(name, {})
    )
    set_track_meta(False)  # as in the fast training loop
    try:
        for _ in range(3):
            transform(data)
    finally:
        set_track_meta(True)
    for key, value in data.items():
        assert torch.equal(value.as_tensor(), before[key].as_tensor()), f"{name} wrote into {key}"


@pytest.mark.parametrize(
    "args",
    [
        {"argmax": True},
        {"argmax": True, "to_onehot": 3},
        {"argmax": [True, False], "to_onehot": 3},
        {"argmax": True, "dim": 0, "keepdim": False},
        {"argmax": True, "threshold": 0.5},
    ],
)
def test_fast_argmax_gives_monai_s_values_type_and_metadata(args):
    import torch
    from monai.data import MetaTensor
    from monai.transforms import AsDiscreted

    torch.manual_seed(0)
    pred = MetaTensor(torch.rand(3, 8, 8, 4), meta={"filename_or_obj": "case.nii.gz"})
    pred[0, 0, 0, 0] = float("nan")  # NaN counts as the maximum in both
    pred[1, 1, 1, 1] = pred[2, 1, 1, 1]  # a tie: the first maximum in both
    label = MetaTensor((torch.rand(1, 8, 8, 4) > 0.5).float())
    keys = ["pred", "label"] if isinstance(args["argmax"], list) else ["pred"]
    expected = AsDiscreted(keys=keys, **args)({"pred": pred.clone(), "label": label.clone()})
    got = fast_post.AsDiscreted(keys=keys, **args)({"pred": pred.clone(), "label": label.clone()})
    for key in keys:
        assert type(got[key]) is type(expected[key]) and got[key].dtype == expected[key].dtype
        assert torch.equal(got[key].as_tensor(), expected[key].as_tensor())
        assert got[key].meta.get("filename_or_obj") == expected[key].meta.get("filename_or_obj")


def test_only_argmax_post_transforms_are_pointed_at_fast_post():
    section = {
        "post_transforms": [
            {"name": "Activationsd", "args": {"keys": "pred", "softmax": True}},
            {"name": "AsDiscreted", "args": {"keys": ["pred", "label"], "argmax": [True, False]}},
            {"name": "AsDiscreted", "args": {"keys": "pred", "threshold": 0.5}},
        ]
    }
    notes = fast_post.fast_argmax(section, "train")
    specs = section["post_transforms"]
    assert specs[1] == {
        "name": "AsDiscreted",  # kept: a validate {"ref": "AsDiscreted"} still finds it
        "path": "mmar_hydra.components.fast_post.AsDiscreted",
        "args": {"keys": ["pred", "label"], "argmax": [True, False]},
    }
    assert "path" not in specs[0] and "path" not in specs[2]  # no argmax: MONAI's own
    assert len(notes) == 1 and notes[0].startswith("train.post_transforms[1]: AsDiscreted(argmax)")
