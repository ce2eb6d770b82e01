"""Ensemble math, flip TTA and member checks, without training; then the CLI on the tiny demo."""

from __future__ import annotations

import pytest
import torch
from conftest import TINY_EVAL, run_main, save_foreign_checkpoint
from monai.inferers import SlidingWindowInferer
from monai.networks.nets import UNet
from monai.transforms import Activationsd, AsDiscreted, Compose, MeanEnsembled, VoteEnsembled

from mmar_hydra.cv.ensemble import Ensemble, vote_plan
from mmar_hydra.cv.members import check_same_shapes
from mmar_hydra.cv.tta import FlipTTA, flip_combinations
from mmar_hydra.errors import CheckpointError, ConfigError


def _members(n: int = 3, classes: int = 3) -> list[torch.nn.Module]:
    torch.manual_seed(0)
    return [torch.nn.Conv3d(1, classes, 3, padding=1).eval() for _ in range(n)]


def _mean_ensembled(outputs: list[torch.Tensor]) -> torch.Tensor:
    keys = [f"p{i}" for i in range(len(outputs))]
    return MeanEnsembled(keys=keys, output_key="pred")(dict(zip(keys, outputs, strict=True)))[
        "pred"
    ]


def test_streamed_mean_equals_monai_mean_ensemble():
    members, image = _members(), torch.rand(2, 1, 12, 10, 8)
    inferer = SlidingWindowInferer((8, 8, 8), overlap=0.5)
    with torch.no_grad():
        got = Ensemble(members)(image)
        expected = _mean_ensembled([m(image) for m in members])
        windowed = Ensemble(members, inferer=inferer)(image)
        expected_windowed = _mean_ensembled([inferer(image, m) for m in members])
    assert torch.allclose(got, expected, atol=1e-6)
    assert torch.allclose(windowed, expected_windowed, atol=1e-6)


def test_vote_counts_labels_like_vote_ensemble():
    members, image = _members(), torch.rand(1, 1, 12, 10, 8)
    post = Compose([Activationsd(keys="pred", softmax=True), AsDiscreted(keys="pred", argmax=True)])
    plan, rest = vote_plan(post)
    assert len(plan.activations) == 1 and plan.argmax is True
    assert [type(t).__name__ for t in rest.transforms] == ["AsDiscreted"]
    with torch.no_grad():
        votes = Ensemble(members, mode="vote", plan=plan)(image)
        labels = [m(image)[0].argmax(0, keepdim=True) for m in members]
    expected = VoteEnsembled(keys=["a", "b", "c"], output_key="pred", num_classes=3)(
        dict(zip("abc", labels, strict=True))
    )["pred"]
    assert torch.allclose(votes.sum(1), torch.ones(1, 12, 10, 8))  # shares of 3 votes
    assert torch.equal(rest({"pred": votes[0]})["pred"], expected.float())


def _symmetric_conv() -> torch.nn.Module:
    """A 3x3x3 convolution whose kernels are mirror-symmetric along every axis."""
    torch.manual_seed(1)
    conv = torch.nn.Conv3d(1, 2, 3, padding=1)
    with torch.no_grad():
        w = conv.weight
        for dims in flip_combinations((2, 3, 4))[1:]:
            w += torch.flip(conv.weight, dims)
        conv.weight.copy_(w / 8)
    return conv.eval()


def test_flip_tta_of_a_symmetric_model_equals_its_plain_prediction():
    net, image = _symmetric_conv(), torch.rand(1, 1, 9, 8, 7)
    with torch.no_grad():
        plain, tta = net(image), FlipTTA(net)(image)
        assert torch.allclose(tta, plain, atol=1e-6)
        lopsided = torch.nn.Conv3d(1, 2, 3, padding=1).eval()
        assert not torch.allclose(FlipTTA(lopsided)(image), lopsided(image), atol=1e-4)
    assert len(flip_combinations((0, 1, 2))) == 8  # every mirror combination, as nnU-Net


