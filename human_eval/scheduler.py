"""Choosing the next comparison for a rater (pure functions; the store feeds them counts).

A *cell* is one question about one pair of conditions. Two strategies:

- ``fewest``: the cell shown least often so far, then within it the comparison (caption) shown
  least often for that question; ties broken at random. Every condition pair gets comparisons
  before any gets many.
- ``uncertain``: the cell maximising ``p (1 - p) / (1 + n)``, with ``p`` the win probability
  predicted by the current Elo ratings and ``n`` the times the cell was shown: pairs whose
  outcome is least predictable, discounted by how much evidence they already have; then the
  least-shown comparison within it.

Only comparisons the rater has never been shown are candidates, so no rater sees a pair twice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

Cell = tuple[str, int, int]  # (question, condition_a_id, condition_b_id)
T = TypeVar("T")


@dataclass(frozen=True)
class Candidate:
    comparison_id: int
    question: str
    condition_a: int
    condition_b: int

    @property
    def cell(self) -> Cell:
        return (self.question, self.condition_a, self.condition_b)


def win_probability(rating_a: float, rating_b: float) -> float:
    """P(a beats b) under Elo ratings (points on the 400 / log10 scale)."""
    return 1.0 / (1.0 + 10.0 ** ((rating_b - rating_a) / 400.0))


def _pick_min(keys: Sequence[T], values: Sequence[float], rng: np.random.Generator) -> T:
    best = min(values)
    tied = [k for k, v in zip(keys, values, strict=True) if v == best]
    return tied[int(rng.integers(len(tied)))]


def choose(
    candidates: Sequence[Candidate],
    cell_shown: Mapping[Cell, int],
    comparison_shown: Mapping[tuple[int, str], int],
    strategy: str,
    rng: np.random.Generator,
    ratings: Mapping[str, Mapping[int, float]] | None = None,
) -> Candidate | None:
    """The next (comparison, question) to show, or None when there is no candidate.

    ``cell_shown[cell]`` and ``comparison_shown[(comparison_id, question)]`` count assignments
    so far (to anyone; missing = 0). ``ratings[question][condition_id]`` are current Elo ratings,
    used by ``uncertain`` (missing = 0, i.e. no information yet).
    """
    if not candidates:
        return None
    by_cell: dict[Cell, list[Candidate]] = {}
    for cand in candidates:
        by_cell.setdefault(cand.cell, []).append(cand)
    cells = sorted(by_cell)
    if strategy == "fewest":
        cell = _pick_min(cells, [cell_shown.get(c, 0) for c in cells], rng)
    elif strategy == "uncertain":
        ratings = ratings or {}
        scores = []
        for question, a, b in cells:
            r = ratings.get(question, {})
            p = win_probability(r.get(a, 0.0), r.get(b, 0.0))
            scores.append(-p * (1.0 - p) / (1.0 + cell_shown.get((question, a, b), 0)))
        cell = _pick_min(cells, scores, rng)
    else:
        raise ValueError(f"unknown strategy {strategy!r}")
    members = sorted(by_cell[cell], key=lambda c: c.comparison_id)
    return _pick_min(
        members, [comparison_shown.get((m.comparison_id, m.question), 0) for m in members], rng
    )
