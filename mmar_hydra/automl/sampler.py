"""The trial sequence: Optuna's seeded TPE over a :class:`SearchSpace`, as Hydra's sweeper runs it.

The Hydra Optuna sweeper builds the same distributions from ``hydra_params()``
(``interval`` -> uniform float, ``choice`` -> categorical) and the same ``TPESampler(seed)``;
this module asks that sampler directly, so the sequence can be shown and tested without
training.
"""

from __future__ import annotations

from typing import Any

from mmar_hydra.automl.space import SearchSpace

__all__ = ["distributions", "sample_sequence"]


def distributions(space: SearchSpace) -> dict[str, Any]:
    """Optuna distributions, one per parameter (enums as the row index)."""
    import optuna

    out: dict[str, Any] = {}
    for p in space.params:
        if p.type == "float":
            out[p.name] = optuna.distributions.UniformDistribution(p.low, p.high)
        else:
            out[p.name] = optuna.distributions.CategoricalDistribution(list(range(len(p.choices))))
    return out


def sample_sequence(space: SearchSpace, n: int, seed: int) -> list[dict[str, Any]]:
    """The first ``n`` samples seeded TPE gives, each told a neutral value so TPE moves on.

    Args:
        space: the parsed search space.
        n: how many trials.
        seed: the sampler seed.
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed), direction="maximize")
    dists = distributions(space)
    out = []
    for _ in range(n):
        trial = study.ask(dists)
        out.append(dict(trial.params))
        study.tell(trial, 0.0)
    return out
