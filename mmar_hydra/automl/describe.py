"""A trial's sample in the config's own words: ``train.loss: FocalLoss``, ``StepLR.gamma: 0.13``.

The sampler deals in parameter names and enum row indices; the report, the console and
``trial.json`` show what the sample means in the config.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mmar_hydra.reader.search_apply import bound_values, resolve_paths
from mmar_hydra.reader.search_space import SearchSpace

__all__ = ["describe_sample"]


def _name(config: Mapping[str, Any], at: str) -> str:
    comp = resolve_paths(config, at)
    return str(comp.get("name") or comp.get("path") or at)


def _list_of(space: SearchSpace, at: str) -> str | None:
    return next((lst for lst in space.alternatives if at.startswith(lst + "[")), None)


def describe_sample(
    config: Mapping[str, Any], space: SearchSpace, sample: Mapping[str, Any]
) -> dict[str, Any]:
    """Label -> value of each sampled setting (a list of alternatives -> the enabled one).

    Args:
        config: the search config as loaded JSON.
        space: its parsed search space.
        sample: parameter name -> float / enum row index.
    """
    out: dict[str, Any] = {}
    for b, v in bound_values(space, sample):
        if b.kind == "global":
            out[b.target] = v
        elif b.kind == "arg":
            out[f"{_name(config, b.target)}.{b.arg}" + (f"#{b.tag}" if b.tag else "")] = v
        elif b.kind == "disabled":
            out[f"{_name(config, b.target)}.disabled"] = bool(v)
        else:  # a switch: the alternative it enables, or the components it turns off
            for at in space.switch_users.get(b.target, []):
                lst = _list_of(space, at)
                if lst is None:
                    out[f"{_name(config, at)}.disabled"] = bool(v)
                elif not v:
                    out[lst] = _name(config, at)
    return out
