"""The trial sequence: Optuna's seeded TPE over a :class:`SearchSpace`.

Float ranges are uniform float distributions, enums categorical over the row index (the rows
hold lists and booleans, which Optuna's categorical values cannot). The same seed gives the
same sequence. A sample equal to one already trained is told that trial's value and asked
again, so the budget counts distinct trials; when the space has no new point left (a small
enum grid), :meth:`TrialSampler.ask` returns None.

Written for Optuna >= 4 (tested with 5.1; `FloatDistribution`), and still reads the 2.10 API.
"""

from __future__ import annotations

from typing import Any

from mmar_hydra.reader.search_space import SearchSpace

__all__ = ["TrialSampler", "distributions", "sample_sequence"]

_RETRIES = 50  # asks per trial before the space counts as exhausted


def distributions(space: SearchSpace) -> dict[str, Any]:
    """Optuna distributions, one per parameter (enums as the row index)."""
    import optuna

    dists = optuna.distributions
    floats = getattr(dists, "FloatDistribution", None) or dists.UniformDistribution
    out: dict[str, Any] = {}
    for p in space.params:
        if p.type == "float":
            out[p.name] = floats(p.low, p.high)
        else:
            out[p.name] = dists.CategoricalDistribution(list(range(len(p.choices))))
    return out


def _key(params: dict[str, Any]) -> tuple:
    return tuple(
        sorted((k, round(v, 12) if isinstance(v, float) else v) for k, v in params.items())
    )


class TrialSampler:
    """Ask / tell over one search space, maximizing the key metric.

    Args:
        space: the parsed search space.
        seed: the TPE sampler seed.
    """

    sampler_name = "optuna.samplers.TPESampler"

    def __init__(self, space: SearchSpace, seed: int) -> None:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.seed = seed
        self._study = optuna.create_study(
            sampler=optuna.samplers.TPESampler(seed=seed), direction="maximize"
        )
        self._dists = distributions(space)
        self._seen: dict[tuple, float | None] = {}
        self._pending: Any = None

    def ask(self) -> dict[str, Any] | None:
        """The next distinct sample, or None when TPE finds no new point."""
        for _ in range(_RETRIES):
            trial = self._study.ask(self._dists)
            key = _key(trial.params)
            if key not in self._seen:
                self._pending = (trial, key)
                return dict(trial.params)
            self._tell(trial, self._seen[key])  # known result: TPE learns it again, moves on
        return None

    def tell(self, value: float | None) -> None:
        """The key metric of the last asked sample (None / NaN: the trial failed)."""
        trial, key = self._pending
        self._seen[key] = value
        self._tell(trial, value)
        self._pending = None

    def _tell(self, trial: Any, value: float | None) -> None:
        import math

        import optuna

        if value is None or math.isnan(value):
            self._study.tell(trial, state=optuna.trial.TrialState.FAIL)
        else:
            self._study.tell(trial, float(value))


def sample_sequence(space: SearchSpace, n: int, seed: int) -> list[dict[str, Any]]:
    """The first ``n`` distinct samples of seeded TPE, each told a neutral value.

    Args:
        space: the parsed search space.
        n: how many trials.
        seed: the sampler seed.
    """
    sampler = TrialSampler(space, seed)
    out = []
    for _ in range(n):
        sample = sampler.ask()
        if sample is None:
            break
        out.append(sample)
        sampler.tell(0.0)
    return out
