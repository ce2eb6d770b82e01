"""The network of ``task=ensemble``, and of validate / infer with ``models=[...]``, ``cv_dir=...``
or ``tta=flip``.

The evaluation is ``task=validate``'s (or ``task=infer``'s, for a config without metrics): the
same data, inferer, post transforms, metrics and output files. Only the network differs: the
members run one after another per case (:class:`~mmar_hydra.cv.ensemble.Ensemble`), each
wrapped in flip TTA when asked.
"""

from __future__ import annotations

from typing import Any

from mmar_hydra.context import TaskContext
from mmar_hydra.cv.ensemble import Ensemble, vote_plan
from mmar_hydra.cv.folder import CVFolder
from mmar_hydra.cv.members import check_same_shapes, load_member, member_paths
from mmar_hydra.cv.tta import FlipTTA
from mmar_hydra.engine.model_loading import load_eval_network
from mmar_hydra.errors import ConfigError

__all__ = ["wants_ensemble", "ensemble_network"]

_TTA = (None, "none", "flip")


def wants_ensemble(ctx: TaskContext) -> bool:
    """This evaluation uses the ensemble path (members, TTA or task=ensemble)."""
    settings = ctx.settings
    return (
        settings.task == "ensemble"
        or bool(settings.models)
        or bool(settings.cv_dir)
        or settings.tta not in (None, "none")
    )


def _as_list(value: Any) -> list[Any] | None:
    """A list setting given as ``[a,b]`` or as one bare value (``models=a.pt``)."""
    if value is None:
        return None
    return list(value) if isinstance(value, list | tuple) else [value]


def _settings(ctx: TaskContext) -> tuple[str, str | None, list[int] | None]:
    mode = str(ctx.settings.ensemble or "mean")
    if mode not in ("mean", "vote"):
        raise ConfigError(
            f"ensemble={mode}",
            path="ensemble",
            expected="ensemble=mean (average the outputs) or ensemble=vote (majority of labels)",
        )
    tta = ctx.settings.tta
    if tta not in _TTA:
        raise ConfigError(
            f"tta={tta}", path="tta", expected="tta=flip (flip test-time augmentation) or none"
        )
    axes = _as_list(ctx.settings.tta_axes)
    axes = [int(a) for a in axes] if axes is not None else None
    return mode, None if tta in (None, "none") else str(tta), axes


def ensemble_network(ctx: TaskContext, parts: Any, say: Any) -> Any:
    """The ensemble for ``parts`` (a built flat config); ``parts`` is adapted in place.

    The config's inferer moves into the ensemble (it runs once per member), and ``vote``
    takes over the activations of the post transforms.
    """

    mode, tta, axes = _settings(ctx)
    models = _as_list(ctx.settings.models)
    models = [str(m) for m in models] if models else None
    if models or ctx.settings.cv_dir or ctx.settings.task == "ensemble":
        cv_dir = None if models else CVFolder.at(ctx.paths, ctx.settings.cv_dir, writing=False).root
        paths = member_paths(models, cv_dir, ctx.mmar_root)
        members = [
            (str(p), load_member(p, paths=ctx.paths, allow_code=ctx.allow_code)) for p in paths
        ]
        check_same_shapes(members)
        for name, _ in members:
            say(f"ensemble member: {name}")
    else:  # tta on the config's own model
        network = load_eval_network(
            parts.model, parts.handlers, paths=ctx.paths, allow_code=ctx.allow_code, say=say
        )
        members = [("model", network)]
    nets = [FlipTTA(n, axes, name=name) if tta else n for name, n in members]
    plan = None
    if mode == "vote":
        plan, parts.post_transforms = vote_plan(parts.post_transforms)
    ensemble = Ensemble(nets, inferer=parts.inferer, mode=mode, plan=plan)
    parts.inferer = None
    say(
        f"ensemble: {len(nets)} member(s), {mode}"
        + (f", flip TTA over axes {axes if axes is not None else 'all'}" if tta else "")
    )
    return ensemble.eval()
