"""Inter-rater agreement on the same comparison and question.

The value of a vote is its outcome in the comparison's own terms (a preferred, b preferred,
tie), so the random left/right order does not matter. Only items rated at least twice count.

- Krippendorff's alpha, ``1 - D_o / D_e`` from the coincidence matrix (Krippendorff 2011,
  "Computing Krippendorff's alpha-reliability"): nominal (any two different answers disagree
  equally) and interval on the ordered scale b < tie < a (-1, 0, 1), which treats "b vs tie" as
  a smaller disagreement than "b vs a".
- Fleiss' kappa with a varying number of ratings per item (mean pairwise agreement per item
  against the agreement expected from the pooled category shares).
- Percent agreement: the mean share of agreeing rater pairs per item.

A statistic is NaN when it is undefined (no item rated twice, or every vote in one category).

Intervals resample items (comparisons), as Hayes & Krippendorff (2007) do for alpha: each
replicate draws as many items as there are, with replacement, keeping all votes on each, and
the statistics are recomputed from the weighted items. The raters are held fixed: the
interval says how the agreement of these raters would vary over other comparisons. The interval
is the widened percentile interval of ``bootstrap`` (G = number of items).
"""

from __future__ import annotations

import numpy as np

from human_eval.ratings.bootstrap import widened_percentile_interval

N_CATEGORIES = 3  # outcome codes 0 = a, 1 = b, 2 = tie
_ORDINAL_VALUE = np.array([1.0, -1.0, 0.0])  # a, b, tie on the b < tie < a scale


def item_counts(items: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Category counts per item ``[n_items_with_2+, 3]`` from item ids and outcome codes [N]."""
    items = np.asarray(items)
    values = np.asarray(values, dtype=np.int64)
    if items.size == 0:
        return np.zeros((0, N_CATEGORIES))
    _, inv = np.unique(items, return_inverse=True)
    counts = np.bincount(inv * N_CATEGORIES + values, minlength=(inv.max() + 1) * N_CATEGORIES)
    counts = counts.reshape(-1, N_CATEGORIES).astype(np.float64)
    return counts[counts.sum(1) >= 2]


def _delta2(metric: str) -> np.ndarray:
    if metric == "nominal":
        return 1.0 - np.eye(N_CATEGORIES)
    if metric == "interval":
        return (_ORDINAL_VALUE[:, None] - _ORDINAL_VALUE[None, :]) ** 2
    raise ValueError(f"metric {metric!r}: nominal or interval")


def _ones(counts: np.ndarray) -> np.ndarray:
    return np.ones((1, counts.shape[0]))


def weighted_alpha(counts: np.ndarray, weights: np.ndarray, metric: str = "nominal") -> np.ndarray:
    """Krippendorff's alpha with item weights [B, n_items] (bootstrap multiplicities): [B]."""
    if counts.shape[0] == 0:
        return np.full(weights.shape[0], np.nan)
    m = counts.sum(1)
    per_item = (counts[:, :, None] * counts[:, None, :] - counts[:, :, None] * np.eye(3)) / (
        m - 1.0
    )[:, None, None]  # coincidences of each item [n_items, 3, 3]
    coincidence = (weights @ per_item.reshape(len(m), -1)).reshape(-1, 3, 3)
    n_c = coincidence.sum(-1)
    n = n_c.sum(-1)
    delta2 = _delta2(metric)
    observed = (coincidence * delta2).sum((-1, -2))
    expected = np.einsum("bc,bd,cd->b", n_c, n_c, delta2) / (n - 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(expected > 0, 1.0 - observed / expected, np.nan)


def weighted_percent_agreement(counts: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Mean share of agreeing rater pairs per item, items weighted [B, n_items]: [B]."""
    if counts.shape[0] == 0:
        return np.full(weights.shape[0], np.nan)
    m = counts.sum(1)
    per_item = (counts * (counts - 1)).sum(1) / (m * (m - 1))
    return (weights @ per_item) / weights.sum(1)


def weighted_fleiss_kappa(counts: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Fleiss' kappa (varying ratings per item), items weighted [B, n_items]: [B]."""
    if counts.shape[0] == 0:
        return np.full(weights.shape[0], np.nan)
    p_bar = weighted_percent_agreement(counts, weights)
    pooled = weights @ counts
    share = pooled / pooled.sum(1, keepdims=True)
    p_e = (share**2).sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(p_e < 1.0, (p_bar - p_e) / (1.0 - p_e), np.nan)


def krippendorff_alpha(counts: np.ndarray, metric: str = "nominal") -> float:
    """Krippendorff's alpha from per-item category counts [n_items, 3]."""
    counts = np.asarray(counts, dtype=np.float64)
    return float(weighted_alpha(counts, _ones(counts), metric)[0])


def percent_agreement(counts: np.ndarray) -> float:
    counts = np.asarray(counts, dtype=np.float64)
    return float(weighted_percent_agreement(counts, _ones(counts))[0])


def fleiss_kappa(counts: np.ndarray) -> float:
    """Fleiss' kappa with varying ratings per item."""
    counts = np.asarray(counts, dtype=np.float64)
    return float(weighted_fleiss_kappa(counts, _ones(counts))[0])


# name, function of (counts, weights), largest possible value (intervals are clipped to it;
# percent agreement is also at least 0)
STATISTICS = (
    ("krippendorff_alpha_nominal", lambda c, w: weighted_alpha(c, w, "nominal"), 1.0),
    ("krippendorff_alpha_interval", lambda c, w: weighted_alpha(c, w, "interval"), 1.0),
    ("fleiss_kappa", weighted_fleiss_kappa, 1.0),
    ("percent_agreement", weighted_percent_agreement, 1.0),
)


def agreement_table(
    items: np.ndarray,
    values: np.ndarray,
    *,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> list[tuple[str, float, float, float, int]]:
    """(statistic, value, ci_low, ci_high, n_items) rows for one question.

    Intervals resample items (see the module docstring); NaN with fewer than 2 items.
    """
    counts = item_counts(items, values)
    n = int(counts.shape[0])
    rng = np.random.default_rng(seed)
    boot = (
        rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot).astype(np.float64)
        if n >= 2
        else np.zeros((0, n))
    )
    rows = []
    for name, stat, top in STATISTICS:
        value = float(stat(counts, _ones(counts))[0])
        if n >= 2:
            low, high = widened_percentile_interval(stat(counts, boot), level, n)
            low, high = min(float(low), top), min(float(high), top)
            if name == "percent_agreement":
                low, high = max(low, 0.0), max(high, 0.0)
        else:
            low = high = float("nan")
        rows.append((name, value, low, high, n))
    return rows
