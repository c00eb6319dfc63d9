"""Pareto fronts: which points no other point beats on every axis at once.

A point ``a`` dominates ``b`` when ``a`` is at least as good as ``b`` on every axis and strictly
better on one ("good" per axis: ``"min"`` or ``"max"``). The front is the set of points no
other point dominates; equal points do not dominate each other, so duplicates stay on it.
Points with a NaN coordinate are never on the front (they cannot be compared).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

DIRECTIONS = ("min", "max")


def pareto_front(
    points: Sequence[Sequence[float]] | np.ndarray, directions: Sequence[str]
) -> np.ndarray:
    """Boolean mask ``[N]``: True where ``points[i]`` (``[N, D]``) is non-dominated."""
    x = np.asarray(points, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"points must be [N, D], got shape {x.shape}")
    if len(directions) != x.shape[1]:
        raise ValueError(f"{len(directions)} directions for {x.shape[1]} coordinates")
    bad = [d for d in directions if d not in DIRECTIONS]
    if bad:
        raise ValueError(f"directions must be 'min' or 'max', got {bad}")
    sign = np.array([1.0 if d == "max" else -1.0 for d in directions])
    good = x * sign  # larger is better on every axis now
    valid = ~np.isnan(good).any(axis=1)
    front = valid.copy()
    for i in np.flatnonzero(valid):
        others = good[valid]
        at_least = (others >= good[i]).all(axis=1)
        strictly = (others > good[i]).any(axis=1)
        if (at_least & strictly).any():
            front[i] = False
    return front
