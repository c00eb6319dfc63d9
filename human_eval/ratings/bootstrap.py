"""Bootstrap intervals for the pairwise ratings and win rates, resampling a chosen unit.

Units (``--bootstrap-unit``):

- ``rater`` (default): a cluster bootstrap. Each replicate draws as many raters as voted, with
  replacement, and keeps all the votes of each drawn rater. The votes of one rater share that
  rater's taste, so they are not independent; a lab study has a handful of raters with dozens
  of votes each, and only resampling whole raters lets the interval see how much the ratings
  would move with other raters from the same population.
- ``caption``: the same over captions (all votes on comparisons of one caption), for studies
  where the images of a caption matter more than who rates them.
- ``vote``: votes resampled one by one, as Chatbot Arena does with its many voters of few votes
  each. It assumes independent votes and is too narrow when raters disagree with each other.

A cluster replicate sums the per-cluster outcome counts with multinomial weights, so it costs
O(clusters x pairs); the vote bootstrap draws the per-pair outcome counts from one multinomial
(O(pairs)), so a million votes bootstrap as fast as a thousand. Every replicate is fitted by the
same batched Newton solver as the point estimate.

Interval: the percentile interval of the replicates, widened about the replicates' median by
``widening_factor`` = ``t_{G-1} / z * sqrt(G / (G - 1))`` for G resampled units. A bootstrap
over G clusters spreads like a variance estimate with divisor G instead of G - 1, and that
estimate rests on G units, so the critical value is Student's t with G - 1 degrees of freedom
(the usual small-number-of-clusters correction; Cameron, Gelbach & Miller 2008). For 12 raters
the factor is 1.17; for hundreds of units it is about 1. With a single unit there is no
interval (NaN).
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import stats

from human_eval.ratings.models import (
    DEFAULT_PRIOR_SD,
    davidson_mle,
    elo_mle,
    pair_counts,
    win_rate_matrix,
)

BOOTSTRAP_UNITS = ("rater", "caption", "vote")
DEFAULT_UNIT = "rater"
INTERVAL_METHOD = (
    "percentile bootstrap widened about the replicates' median by t(G-1)/z * sqrt(G/(G-1)) "
    "for G resampled units"
)


def cluster_pair_counts(
    a_idx: np.ndarray, b_idx: np.ndarray, outcome: np.ndarray, cluster: np.ndarray, n: int
) -> np.ndarray:
    """Outcome counts per cluster and unordered pair: ``[G, P, 3]`` (i wins, j wins, tie).

    Pairs follow ``np.triu_indices(n, 1)`` (i < j) as in ``models.pair_counts``; ``cluster``
    [N] holds codes 0..G-1.
    """
    a = np.asarray(a_idx, dtype=np.int64)
    b = np.asarray(b_idx, dtype=np.int64)
    o = np.asarray(outcome, dtype=np.int64)
    c = np.asarray(cluster, dtype=np.int64)
    if np.any(a == b):
        raise ValueError("a vote compares a condition with itself")
    I, J = np.triu_indices(n, k=1)
    P = len(I)
    pair_of = np.full((n, n), -1, dtype=np.int64)
    pair_of[I, J] = np.arange(P)
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    col = np.where(o == 2, 2, np.where((o == 0) == (a < b), 0, 1))
    G = int(c.max()) + 1 if c.size else 0
    flat = (c * P + pair_of[lo, hi]) * 3 + col
    return np.bincount(flat, minlength=G * P * 3).reshape(G, P, 3).astype(np.float64)


def counts_to_tallies(counts: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Pair counts ``[B, P, 3]`` back to (wins [B, n, n], ties [B, n, n])."""
    I, J = np.triu_indices(n, k=1)
    B = counts.shape[0]
    w = np.zeros((B, n, n))
    t = np.zeros((B, n, n))
    w[:, I, J] = counts[..., 0]
    w[:, J, I] = counts[..., 1]
    t[:, I, J] = counts[..., 2]
    t[:, J, I] = counts[..., 2]
    return w, t


