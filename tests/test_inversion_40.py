"""Clara 4.0's inversion flow, in the shape NGC's 4.0 MMARs validate with.

A ``TransformInverter`` handler (``output_keys: ["pred"]``, ``postfix: "inverted"``) makes
``pred_inverted``; ``SegmentationSaver`` saves it through an ``__import__('monai')`` lambda and
the key metric reads it through ``lambda x: (x['pred_inverted'], ...)``. The data's spacing
and orientation (LPS-like, 2.0 x 1.2 x 2.5 mm) differ from the network's (RAS, 1.5 x 1.5 x
2.0 mm), so only a real inversion gives a saved prediction with the input image's affine
and shape. The lambdas are code: refused cleanly without ``allow_code``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from conftest import run_main

pytestmark = pytest.mark.slow

SHAPE = (30, 36, 20)
AFFINE = np.array(
    [[-2.0, 0, 0, 40.0], [0, -1.2, 0, 30.0], [0, 0, 2.5, -10.0], [0, 0, 0, 1]], dtype=np.float64
)
AS_DISCRETE = "__import__('monai').transforms.AsDiscrete"
CONFIG = {
    "use_gpu": False,
    "multi_gpu": False,
    "amp": False,
    "dont_load_ts_model": True,
    "dont_load_ckpt_model": False,
    "model": [
        {"ts_path": "{MMAR_TORCHSCRIPT}", "disabled": "{dont_load_ts_model}"},
        {"ckpt_path": "{MMAR_CKPT}", "disabled": "{dont_load_ckpt_model}"},
    ],
    "pre_transforms": [
        {"name": "LoadImaged", "args": {"keys": ["image", "label"]}},
        {"name": "EnsureChannelFirstd", "args": {"keys": ["image", "label"]}},
        {"name": "Orientationd", "args": {"keys": ["image"], "axcodes": "RAS"}},
        {"name": "Spacingd", "args": {"keys": ["image"], "pixdim": [1.5, 1.5, 2.0]}},
        {
            "name": "ScaleIntensityRanged",
            "args": {"keys": "image", "a_min": -57, "a_max": 164, "b_min": 0.0, "b_max": 1.0},
        },
        {"name": "ToTensord", "args": {"keys": ["image", "label"]}},
    ],
    "dataset": {
        "name": "Dataset",
        "data_list_file_path": "{DATASET_JSON}",
        "data_file_base_dir": "{DATA_ROOT}",
        "data_list_key": "validation",
    },
    "dataloader": {"name": "DataLoader", "args": {"batch_size": 1, "num_workers": 0}},
    "inferer": {
        "name": "SlidingWindowInferer",
        "args": {"roi_size": [48, 48, 32], "sw_batch_size": 1},
    },
    "handlers": [
        {
            "name": "TransformInverter",
            "args": {
                "output_keys": ["pred"],
                "batch_keys": "image",
                "postfix": "inverted",
                "nearest_interp": False,
            },
        },
        {
            "name": "SegmentationSaver",
            "args": {
                "output_dir": "{MMAR_EVAL_OUTPUT_PATH}",
                "batch_transform": "lambda x: x['image_meta_dict']",
                "output_transform": f"lambda x: {AS_DISCRETE}(argmax=True)(x['pred_inverted'])",
                "resample": False,
            },
        },
        {
            "name": "MetricsSaver",
            "args": {
                "save_dir": "{MMAR_EVAL_OUTPUT_PATH}",
                "metrics": ["val_mean_dice"],
                "metric_details": ["val_mean_dice"],
                "summary_ops": "*",
            },
        },
    ],
    "post_transforms": [{"name": "Activationsd", "args": {"keys": "pred", "softmax": True}}],
    "metrics": [
        {
            "name": "MeanDice",
            "log_label": "val_mean_dice",
            "is_key_metric": True,
            "args": {
                "include_background": False,
                "output_transform": (
                    f"lambda x: ({AS_DISCRETE}(argmax=True, to_onehot=2)(x['pred_inverted']), "
                    f"{AS_DISCRETE}(to_onehot=2)(x['label']))"
                ),
            },
        }
    ],
    "evaluator": {"name": "SupervisedEvaluator"},
}


def _data(root: Path) -> Path:
    rng = np.random.default_rng(3)
    items = []
    for i in range(2):
        label = np.zeros(SHAPE, np.uint8)
        label[8:20, 10:26, 5:14] = 1
        image = rng.normal(0, 20, SHAPE).astype(np.float32) + 120 * label
        item = {"image": f"img_{i}.nii.gz", "label": f"lab_{i}.nii.gz"}
        nib.save(nib.Nifti1Image(image, AFFINE), root / item["image"])
        nib.save(nib.Nifti1Image(label, AFFINE), root / item["label"])
        items.append(item)
    (root / "datalist.json").write_text(json.dumps({"validation": items}))
    return root / "datalist.json"


def test_40_inversion_flow_saves_and_scores_in_the_input_space(trained_demo, tmp_path):
    mmar = tmp_path / "mmar"
    shutil.copytree(trained_demo, mmar, ignore=shutil.ignore_patterns("eval", "runs", "data"))
    (mmar / "config" / "config_validation_inv.json").write_text(json.dumps(CONFIG, indent=2))
    data = tmp_path / "data"
    data.mkdir()
    datalist = _data(data)
    args = [
        f"mmar={mmar}",
        "task=validate",
        "config_file=config/config_validation_inv.json",
        f"DATA_ROOT={data}",
        f"DATASET_JSON={datalist}",
    ]
    refused = run_main(*args)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "allow_code=true" in refused.stdout + refused.stderr
    assert "Traceback" not in refused.stdout + refused.stderr
    assert not (mmar / "eval").exists()

    result = run_main(*args, "allow_code=true")
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-4000:]
    assert "TransformInverter handler" in out and "CopyItemsd + Invertd" in out
    saved = sorted((mmar / "eval").rglob("*.nii.gz"))
    assert len(saved) == 2, saved
    for path in saved:
        img = nib.load(path)
        assert img.shape[:3] == SHAPE
        np.testing.assert_allclose(img.affine, AFFINE, atol=1e-4)
        pred = np.asarray(img.dataobj)
        assert set(np.unique(pred)) <= {0, 1}  # AsDiscrete(argmax) of the lambda ran
    metrics = (mmar / "eval" / "metrics.csv").read_text()
    assert "val_mean_dice" in metrics
