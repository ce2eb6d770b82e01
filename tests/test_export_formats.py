"""task=export format=onnx|pt2: verified against eager, dynamic spatial axes, the model record."""

from __future__ import annotations

import json
import re

import pytest
import torch
from conftest import paths_inside, run_main


@pytest.fixture(scope="module")
def exports(trained_demo, tmp_path_factory):
    out = tmp_path_factory.mktemp("exports")
    proc = run_main(
        f"mmar={trained_demo}",
        "task=export",
        "format=[onnx,pt2]",
        "input_shape=[1,1,24,24,16]",
        f"output_path={out / 'model.ts'}",
        f"hydra.run.dir={out}",
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return trained_demo, out, proc.stdout


def _eager(mmar):
    from mmar_hydra.engine.model_loading import network_for_checkpoint
    from mmar_hydra.writers.checkpoints import load_checkpoint, state_dict_of

    ckpt = load_checkpoint(mmar / "models" / "model.pt")
    net = network_for_checkpoint(ckpt, None, paths=paths_inside(mmar), allow_code=False)
    net.load_state_dict(state_dict_of(ckpt))
    return net.eval()


@pytest.mark.slow
def test_onnx_and_pt2_match_eager_with_dynamic_spatial_axes(exports):
    import onnxruntime

    mmar, out, stdout = exports
    for fmt in ("onnx", "pt2"):
        m = re.search(
            rf"{fmt}: verified on input .* max \|diff\| (\S+) \(rtol 0.0001, atol 0.0001\)", stdout
        )
        assert m and float(m.group(1)) <= 1e-4, stdout
    assert "dynamic axes [2, 3, 4]" in stdout
    net = _eager(mmar)
    x = torch.rand(1, 1, 32, 40, 24)  # another spatial size than the export's sample
    with torch.no_grad():
        expected = net(x).numpy()
    session = onnxruntime.InferenceSession(
        str(out / "model.onnx"), providers=["CPUExecutionProvider"]
    )
    got = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
    assert abs(got - expected).max() <= 1e-4
    program = torch.export.load(str(out / "model.pt2"))
    assert abs(program.module()(x).detach().numpy() - expected).max() <= 1e-4


@pytest.mark.slow
def test_every_format_carries_the_model_record(exports):
    import onnx

    from mmar_hydra.writers.pt2 import load_pt2

    _, out, _ = exports
    props = {p.key: p.value for p in onnx.load(str(out / "model.onnx")).metadata_props}
    _, extra = load_pt2(out / "model.pt2", ["metadata.json", "train_conf.json"])
    for files in (props, extra):
        meta = json.loads(files["metadata.json"])
        assert len(meta["datalist"]["sha256"]) == 64
        assert {"torch", "monai", "numpy"} <= set(meta["versions"])
        assert meta["network_data_format"]["outputs"]["pred"]["num_channels"] == 2
        assert json.loads(files["train_conf.json"])["train"]["model"]["name"] == "UNet"


def test_unknown_format_is_refused(trained_demo):
    proc = run_main(f"mmar={trained_demo}", "task=export", "format=[onnx,tflite]")
    assert proc.returncode == 2 and "unknown export format tflite" in proc.stdout + proc.stderr
