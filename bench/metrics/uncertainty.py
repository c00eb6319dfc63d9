"""Confidence intervals: Wilson for proportions, percentile bootstrap for means, FID spread.

- Proportions (caption-match accuracy, precision, recall): Wilson score interval (Wilson 1927),
  which stays inside [0, 1] and behaves at 0 or n successes, unlike the normal approximation.
- Means of per-image values (CLIP score): percentile bootstrap over images, seeded.
- Paired proportions (the same captions and seeds scored under two settings, e.g. two guidance
  scales): exact McNemar test on the discordant pairs (a two-sided binomial test, p = 1/2, via
  scipy), and a percentile bootstrap interval of the paired difference, resampling captions.
- FID (a whole-set statistic): the generated set is split into ``k`` disjoint subsets; each is
  scored against the full reference statistics. Assuming FID's sampling variance shrinks like
  ``1/n``, the standard deviation at the full size is about ``sd(subset FIDs) / sqrt(k)``; the
  interval is the full-set FID +/- 1.96 times that. Subset FIDs are biased upwards (FID falls as
  n grows), so only their spread is used, never their mean.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

Z95 = 1.959963984540054


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


def bootstrap_mean_interval(
    values: Sequence[float] | np.ndarray,
    *,
    num_resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values`` (NaN inputs are refused)."""
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 1 or x.size == 0:
        return math.nan, math.nan
    if not np.all(np.isfinite(x)):
        raise ValueError("bootstrap_mean_interval: values contain NaN or inf")
    rng = np.random.default_rng(seed)
    means = np.empty(num_resamples)
    for start in range(0, num_resamples, 256):  # chunks keep memory at 256 * n
        stop = min(num_resamples, start + 256)
        idx = rng.integers(0, x.size, size=(stop - start, x.size))
        means[start:stop] = x[idx].mean(axis=1)
    alpha = (1.0 - confidence) / 2
    low, high = np.quantile(means, [alpha, 1 - alpha])
    return float(low), float(high)


def paired_comparison(
    base: Sequence[bool] | np.ndarray,
    other: Sequence[bool] | np.ndarray,
    *,
    num_resamples: int = 2000,
    seed: int = 0,
) -> dict[str, float | int]:
    """Compare two paired 0/1 outcomes (item i scored under setting ``base`` and ``other``).

    Returns the difference of the success rates ``other - base``, its bootstrap 95% interval
    (resampling items, so the pairing is kept), the discordant counts (``better``: only
    ``other`` succeeds; ``worse``: only ``base`` does) and the exact two-sided McNemar p-value,
    which is 1.0 when no pair is discordant.
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


def split_indices(n: int, k: int) -> list[np.ndarray]:
    """``k`` disjoint index sets of ``range(n)`` by ``index % k`` (caption order is random)."""
    return [np.arange(i, n, k) for i in range(k)]


def spread_interval(full_value: float, subset_values: Sequence[float]) -> tuple[float, float]:
    """``full +/- 1.96 * sd(subsets) / sqrt(k)`` (see the module docstring for the assumption)."""
    s = np.asarray(subset_values, dtype=np.float64)
    if s.size < 2 or not np.all(np.isfinite(s)):
        return math.nan, math.nan
    half = Z95 * float(np.std(s, ddof=1)) / math.sqrt(s.size)
    return full_value - half, full_value + half