def test_flip_tta_refuses_2d_3d_mismatches():
    net2d = UNet(spatial_dims=2, in_channels=1, out_channels=2, channels=(4, 8), strides=(2,))
    with pytest.raises(ConfigError, match="inputs are 3-D but m.pt is a 2-D network"):
        FlipTTA(net2d, name="m.pt")(torch.rand(1, 1, 8, 8, 8))
    with pytest.raises(ConfigError, match=r"tta_axes=\[0, 2\] on 2-D inputs: axis 2"):
        FlipTTA(net2d, axes=[0, 2])(torch.rand(1, 1, 8, 8))


def test_members_of_other_network_shapes_are_named():
    def unet(channels):
        return UNet(spatial_dims=3, in_channels=1, out_channels=2, channels=channels, strides=(2,))

    check_same_shapes([("a.pt", unet((4, 8))), ("b.pt", unet((4, 8)))])
    with pytest.raises(
        CheckpointError, match="member c.pt does not have the network shape of a.pt"
    ) as exc:
        check_same_shapes([("a.pt", unet((4, 8))), ("c.pt", unet((8, 16)))])
    assert exc.value.path.endswith("weight") and "(8, 1, 3, 3, 3)" in exc.value.what


def _dice(stdout: str) -> float:
    return float(
        next(line for line in stdout.splitlines() if line.startswith("val_mean_dice:")).split()[1]
    )


def test_ensemble_of_one_model_twice_validates_like_the_model(trained_demo):
    common = [f"mmar={trained_demo}", "task=validate", *TINY_EVAL, "MMAR_EVAL_OUTPUT_PATH=eval/ens"]
    plain = run_main(*common, "dont_load_ts_model=true", "dont_load_ckpt_model=false")
    assert plain.returncode == 0, plain.stderr[-3000:]
    twice = run_main(*common, "models=[models/model.pt,models/model.pt]")
    assert twice.returncode == 0, twice.stderr[-3000:]
    assert "ensemble: 2 member(s), mean" in twice.stdout
    assert _dice(twice.stdout) == pytest.approx(_dice(plain.stdout), abs=1e-4)
    assert (trained_demo / "eval" / "ens" / "val_mean_dice_raw.csv").is_file()
    # flip TTA of the single model the config names
    tta = run_main(
        *common, "dont_load_ts_model=true", "dont_load_ckpt_model=false", "tta=flip", "tta_axes=[0]"
    )
    assert tta.returncode == 0, tta.stderr[-3000:]
    assert "ensemble: 1 member(s), mean, flip TTA over axes [0]" in tta.stdout
    assert 0 <= _dice(tta.stdout) <= 1


def test_ensemble_members_that_do_not_match_are_a_clean_error(trained_demo, tmp_path):
    own = torch.load(trained_demo / "models" / "model.pt", weights_only=True)
    conf = own["train_conf"]
    conf["train"]["model"]["args"]["channels"] = [8, 16, 32]
    wide = UNet(**{**conf["train"]["model"]["args"], "channels": [8, 16, 32]})
    torch.save({"model": wide.state_dict(), "train_conf": conf}, tmp_path / "wide.pt")
    members = f"models=[models/model.pt,{tmp_path / 'wide.pt'}]"
    proc = run_main(f"mmar={trained_demo}", "task=ensemble", *TINY_EVAL, members)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"ensemble member {tmp_path / 'wide.pt'} does not have the network shape" in proc.stderr
    assert "where:    " in proc.stderr and ".weight" in proc.stderr
    save_foreign_checkpoint(tmp_path / "bare.pt")  # no train_conf: rebuilt as the MMAR's network
    proc = run_main(
        f"mmar={trained_demo}", "task=ensemble", *TINY_EVAL, f"models={tmp_path / 'bare.pt'}"
    )
    assert proc.returncode == 2
    assert f"ensemble member {tmp_path / 'bare.pt'}: the checkpoint does not fit" in proc.stderr
    proc = run_main(f"mmar={trained_demo}", "task=ensemble", *TINY_EVAL, "cv_dir=nowhere")
    assert proc.returncode == 2 and "not a CV folder" in proc.stderr
