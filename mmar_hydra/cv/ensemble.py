"""An ensemble of models that streams one member at a time per case.

For each case, every member runs through the config's inferer in turn and its output is added
into one running sum, so memory holds the sum and one member's output -- never k outputs.

- ``mean``: the members' raw outputs are averaged, then the config's post transforms
  (activation, Invertd, AsDiscreted, ...) run once: what ``MeanEnsembled`` computes on the
  stacked outputs, as in MONAI's ensemble tutorial (and nnU-Net, which averages logits).
- ``vote``: each member's output goes through the config's activation and is discretized
  (argmax over classes, or the AsDiscreted threshold); the remaining post transforms see the
  share of votes per class in place of the activation's output. argmax then picks the class
  most members chose (``VoteEnsembled`` with ``num_classes``; ties go to the lower class), and a
  threshold of 0.5 keeps a label at least half of the members chose.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

__all__ = ["Ensemble", "VotePlan", "vote_plan"]

MODES = ("mean", "vote")


def _keys(transform: Any) -> tuple[str, ...]:
    return tuple(getattr(transform, "keys", ()) or ())


@dataclass
class VotePlan:
    """How one member's output becomes votes.

    Args:
        activations: the config's Activationsd transforms on ``pred`` (applied per case).
        argmax: one vote per position for the top class; else a vote per channel >= threshold.
        threshold: the AsDiscreted threshold for ``pred`` (multi-label outputs).
    """

    activations: list[Any] = field(default_factory=list)
    argmax: bool | None = None
    threshold: float = 0.5

    def _activate(self, pred: torch.Tensor) -> torch.Tensor:
        for t in self.activations:
            i = _keys(t).index("pred")
            pred = t.converter(pred, sigmoid=t.sigmoid[i], softmax=t.softmax[i], other=t.other[i])
        return pred

    def votes(self, out: torch.Tensor) -> torch.Tensor:
        """(B, C, ...) outputs -> (B, C, ...) 0/1 votes."""
        scores = torch.stack([self._activate(o) for o in out])
        argmax = self.argmax if self.argmax is not None else scores.shape[1] > 1
        if argmax:
            top = scores.argmax(dim=1, keepdim=True)
            return torch.zeros_like(scores, dtype=torch.float32).scatter_(1, top, 1.0)
        return (scores >= self.threshold).float()


def vote_plan(post: Any) -> tuple[VotePlan, Any]:
    """(the plan, the post transforms without the activations it took over).

    Args:
        post: the config's post transforms (a MONAI ``Compose``) or ``None``.
    """
    from monai.transforms import Activationsd, AsDiscreted, Compose

    transforms = list(post.transforms) if post is not None else []
    first_discrete = next(
        (i for i, t in enumerate(transforms) if isinstance(t, AsDiscreted) and "pred" in _keys(t)),
        len(transforms),
    )
    plan = VotePlan()
    rest = []
    for i, t in enumerate(transforms):
        if i < first_discrete and isinstance(t, Activationsd) and "pred" in _keys(t):
            plan.activations.append(t)
        else:
            rest.append(t)
    if first_discrete < len(transforms):
        disc = transforms[first_discrete]
        j = _keys(disc).index("pred")
        plan.argmax = bool(disc.argmax[j])
        if disc.threshold[j] is not None:
            plan.threshold = float(disc.threshold[j])
    elif plan.activations:
        j = _keys(plan.activations[0]).index("pred")
        plan.argmax = bool(plan.activations[0].softmax[j])
    return plan, Compose(rest) if rest else None


class Ensemble(nn.Module):
    """Members run one after another through ``inferer``; their outputs are summed in place.

    Args:
        members: the networks (each may already be a :class:`~mmar_hydra.cv.tta.FlipTTA`).
        inferer: the config's inferer (``None``: call the member on the whole input).
        mode: ``mean`` or ``vote``.
        plan: the vote plan (``vote`` only), from :func:`vote_plan`.
    """

    def __init__(
        self,
        members: Sequence[nn.Module],
        *,
        inferer: Any = None,
        mode: str = "mean",
        plan: VotePlan | None = None,
    ) -> None:
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
        self.members = nn.ModuleList(members)
        self.inferer = inferer
        self.mode = mode
        self.plan = plan or VotePlan()

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        total: torch.Tensor | None = None
        for member in self.members:
            out = self.inferer(image, member) if self.inferer is not None else member(image)
            if self.mode == "vote":
                out = self.plan.votes(out)
            total = out.float() if total is None else total.add_(out)
            del out
        assert total is not None  # an ensemble has members
        return total / len(self.members)
