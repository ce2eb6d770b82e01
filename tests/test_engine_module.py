"""The LightningModule's training step (engine/module.py)."""

from __future__ import annotations

import pytest
import torch
from monai.data import MetaTensor
from monai.losses import DiceCELoss

from mmar_hydra.components.parts import TrainParts
from mmar_hydra.engine.module import MMARLightningModule


def _module() -> MMARLightningModule:
    network = torch.nn.Conv3d(1, 2, 1)
    parts = TrainParts(  # the real parts type: a fake one drifts from what the module reads
        network=network,
        loss=DiceCELoss(to_onehot_y=True, softmax=True),
        optimizer=torch.optim.SGD(network.parameters(), lr=0.1),
        lr_scheduler=None,
        dataloader=None,
        inferer=None,
        post_transforms=None,
        pre_transforms=None,
    )
    return MMARLightningModule(parts)


@pytest.mark.filterwarnings("ignore:You are trying to `self.log\\(\\)`")
def test_the_loss_of_metatensor_batches_is_a_plain_tensor_on_the_graph():
    """Lightning clones the loss 3 times a step; a MetaTensor clone copies the batch metadata."""
    meta = {"filename_or_obj": "case.nii.gz", "affine": torch.eye(4)}
    batch = {
        "image": MetaTensor(torch.rand(2, 1, 8, 8, 8), meta=meta),
        "label": MetaTensor((torch.rand(2, 1, 8, 8, 8) > 0.5).float(), meta=meta),
    }
    module = _module()
    loss = module.training_step(batch, 0)
    assert type(loss) is torch.Tensor
    assert loss.requires_grad
    loss.backward()  # still attached: the network gets gradients
    assert module.network.weight.grad is not None
    expected = module.loss_fn(module.network(batch["image"]), batch["label"])
    assert torch.allclose(loss.detach(), expected.detach().as_tensor())
