"""Bootstrap confidence intervals for the pairwise ratings.

Resampling N votes with replacement is the same as drawing the per-pair outcome counts from a
multinomial with N trials and the observed proportions, so a replicate costs O(pairs), not O(N):
a million votes bootstrap as fast as a thousand. Every replicate is fitted by the same batched
Newton solver as the point estimate; intervals are percentile intervals.
"""

from __future__ import annotations

import numpy as np

from human_eval.ratings.models import DEFAULT_PRIOR_SD, davidson_mle, elo_mle, pair_counts


def resample_tallies(
    wins: np.ndarray, ties: np.ndarray, n_boot: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """``n_boot`` multinomial resamples of the votes: (wins [B, n, n], ties [B, n, n])."""
    n = wins.shape[0]
    I, J, counts = pair_counts(wins, ties)  # counts [P, 3]
    flat = counts.reshape(-1)
    total = int(round(flat.sum()))
    if total == 0:
        raise ValueError("no votes to bootstrap")
    draws = rng.multinomial(total, flat / flat.sum(), size=n_boot).reshape(n_boot, len(I), 3)
    w = np.zeros((n_boot, n, n))
    t = np.zeros((n_boot, n, n))
    w[:, I, J] = draws[..., 0]
    w[:, J, I] = draws[..., 1]
    t[:, I, J] = draws[..., 2]
    t[:, J, I] = draws[..., 2]
    return w, t


def percentile_interval(
    replicates: np.ndarray, level: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval over axis 0 of ``replicates`` [B, ...]."""
    alpha = (1.0 - level) / 2.0
    low, high = np.percentile(replicates, [100 * alpha, 100 * (1 - alpha)], axis=0)
    return low, high


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
    """Percentile intervals for both systems: ``{"elo": (low, high), "bradley_terry": ...}``.

    ``prior_sd`` must be the Gaussian prior of the point fits, so that the intervals describe
    the estimator that gave the points.
    """
    if n_boot < 1:
        raise ValueError("n_boot must be >= 1")
    rng = np.random.default_rng(seed)
    elo_reps, bt_reps = [], []
    for start in range(0, n_boot, chunk):
        w, t = resample_tallies(wins, ties, min(chunk, n_boot - start), rng)
        elo_reps.append(elo_mle(w, t, reference, prior_sd))
        bt_reps.append(davidson_mle(w, t, reference, prior_sd)[0])
    return {
        "elo": percentile_interval(np.concatenate(elo_reps), level),
        "bradley_terry": percentile_interval(np.concatenate(bt_reps), level),
    }
