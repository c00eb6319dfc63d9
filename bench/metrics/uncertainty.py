"""Confidence intervals: what is resampled, how, and which quantity the interval is for.

Every automated metric's 95% interval is produced by a small pure function here or in
:mod:`bench.metrics.fidelity_metrics` (numbers in, :class:`Interval` out: value, low, high and a
note that names the unit of resampling, the method and the target), seeded where random, and
checked by a coverage simulation with a known answer (``tests/bench/test_intervals_*.py``).

- Proportions of independent per-image outcomes (caption match; precision, whose outcomes are
  independent given the fixed reference set): Wilson score interval (Wilson 1927), which stays
  inside [0, 1] and is defined at 0 or n successes.
- Means of per-image values (CLIP score, attribute match): BCa bootstrap over images
  (``scipy.stats.bootstrap``, Efron 1987), seeded. Paired comparisons (the same captions and
  seeds scored under two settings) resample the per-caption differences, so the pairing is
  kept, with the exact McNemar test on the discordant pairs.
- Whole-set statistics of the generated set against a fixed reference set (FID, KID, recall):
  delete-d jackknife over generated images (Shao and Wu 1989). The ordinary bootstrap fails for
  FID: its bias (of order 1/n) moves with the number of distinct images in each resample, and
  the intervals come out several times too wide. See the functions for each metric's form.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np

Z95 = 1.959963984540054


class Interval(NamedTuple):
    """A metric value with its 95% interval and a note on how the interval was made (or why
    there is none: then ``low`` and ``high`` are NaN)."""

    value: float
    low: float
    high: float
    note: str


def t_quantile(df: int, confidence: float = 0.95) -> float:
    """Two-sided Student t quantile with ``df`` degrees of freedom (``1.96`` as df -> inf)."""
    from scipy.stats import t

    return float(t.ppf(0.5 + confidence / 2, df))


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a proportion ``successes / n``; ``(nan, nan)`` when n == 0."""
    if n <= 0:
        return math.nan, math.nan
    if not 0 <= successes <= n:
        raise ValueError(f"successes={successes} outside [0, n={n}]")
    p = successes / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # at 0 (or n) successes the bound is exactly 0 (or 1); the subtraction leaves rounding dust
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return low, high


def proportion_interval(successes: int, n: int, *, unit: str, target: str) -> Interval:
    """Wilson 95% interval of ``successes / n`` independent 0/1 outcomes, one per ``unit``."""
    low, high = wilson_interval(successes, n)
    value = successes / n if n > 0 else math.nan
    note = f"Wilson 95% over {n} {unit} (independent 0/1 outcomes); target: {target}"
    return Interval(value, low, high, note)


def _is_degenerate(x: np.ndarray) -> bool:
    return bool(np.all(x == x[0]))


