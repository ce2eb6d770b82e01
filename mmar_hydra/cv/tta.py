"""Flip test-time augmentation, as nnU-Net mirrors: every combination of the spatial axes.

The network sees the input flipped along each subset of the chosen axes (the empty subset
included), each output is flipped back, and the outputs are averaged. Under a sliding-window
inferer this runs per window, like nnU-Net's mirroring, so no extra full volume is held.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
from torch import nn

from mmar_hydra.errors import ConfigError

__all__ = ["FlipTTA", "flip_combinations", "network_spatial_dims"]


def flip_combinations(axes: Sequence[int]) -> list[tuple[int, ...]]:
    """Every subset of ``axes``, the empty one first: 2**len(axes) forward passes."""
    return [c for r in range(len(axes) + 1) for c in itertools.combinations(axes, r)]


def network_spatial_dims(network: nn.Module) -> int | None:
    """The spatial dims a MONAI network was built for, when it says (UNet, SegResNet...)."""
    for name in ("dimensions", "spatial_dims"):
        value = getattr(network, name, None)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


class FlipTTA(nn.Module):
    """A network averaged over flips of the input's spatial axes.

    Args:
        network: the network (eager or TorchScript).
        axes: spatial axes to flip (0 = the first spatial axis); ``None`` = all of them.
        spatial_dims: the network's spatial dims if known, to refuse 2D/3D mismatches.
        name: the member's name in error messages.
    """

    def __init__(
        self,
        network: nn.Module,
        axes: Sequence[int] | None = None,
        *,
        spatial_dims: int | None = None,
        name: str = "model",
    ) -> None:
        super().__init__()
        self.network = network
        self.axes = None if axes is None else tuple(int(a) for a in axes)
        self.spatial_dims = (
            spatial_dims if spatial_dims is not None else network_spatial_dims(network)
        )
        self.name = name

    def _axes(self, x: torch.Tensor) -> tuple[int, ...]:
        spatial = x.ndim - 2
        if self.spatial_dims is not None and self.spatial_dims != spatial:
            raise ConfigError(
                f"tta=flip: the inputs are {spatial}-D but {self.name} is a "
                f"{self.spatial_dims}-D network",
                path="tta",
                expected=f"images with {self.spatial_dims} spatial dims for this network "
                f"(got a batch of shape {tuple(x.shape)})",
                fix="use the evaluation config the model was trained with, or drop tta=flip",
            )
        axes = tuple(range(spatial)) if self.axes is None else self.axes
        bad = [a for a in axes if not 0 <= a < spatial]
        if bad:
            raise ConfigError(
                f"tta_axes={list(axes)} on {spatial}-D inputs: axis {bad[0]} does not exist",
                path="tta_axes",
                expected=f"spatial axes 0..{spatial - 1}",
                fix=f"e.g. tta_axes=[{','.join(str(a) for a in range(spatial))}], "
                "or leave tta_axes unset for all of them",
            )
        return axes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        combos = flip_combinations(self._axes(x))
        total: torch.Tensor | None = None
        for combo in combos:
            dims = [a + 2 for a in combo]
            y = self.network(torch.flip(x, dims) if dims else x)
            y = torch.flip(y, dims) if dims else y
            total = y if total is None else total.add_(y)
        assert total is not None  # flip_combinations always holds the identity
        return total / len(combos)
