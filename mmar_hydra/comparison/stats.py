"""Paired statistics of per-case results: is a variant's difference from the baseline real?

For one metric (or one class of it) and the cases both runs have a value for:

- the mean and the median of the per-case differences (variant - baseline), each with a
  seeded paired bootstrap 95 % confidence interval (``scipy.stats.bootstrap``, ``paired=True``,
  BCa; the percentile interval where BCa cannot be computed);
- the two-sided Wilcoxon signed-rank p-value (``scipy.stats.wilcoxon``; zero differences
  dropped, scipy's exact distribution for small samples);
- with several variants against one baseline, Holm's step-down correction of those p-values
  (one family per metric and class). scipy has Benjamini-Hochberg, not Holm: :func:`holm` is
  the four lines of the method.
"""

from __future__ import annotations

import inspect
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from scipy import stats as st

__all__ = ["PairedStats", "paired_stats", "holm", "with_holm", "ALPHA", "RESAMPLES"]

ALPHA = 0.05
RESAMPLES = 9999
# scipy >= 1.15 takes rng=, older ones random_state= (both seed the same Generator)
_RNG_KEY = "rng" if "rng" in inspect.signature(st.bootstrap).parameters else "random_state"


@dataclass(frozen=True)
class PairedStats:
    """One variant against the baseline on one metric column.

    Args:
        n: the paired cases (both have a value that is not NaN).
        baseline_mean: the baseline's mean over those cases.
        variant_mean: the variant's mean over those cases.
        mean_diff: mean of (variant - baseline).
        mean_ci: its bootstrap 95 % CI.
        median_diff: median of (variant - baseline).
        median_ci: its bootstrap 95 % CI.
        p_value: Wilcoxon signed-rank, two-sided (None: fewer than 2 cases).
        p_holm: ``p_value`` after Holm's correction over the variants (set by :func:`with_holm`).
        nonzero: the differences that are not 0 (the ones Wilcoxon ranks).
        ci_method: ``BCa``, ``percentile`` or ``exact`` (every difference the same).
    """

    n: int
    baseline_mean: float
    variant_mean: float
    mean_diff: float
    mean_ci: tuple[float, float]
    median_diff: float
    median_ci: tuple[float, float]
    p_value: float | None
    p_holm: float | None
    nonzero: int
    ci_method: str

    def significant(self, alpha: float = ALPHA) -> bool:
        p = self.p_holm if self.p_holm is not None else self.p_value
        return p is not None and p < alpha


def _mean_diff(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(y - x, axis=axis)


def _median_diff(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.median(y - x, axis=axis)


def _ci(a: np.ndarray, b: np.ndarray, statistic: object, seed: int) -> tuple[tuple, str]:
    """The paired bootstrap CI of ``statistic(a, b)``, BCa or else percentile."""
    for method in ("BCa", "percentile"):
        with warnings.catch_warnings():  # BCa on near-degenerate data: we fall back instead
            warnings.simplefilter("ignore")
            result = st.bootstrap(
                (a, b),
                statistic,
                paired=True,
                vectorized=True,
                n_resamples=RESAMPLES,
                confidence_level=1 - ALPHA,
                method=method,
                **{_RNG_KEY: np.random.default_rng(seed)},
            )
        low, high = float(result.confidence_interval.low), float(result.confidence_interval.high)
        if not (math.isnan(low) or math.isnan(high)):
            return (low, high), method
    return (math.nan, math.nan), "none"


def _wilcoxon(diff: np.ndarray) -> float:
    if not np.any(diff):  # no case differs: nothing to rank, no evidence of a difference
        return 1.0
    with warnings.catch_warnings():  # ties: scipy switches to the normal approximation itself
        warnings.simplefilter("ignore")
        return float(st.wilcoxon(diff).pvalue)


def paired_stats(baseline: Sequence[float], variant: Sequence[float], seed: int = 0) -> PairedStats:
    """The paired statistics of two equally long per-case value lists (NaN pairs dropped).

    Args:
        baseline: the baseline's per-case values.
        variant: the variant's values of the same cases, in the same order.
        seed: seeds the bootstrap (the same seed gives the same intervals).
    """
    a, b = np.asarray(baseline, dtype=float), np.asarray(variant, dtype=float)
    keep = ~(np.isnan(a) | np.isnan(b))
    a, b = a[keep], b[keep]
    n = len(a)
    diff = b - a
    nan = math.nan
    if n == 0:
        return PairedStats(0, nan, nan, nan, (nan, nan), nan, (nan, nan), None, None, 0, "none")
    mean_diff, median_diff = float(np.mean(diff)), float(np.median(diff))
    if n < 2 or np.ptp(diff) == 0:  # one case, or every case moved by the same amount
        mean_ci, median_ci, method = (mean_diff, mean_diff), (median_diff, median_diff), "exact"
    else:
        mean_ci, method = _ci(a, b, _mean_diff, seed)
        median_ci, _ = _ci(a, b, _median_diff, seed)
    return PairedStats(
        n=n,
        baseline_mean=float(np.mean(a)),
        variant_mean=float(np.mean(b)),
        mean_diff=mean_diff,
        mean_ci=mean_ci,
        median_diff=median_diff,
        median_ci=median_ci,
        p_value=_wilcoxon(diff) if n >= 2 else None,
        p_holm=None,
        nonzero=int(np.count_nonzero(diff)),
        ci_method=method,
    )


def holm(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm's step-down adjusted p-values, in the input's order (None stays None).

    The i-th smallest of m p-values is multiplied by (m - i + 1); the adjusted values are made
    non-decreasing in that order and capped at 1.
    """
    present = [(p, i) for i, p in enumerate(p_values) if p is not None]
    m = len(present)
    out: list[float | None] = [None] * len(p_values)
    running = 0.0
    for rank, (p, i) in enumerate(sorted(present)):
        running = max(running, min(1.0, (m - rank) * p))
        out[i] = running
    return out


def with_holm(results: Sequence[PairedStats]) -> list[PairedStats]:
    """The results of one family (every variant against the baseline) with ``p_holm`` set."""
    adjusted = holm([r.p_value for r in results])
    return [replace(r, p_holm=p) for r, p in zip(results, adjusted, strict=True)]
