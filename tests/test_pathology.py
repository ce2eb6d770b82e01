"""Clara 4.0's whole-slide components on current MONAI (fast): compat rules, datasets,
the reader fallback, the torchvision-layout ResNet head, ProbMapProducer in the loop."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import paths_inside
from corpus.pathology import GRID, REGION, make_pathology_data

from mmar_hydra.errors import ConfigError, DataError
from mmar_hydra.pathology import backends
from mmar_hydra.pathology.datasets import (
    MaskedInferenceWSIDataset,
    PatchWSIDataset,
    SmartCachePatchWSIDataset,
)
from mmar_hydra.reader import compat_pathology
from mmar_hydra.reader.compat import apply_compat


@pytest.fixture(scope="module")
def slides(tmp_path_factory) -> dict[str, Path]:
    return make_pathology_data(tmp_path_factory.mktemp("wsi"), slides=2, per_split=2)


def _items(out: dict[str, Path], split: str) -> list[dict]:
    data = json.loads(out["datalist_40"].read_text())[split]
    root = out["data_root"]
    return [{k: str(root / v) if k in ("image", "mask") else v for k, v in i.items()} for i in data]


def _level0(path: str) -> np.ndarray:
    import tifffile

    return tifffile.imread(path, key=0)


def test_compat_rewrites_clara40_pathology_components(monkeypatch):
    monkeypatch.setattr(backends, "available", lambda b: b == "tifffile")
    config = {
        "train": {
            "model": {
                "name": "TorchVisionFullyConvModel",
                "args": {"model_name": "resnet18", "n_classes": 1, "pretrained": True},
            },
            "dataset": {
                "name": "PatchWSIDataset",
                "args": {
                    "region_size": 768,
                    "grid_shape": 3,
                    "patch_size": 224,
                    "image_reader_name": "cuCIM",
                },
            },
        },
        "validate": {
            "dataset": {
                "name": "MaskedInferenceWSIDataset",
                "args": {"patch_size": 224, "image_reader_name": "cuCIM"},
            }
        },
        "handlers": [{"name": "ProbMapProducer", "args": {"output_dir": "eval"}}],
    }
    out, notes = apply_compat(config, file="config/config_train.json")
    model, ds = out["train"]["model"], out["train"]["dataset"]
    assert model["name"] in ("TorchVisionFCModel", "mmar_hydra.pathology.ResNetFCModel")
    assert model["args"] == {
        "model_name": "resnet18",
        "num_classes": 1,
        "pretrained": False,
        "use_conv": True,
    }
    assert ds["name"] == "mmar_hydra.pathology.PatchWSIDataset"
    assert ds["args"]["image_reader_name"] == "tifffile"
    assert out["validate"]["dataset"]["name"] == "mmar_hydra.pathology.MaskedInferenceWSIDataset"
    assert out["handlers"][0]["name"] == "mmar_hydra.pathology.ProbMapProducer"
    text = "\n".join(n.format() for n in notes)
    assert "train.model.args.pretrained: pretrained=true -> pretrained=false" in text
    assert (
        "train.dataset.args.image_reader_name: 'cuCIM' -> 'tifffile' (cuCIM is not installed"
        in text
    )
    assert config["train"]["model"]["name"] == "TorchVisionFullyConvModel"  # input untouched


def test_pretrained_is_kept_when_the_weights_are_cached(monkeypatch, tmp_path):
    monkeypatch.setattr(compat_pathology, "cached_weights", lambda *a: tmp_path / "w.pth")
    comp = {
        "path": "models.TorchModelFullyConv",
        "args": {"model_name": "resnet18", "pretrained": True},
    }
    out, notes = apply_compat({"model": comp}, file="c.json")
    assert out["model"]["args"]["pretrained"] is True and not notes


def test_new_style_patch_dataset_is_left_alone():
    comp = {"name": "PatchWSIDataset", "args": {"patch_size": 224, "reader": "tifffile"}}
    out, notes = apply_compat({"dataset": comp}, file="c.json")
    assert out["dataset"] == comp and not notes


def test_backend_falls_back_in_order(monkeypatch):
    monkeypatch.setattr(backends, "available", lambda b: b == "openslide")
    assert backends.choose_backend("cuCIM") == (
        "openslide",
        "cuCIM is not installed here; openslide reads the slides",
    )
    monkeypatch.setattr(backends, "available", lambda b: True)
    assert backends.choose_backend("CuClaraImage") == ("cucim", None)


def test_patch_dataset_cuts_the_region_as_clara40(slides):
    items = _items(slides, "training")
    ds = PatchWSIDataset(items, REGION, GRID, 224, image_reader_name="tifffile")
    patches = ds[0]
    assert len(patches) == GRID * GRID
    full = _level0(items[0]["image"])
    x, y = items[0]["location"]  # (column, row) of the region's centre
    region = full[y - REGION // 2 : y + REGION // 2, x - REGION // 2 : x + REGION // 2]
    cell = REGION // GRID
    start = cell // 2 - 112
    for i, patch in enumerate(patches):  # MONAI 0.5's order: column by column
        col, row = divmod(i, GRID)
        r, c = row * cell + start, col * cell + start
        np.testing.assert_array_equal(
            patch["image"], region[r : r + 224, c : c + 224].transpose(2, 0, 1)
        )
        assert patch["label"].shape == (1, 1, 1)
        assert patch["label"].item() == items[0]["label"][i]


def test_smart_cache_first_case_fills_no_cache(slides):
    args = {
        "data": _items(slides, "training"),
        "region_size": REGION,
        "grid_shape": GRID,
        "patch_size": 224,
        "image_reader_name": "tifffile",
    }
    first = SmartCachePatchWSIDataset.first_case(args)
    assert len(first) == 9 and first[0]["image"].shape == (3, 224, 224)


def test_wrong_label_count_and_region_outside_are_data_errors(slides):
    items = _items(slides, "training")
    with pytest.raises(DataError, match="needs 4"):
        PatchWSIDataset(items, REGION, 2, 224, image_reader_name="tifffile")
    outside = [{**items[0], "location": [10, 10]}]
    with pytest.raises(DataError, match="leaves the slide"):
        PatchWSIDataset(outside, REGION, GRID, 224, image_reader_name="tifffile")[0]


def test_masked_inference_dataset_gives_probmap_metadata(slides):
    items = _items(slides, "testing")
    ds = MaskedInferenceWSIDataset(items, 224, image_reader_name="tifffile")
    mask = np.load(items[0]["mask"])
    assert ds.image_data[0]["num_patches"] == int(mask.sum())
    assert ds.image_data[0]["mask_size"] == mask.shape
    first = ds[0]["image"]
    row, col = (int(v) for v in first.meta["mask_location"])
    assert mask[row, col] and first.meta["name"] == Path(items[0]["image"]).stem
    ratio = 1536 // mask.shape[0]
    top, left = int((row + 0.5) * ratio) - 112, int((col + 0.5) * ratio) - 112
    full = _level0(items[0]["image"])
    np.testing.assert_array_equal(
        np.asarray(first), full[top : top + 224, left : left + 224].transpose(2, 0, 1)
    )
    edge = {**ds.data[0], "location": np.array([-20, 5])}  # leaves the slide: padded with 0
    image, _ = ds._get_data(edge)
    assert image.shape == (3, 224, 224) and not image[:, :20].any() and image[:, 20:].any()


def test_resnet_head_has_torchvision_layout():
    from monai.networks.nets import resnet18

    from mmar_hydra.pathology.networks import ResNetFCModel

    backbone = resnet18(
        spatial_dims=2,
        n_input_channels=3,
        num_classes=1000,
        conv1_t_size=7,
        conv1_t_stride=2,
        bias_downsample=False,
    )
    assert sum(p.numel() for p in backbone.parameters()) == 11_689_512  # torchvision's resnet18
    assert "layer4.1.bn2.running_var" in backbone.state_dict()
    net = ResNetFCModel("resnet18", num_classes=1, use_conv=True).eval()
    assert net(torch.zeros(2, 3, 224, 224)).shape == (2, 1, 1, 1)
    with pytest.raises(ValueError, match="ImageNet weights"):
        ResNetFCModel(pretrained=True)


def test_prob_map_producer_runs_in_the_eval_loop(slides, tmp_path):
    pytest.importorskip("ignite")
    from monai.data import DataLoader

    from mmar_hydra.components.parts import HandlerPart
    from mmar_hydra.engine.ignite_bridge import IgniteBridge
    from mmar_hydra.pathology.prob_map import ProbMapProducer

    items = _items(slides, "testing")
    loader = DataLoader(
        MaskedInferenceWSIDataset(items, 224, image_reader_name="tifffile"), batch_size=8
    )
    handler = ProbMapProducer(output_dir=str(tmp_path))
    bridge = IgniteBridge([HandlerPart("ProbMapProducer", {}, "handlers[0]", obj=handler)], loader)
    bridge.start()
    for batch in loader:
        rows = batch["image"].meta["mask_location"]
        bridge.iteration(batch, {"pred": torch.as_tensor(rows)[:, :1].float() + 1})
    bridge.completed()
    for item in items:
        mask = np.load(item["mask"])
        saved = np.load(tmp_path / f"{Path(item['image']).stem}.npy")
        expected = np.where(mask > 0, np.arange(mask.shape[0])[:, None] + 1.0, 0.0)
        np.testing.assert_array_equal(saved, expected)
    assert not list(tmp_path.glob("*.tmp*"))


def test_network_spec_without_weights_is_refused():
    from mmar_hydra.components.parts import ModelSource
    from mmar_hydra.engine.model_loading import load_eval_network

    source = ModelSource("network", network=torch.nn.Linear(1, 1))
    with pytest.raises(ConfigError, match="randomly initialised weights"):
        load_eval_network(
            source, [], paths=paths_inside(Path(".")), allow_code=False, file="c.json"
        )