def resample_clusters(counts: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """``n_boot`` cluster resamples: draw G clusters with replacement, sum their counts.

    ``counts`` [G, P, 3] -> [n_boot, P, 3].
    """
    G = counts.shape[0]
    if G == 0:
        raise ValueError("no votes to bootstrap")
    weights = rng.multinomial(G, np.full(G, 1.0 / G), size=n_boot).astype(np.float64)
    return (weights @ counts.reshape(G, -1)).reshape(n_boot, *counts.shape[1:])


def resample_votes(counts: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """``n_boot`` resamples of single votes: one multinomial over all pair outcomes.

    ``counts`` [P, 3] -> [n_boot, P, 3].
    """
    flat = counts.reshape(-1)
    total = int(round(flat.sum()))
    if total == 0:
        raise ValueError("no votes to bootstrap")
    return rng.multinomial(total, flat / flat.sum(), size=n_boot).reshape(n_boot, *counts.shape)


def resample_tallies(
    wins: np.ndarray, ties: np.ndarray, n_boot: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """``n_boot`` vote-level resamples of a tally: (wins [B, n, n], ties [B, n, n])."""
    n = wins.shape[0]
    _, _, counts = pair_counts(wins, ties)
    return counts_to_tallies(resample_votes(counts, n_boot, rng), n)


def widening_factor(level: float, n_units: int) -> float:
    """``t_{G-1} / z * sqrt(G / (G - 1))`` at ``level`` for G = ``n_units``; NaN for G < 2."""
    if n_units < 2:
        return float("nan")
    q = 0.5 + level / 2.0
    return float(stats.t.ppf(q, n_units - 1) / stats.norm.ppf(q) * np.sqrt(n_units / (n_units - 1)))


def widened_percentile_interval(
    replicates: np.ndarray, level: float, n_units: int
) -> tuple[np.ndarray, np.ndarray]:
    """Interval over axis 0 of ``replicates`` [B, ...] (NaN replicates are skipped).

    The percentile interval's two halves, measured from the replicates' median, are scaled
    by ``widening_factor(level, n_units)``. NaN where every replicate is NaN or G < 2.
    """
    alpha = (1.0 - level) / 2.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns give NaN
        low, mid, high = np.nanpercentile(replicates, [100 * alpha, 50, 100 * (1 - alpha)], axis=0)
    k = widening_factor(level, n_units)
    return mid - k * (mid - low), mid + k * (high - mid)


def reachable(games: np.ndarray, start: int) -> np.ndarray:
    """Conditions linked to ``start`` by a chain of compared pairs: games [..., n, n] -> bool."""
    adj = np.asarray(games) > 0
    reach = np.zeros(adj.shape[:-1], dtype=bool)
    reach[..., start] = True
    for _ in range(adj.shape[-1]):
        grown = reach | np.einsum("...i,...ij->...j", reach, adj).astype(bool)
        if np.array_equal(grown, reach):
            break
        reach = grown
    return reach


def bootstrap_replicates(
    counts: np.ndarray,
    n: int,
    fit_reference: int,
    *,
    by_vote: bool,
    n_boot: int = 1000,
    seed: int = 0,
    chunk: int = 250,
    prior_sd: float = DEFAULT_PRIOR_SD,
) -> dict[str, np.ndarray]:
    """Replicates of both fits (held at ``fit_reference``) and of the win rates.

    ``counts`` [G, P, 3] per cluster (``cluster_pair_counts``); ``by_vote`` resamples single
    votes of the summed counts instead of clusters. Returns ``elo`` and ``bradley_terry``
    [B, n] (Elo points relative to ``fit_reference``), ``winrate`` [B, n, n] and ``linked``
    [B, n] (whether the replicate's votes link each condition to ``fit_reference``).
    """
    if n_boot < 1:
        raise ValueError("n_boot must be >= 1")
    rng = np.random.default_rng(seed)
    out: dict[str, list[np.ndarray]] = {"elo": [], "bradley_terry": [], "winrate": [], "linked": []}
    for start in range(0, n_boot, chunk):
        b = min(chunk, n_boot - start)
        draws = (
            resample_votes(counts.sum(0), b, rng) if by_vote else resample_clusters(counts, b, rng)
        )
        w, t = counts_to_tallies(draws, n)
        out["elo"].append(elo_mle(w, t, fit_reference, prior_sd))
        out["bradley_terry"].append(davidson_mle(w, t, fit_reference, prior_sd)[0])
        out["winrate"].append(win_rate_matrix(w, t))
        out["linked"].append(reachable(w + np.swapaxes(w, 1, 2) + t, fit_reference))
    return {key: np.concatenate(parts) for key, parts in out.items()}


def bootstrap_ratings(
    wins: np.ndarray,
    ties: np.ndarray,
    reference: int,
    *,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    chunk: int = 250,
    prior_sd: float = DEFAULT_PRIOR_SD,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Vote-level intervals from a tally alone: ``{"elo": (low, high), "bradley_terry": ...}``.

    A tally has no rater identities, so this can only resample votes; ``compute.rate_question``
    takes the votes table and resamples raters by default.
    """
    n = wins.shape[0]
    _, _, counts = pair_counts(wins, ties)
    reps = bootstrap_replicates(
        counts[None],
        n,
        reference,
        by_vote=True,
        n_boot=n_boot,
        seed=seed,
        chunk=chunk,
        prior_sd=prior_sd,
    )
    n_votes = int(round(counts.sum()))
    return {
        system: widened_percentile_interval(reps[system], level, n_votes)
        for system in ("elo", "bradley_terry")
    }
