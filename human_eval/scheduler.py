"""Choosing the next comparison for a rater (pure functions; the store feeds them counts).

A *cell* is one question about one pair of conditions. Two strategies:

- ``fewest``: the cell shown least often so far, then within it the comparison (caption) shown
  least often for that question; ties broken at random. Every condition pair gets comparisons
  before any gets many.
- ``uncertain``: the cell maximising ``p (1 - p) / (1 + n)``, with ``p`` the win probability
  predicted by the current Elo ratings and ``n`` the times the cell was shown: pairs whose
  outcome is least predictable, discounted by how much evidence they already have; then the
  least-shown comparison within it.

Only comparisons the rater has never been shown are candidates for these, so no rater sees a
pair twice, except on purpose: for agreement, a study setting asks a share of each rater's votes
to go to

- *overlaps* (``overlap_rate``): items (comparison, question) that other raters have already
  judged and this rater has never seen, those judged by the fewest raters first (so that many
  items get a second judgement before any gets a third), then the least-shown cell;
- *repeats* (``repeat_rate``): the rater's own earlier items, shown again at least
  ``REPEAT_MIN_GAP`` tasks later with left and right swapped (intra-rater consistency).

``due`` decides when: it keeps each count within one vote of ``rate x votes``, with the moment
randomised, so overlaps start with the first votes instead of after every item has been shown
once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

Cell = tuple[str, int, int]  # (question, condition_a_id, condition_b_id)
Item = tuple[int, str]  # (comparison_id, question)
T = TypeVar("T")
REPEAT_MIN_GAP = 5  # a repeat comes at least this many of the rater's tasks after the original


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


def due(rate: float, n_done: int, n_so_far: int, rng: np.random.Generator) -> bool:
    """Whether the next task should be one asked for at ``rate`` (share of a rater's votes),
    given ``n_done`` votes of which ``n_so_far`` were of that kind.

    The deficit ``rate * (n_done + 1) - n_so_far`` is the chance (certain from 1 on), so the
    count stays within one of ``rate * n_done`` whatever the rate, and a rater whose overlaps
    could not be served yet (nobody else had voted) catches up as soon as they can.
    """
    if rate <= 0.0:
        return False
    want = rate * (n_done + 1) - n_so_far
    return want >= 1.0 or (want > 0.0 and rng.random() < want)


def choose_overlap(
    candidates: Sequence[Candidate],
    judged_by: Mapping[Item, int],
    cell_shown: Mapping[Cell, int],
    rng: np.random.Generator,
) -> Candidate | None:
    """Among candidates that other raters have judged (``judged_by[item]`` >= 1 distinct
    raters), one judged by the fewest raters, then in the least-shown cell; None if none."""
    judged = [c for c in candidates if judged_by.get((c.comparison_id, c.question), 0) > 0]
    if not judged:
        return None
    keys = [(judged_by[(c.comparison_id, c.question)], cell_shown.get(c.cell, 0)) for c in judged]
    best = min(keys)
    tied = [c for c, k in zip(judged, keys, strict=True) if k == best]
    tied.sort(key=lambda c: (c.comparison_id, c.question))
    return tied[int(rng.integers(len(tied)))]


def choose_repeat(
    history: Sequence[tuple[int, str, bool]],
    repeated: set[Item],
    rng: np.random.Generator,
    min_gap: int = REPEAT_MIN_GAP,
) -> tuple[int, int] | None:
    """A first showing to show again: ``history`` lists the rater's tasks in order as
    (comparison_id, question, repeatable); returns (index in history, comparison_id) of an
    item shown at least ``min_gap`` tasks ago and not repeated yet, chosen at random."""
    last = len(history) - min_gap
    eligible = [
        i
        for i, (cid, q, ok) in enumerate(history[: max(last, 0)])
        if ok and (cid, q) not in repeated
    ]
    if not eligible:
        return None
    i = eligible[int(rng.integers(len(eligible)))]
    return i, history[i][0]
