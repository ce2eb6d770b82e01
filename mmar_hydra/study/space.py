"""A search space from Hydra's sweep grammar: ``interval``, ``range``, ``choice``, ``tag(log, ...)``.

The same grammar as Hydra's Optuna sweeper, mapped onto today's Optuna distributions:

- ``interval(a, b)``: a uniform float (an int when both ends are ints); ``tag(log, interval(...))``
  samples on a log scale;
- ``range(a, b[, step])``: ints (floats when a bound is a float) with that step;
- ``choice(x, y, ...)`` / ``x,y``: categorical; a list or dict value is kept as its override text
  (``[8,16,32]``), which Hydra parses back when the job starts;
- anything else is a fixed override every job gets.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from mmar_hydra.errors import ConfigError

__all__ = ["parse_space", "as_override"]


def _categorical(override: Any) -> Any:
    from hydra.core.override_parser.types import Transformer
    from optuna.distributions import CategoricalDistribution

    choices = []
    for value in override.sweep_iterator(transformer=Transformer.encode):
        choices.append(value if isinstance(value, str | int | float | bool | None) else str(value))
    return CategoricalDistribution(choices)


def _distribution(override: Any) -> Any:
    from optuna.distributions import FloatDistribution, IntDistribution

    value = override.value()
    if override.is_choice_sweep():
        return _categorical(override)
    if override.is_range_sweep():
        if value.shuffle:
            return _categorical(override)
        if any(isinstance(v, float) for v in (value.start, value.stop, value.step)):
            return FloatDistribution(value.start, value.stop - value.step, step=value.step)
        return IntDistribution(int(value.start), int(value.stop) - 1, step=int(value.step))
    if override.is_interval_sweep():
        log = "log" in value.tags
        if isinstance(value.start, int) and isinstance(value.end, int):
            return IntDistribution(value.start, value.end, log=log)
        return FloatDistribution(float(value.start), float(value.end), log=log)
    raise ConfigError(
        f"the sweep {override.input_line!r} has no Optuna distribution",
        path=override.get_key_element(),
        expected="interval(a,b), tag(log,interval(a,b)), range(a,b[,step]) or choice(x,y,...)",
    )


def parse_space(arguments: Iterable[str]) -> tuple[dict[str, Any], list[str]]:
    """``({key: distribution}, [fixed overrides])`` from sweep overrides (later ones win).

    Args:
        arguments: ``key=value`` overrides: the sweeper's ``params`` and the command line's.
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import OverrideParseException

    try:
        parsed = OverridesParser.create().parse_overrides(list(arguments))
    except OverrideParseException as exc:
        raise ConfigError(
            f"cannot read the search space: {exc}",
            path="hydra.sweeper.params",
            expected="Hydra's sweep grammar, e.g. learning_rate: interval(0.0005, 0.01)",
        ) from None
    space: dict[str, Any] = {}
    fixed: dict[str, str] = {}
    for override in parsed:
        key = override.get_key_element()
        space.pop(key, None)
        fixed.pop(key, None)
        if override.is_sweep_override():
            space[key] = _distribution(override)
        else:
            fixed[key] = str(override.input_line)
    return space, list(fixed.values())


def as_override(key: str, value: Any) -> str:
    """``key=value`` as a job override (strings were encoded by the grammar: kept as they are)."""
    if isinstance(value, bool):
        return f"{key}={str(value).lower()}"
    return f"{key}={value}"
