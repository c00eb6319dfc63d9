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
"""

from __future__ import annotations

import numpy as np

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


def _alpha(counts: np.ndarray, delta2: np.ndarray) -> float:
    if counts.shape[0] == 0:
        return float("nan")
    m = counts.sum(1)
    weighted = counts / (m - 1.0)[:, None]
    coincidence = counts.T @ weighted - np.diag(weighted.sum(0))
    n_c = coincidence.sum(1)
    n = n_c.sum()
    observed = (coincidence * delta2).sum()
    expected = (np.outer(n_c, n_c) * delta2).sum() / (n - 1.0)
    if expected == 0:
        return float("nan")
    return float(1.0 - observed / expected)


def krippendorff_alpha(counts: np.ndarray, metric: str = "nominal") -> float:
    """Krippendorff's alpha from per-item category counts [n_items, 3]."""
    if metric == "nominal":
        delta2 = 1.0 - np.eye(N_CATEGORIES)
    elif metric == "interval":
        delta2 = (_ORDINAL_VALUE[:, None] - _ORDINAL_VALUE[None, :]) ** 2
    else:
        raise ValueError(f"metric {metric!r}: nominal or interval")
    return _alpha(np.asarray(counts, dtype=np.float64), delta2)


def percent_agreement(counts: np.ndarray) -> float:
    if counts.shape[0] == 0:
        return float("nan")
    m = counts.sum(1)
    return float(np.mean(((counts * (counts - 1)).sum(1)) / (m * (m - 1))))


def fleiss_kappa(counts: np.ndarray) -> float:
    """Fleiss' kappa with varying ratings per item."""
    if counts.shape[0] == 0:
        return float("nan")
    p_bar = percent_agreement(counts)
    share = counts.sum(0) / counts.sum()
    p_e = float((share**2).sum())
    if p_e == 1.0:
        return float("nan")
    return float((p_bar - p_e) / (1.0 - p_e))


def agreement_table(items: np.ndarray, values: np.ndarray) -> list[tuple[str, float, int]]:
    """(statistic, value, n_items) rows for one question."""
    counts = item_counts(items, values)
    n = int(counts.shape[0])
    return [
        ("krippendorff_alpha_nominal", krippendorff_alpha(counts, "nominal"), n),
        ("krippendorff_alpha_interval", krippendorff_alpha(counts, "interval"), n),
        ("fleiss_kappa", fleiss_kappa(counts), n),
        ("percent_agreement", percent_agreement(counts), n),
    ]