def bootstrap_mean_interval(
    values: Sequence[float] | np.ndarray,
    *,
    num_resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> tuple[float, float]:
    """BCa bootstrap interval of the mean of ``values`` (resampling the values), seeded.

    ``(nan, nan)`` for an empty input; ``(v, v)`` when every value is ``v`` (no resample differs;
    callers that report a metric say so instead, see :func:`bca_mean_interval`). NaN or inf
    inputs are refused.
    """
    from scipy.stats import bootstrap

    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 1 or x.size == 0:
        return math.nan, math.nan
    if not np.all(np.isfinite(x)):
        raise ValueError("bootstrap_mean_interval: values contain NaN or inf")
    if _is_degenerate(x):
        return float(x[0]), float(x[0])
    # the BCa acceleration uses the n leave-one-out means; `batch` keeps that and the resamples
    # at about 4 million numbers at a time (scipy would otherwise build an n x n array)
    batch = max(1, 4_000_000 // x.size)
    res = bootstrap(
        (x,),
        np.mean,
        n_resamples=num_resamples,
        batch=batch,
        vectorized=True,
        confidence_level=confidence,
        method="BCa",
        rng=np.random.default_rng(seed),
    )
    low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
    if not (math.isfinite(low) and math.isfinite(high)):  # pragma: no cover - scipy degenerate
        raise ValueError("bootstrap_mean_interval: BCa failed on these values")
    return low, high


def bca_mean_interval(
    values: Sequence[float] | np.ndarray, *, num_resamples: int, seed: int, unit: str
) -> Interval:
    """Mean of per-``unit`` values with a BCa bootstrap 95% interval resampling the units.

    Target: the expected value of one ``unit``'s score (the mean over the population the units
    were drawn from). When all values are equal the bootstrap has nothing to resample: the
    interval is NaN, and the note says so.
    """
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 1 or x.size == 0:
        return Interval(math.nan, math.nan, math.nan, f"no {unit} to average")
    mean = float(x.mean())
    if x.size < 2 or _is_degenerate(x):
        return Interval(
            mean,
            math.nan,
            math.nan,
            f"no interval: all {x.size} {unit} scored {x[0]:.4g}, so a bootstrap over {unit} "
            "has nothing to resample",
        )
    low, high = bootstrap_mean_interval(x, num_resamples=num_resamples, seed=seed)
    note = (
        f"BCa bootstrap 95% over {x.size} {unit} ({num_resamples} resamples, seed {seed}); "
        f"target: the mean over {unit} drawn like these"
    )
    return Interval(mean, low, high, note)


def paired_comparison(
    base: Sequence[bool] | np.ndarray,
    other: Sequence[bool] | np.ndarray,
    *,
    num_resamples: int = 2000,
    seed: int = 0,
) -> dict[str, float | int]:
    """Compare two paired 0/1 outcomes (item i scored under setting ``base`` and ``other``).

    Returns the difference of the success rates ``other - base``, its BCa bootstrap 95% interval
    (resampling the items' differences, so the pairing is kept; with no discordant pair every
    difference is 0 and so is the interval), the discordant counts (``better``: only ``other``
    succeeds; ``worse``: only ``base`` does) and the exact two-sided McNemar p-value, which is
    1.0 when no pair is discordant.
    """
    from scipy.stats import binomtest

    a = np.asarray(base)
    b = np.asarray(other)
    if a.shape != b.shape or a.ndim != 1 or a.size == 0:
        raise ValueError(
            f"paired_comparison: base has shape {a.shape} and other {b.shape}; give two 1-d "
            "arrays of the same non-zero length (one outcome per item)"
        )
    for name, x in (("base", a), ("other", b)):
        if not np.isin(x, (0, 1)).all():
            raise ValueError(f"paired_comparison: {name} holds values other than 0/1 (bool)")
    a = a.astype(bool)
    b = b.astype(bool)
    better = int((b & ~a).sum())
    worse = int((a & ~b).sum())
    discordant = better + worse
    p = float(binomtest(better, discordant, 0.5).pvalue) if discordant else 1.0
    diff = b.astype(np.float64) - a.astype(np.float64)
    low, high = bootstrap_mean_interval(diff, num_resamples=num_resamples, seed=seed)
    return {
        "n": int(a.size),
        "difference": float(diff.mean()),
        "difference_low": low,
        "difference_high": high,
        "better": better,
        "worse": worse,
        "mcnemar_p": p,
    }


# -- delete-d jackknife -----------------------------------------------------------------------


def jackknife_groups(n: int, groups: int, seed: int) -> list[np.ndarray]:
    """``g = min(groups, n)`` disjoint index sets of ``range(n)``, all of size ``d = n // g``
    (``g = n`` when that makes ``d = 1``: the ordinary jackknife).

    Images go to groups by a seeded permutation; the ``n - g * d`` left over are in no group
    (kept in every replicate). Equal sizes matter: a statistic whose bias depends on the number
    of images (FID) must see the same number in every replicate, or the bias moves with it.
    """
    g = min(groups, n)
    if g < 2:
        return []
    d = n // g
    if d == 1:  # groups of one: the ordinary delete-1 jackknife, every image left out once
        g = n
    order = np.random.default_rng(seed).permutation(n)
    return [np.sort(order[j * d : (j + 1) * d]) for j in range(g)]


def delete_d_variance(replicates: Sequence[float] | np.ndarray, n: int, d: int) -> float:
    """Delete-d jackknife variance ``(n - d) / (d * m) * sum (theta_s - mean)^2`` over the ``m``
    replicates, each computed without ``d`` of the ``n`` units (Shao and Wu 1989, eq. 2.1; with
    ``d = 1`` and all ``n`` replicates this is the ordinary jackknife)."""
    r = np.asarray(replicates, dtype=np.float64)
    return float((n - d) / (d * r.size) * np.sum((r - r.mean()) ** 2))


def grouped_jackknife_se(
    statistic: Callable[[np.ndarray], float], n: int, *, groups: int, seed: int
) -> tuple[float, int, int]:
    """Standard error of ``statistic`` by the delete-a-group jackknife.

    ``statistic(keep)`` gets a boolean mask over the ``n`` units. Returns ``(se, g, d)``: the
    standard error, the number of groups (replicates; use a t quantile with ``g - 1`` degrees of
    freedom) and the group size. ``se`` is NaN when fewer than 2 groups are possible.
    """
    parts = jackknife_groups(n, groups, seed)
    if not parts:
        return math.nan, 0, 0
    reps = []
    for part in parts:
        keep = np.ones(n, dtype=bool)
        keep[part] = False
        reps.append(statistic(keep))
    d = len(parts[0])
    return math.sqrt(delete_d_variance(reps, n, d)), len(parts), d


def half_sampling_se(
    statistic: Callable[[np.ndarray], float], n: int, *, resamples: int, seed: int
) -> tuple[float, int]:
    """Standard error of ``statistic`` by half-sampling (the delete-d jackknife with
    ``d = n - n // 2``, on ``resamples`` random halves, Shao and Wu 1989).

    ``statistic(keep)`` gets a boolean mask selecting ``r = n // 2`` of the ``n`` units. The
    variance is ``r / (n - r)`` times the variance of the half-sample values. Unlike the
    bootstrap it never duplicates a unit, and unlike the delete-1 jackknife it is consistent for
    non-smooth statistics (k-nearest-neighbour radii). Returns ``(se, r)``.
    """
    r = n // 2
    if r < 1 or resamples < 2:
        return math.nan, r
    rng = np.random.default_rng(seed)
    reps = np.empty(resamples)
    for b in range(resamples):
        keep = np.zeros(n, dtype=bool)
        keep[rng.choice(n, r, replace=False)] = True
        reps[b] = statistic(keep)
    return math.sqrt(r / (n - r) * float(np.var(reps, ddof=1))), r
