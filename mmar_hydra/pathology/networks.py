"""A torchvision-layout ResNet classifier head for machines where torchvision does not import.

MONAI's ``TorchVisionFCModel`` (Clara 4.0's ``TorchVisionFullyConvModel``) wraps a
torchvision ResNet in ``NetAdapter``. Where torchvision is missing or broken (its PyPI wheel
needs CUDA libraries a CPU-only torch lacks), :class:`ResNetFCModel` wraps MONAI's own
ResNet built with torchvision's layout instead: 7x7 stride-2 stem, max pool, the same
blocks, no bias in the downsampling convolutions. The layers, parameter counts (resnet18:
11,689,512 with a 1000-class head, as torchvision's) and ``state_dict`` keys are the same,
so weights move between the two. Only torchvision's ImageNet weights are out of reach.
"""

from __future__ import annotations

from typing import Any

from monai.networks import nets
from monai.networks.nets import NetAdapter

__all__ = ["ResNetFCModel", "RESNETS"]

RESNETS = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152")


class ResNetFCModel(NetAdapter):
    """``TorchVisionFCModel``'s arguments, on MONAI's ResNet in torchvision's layout.

    Args:
        model_name: one of :data:`RESNETS`.
        num_classes, dim, in_channels, use_conv, pool, bias: as for ``NetAdapter``.
        pretrained: must be false: ImageNet weights are torchvision's.
    """

    def __init__(
        self,
        model_name: str = "resnet18",
        num_classes: int = 1,
        dim: int = 2,
        in_channels: int | None = None,
        use_conv: bool = False,
        pool: tuple[str, dict[str, Any]] | None = ("avg", {"kernel_size": 7, "stride": 1}),
        bias: bool = True,
        pretrained: bool = False,
    ) -> None:
        if model_name not in RESNETS:
            raise ValueError(
                f"{model_name!r} needs torchvision, which does not import here; without it "
                f"only {', '.join(RESNETS)} can be built (install the torchvision build that "
                "matches your torch)"
            )
        if pretrained:
            raise ValueError(
                "pretrained=True needs torchvision's ImageNet weights; torchvision does not "
                "import here (set pretrained=false, or install the torchvision build that "
                "matches your torch)"
            )
        backbone = getattr(nets, model_name)(
            spatial_dims=dim,
            n_input_channels=3,
            num_classes=1000,
            conv1_t_size=7,
            conv1_t_stride=2,
            bias_downsample=False,
        )
        super().__init__(
            model=backbone,
            num_classes=num_classes,
            dim=dim,
            in_channels=in_channels,
            use_conv=use_conv,
            pool=pool,
            bias=bias,
        )
