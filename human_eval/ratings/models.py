"""Pairwise rating models fitted by maximum likelihood (plain numpy, batched over replicates).

Votes are tallied per ordered pair of conditions: ``wins[i, j]`` counts votes where i was
preferred to j, ``ties[i, j] = ties[j, i]`` counts "can't decide" votes between them.

Elo (GLIDE paper, section 5.2 / appendix A.1): a tie is half a win for each side, giving the win
matrix ``A = wins + ties / 2``; the scores maximise
``sum_ij A_ij log(1 / (1 + 10^((s_j - s_i) / 400)))``, i.e. Bradley-Terry on the Elo scale
(400 points per factor 10 of odds), fitted with one condition held at 0.

Anchoring: ratings are only defined up to a common shift, so the level is a choice. The fits
hold one condition at 0; ``anchor_scores`` then reports them relative to a named condition or
with mean 0. Only differences between ratings are comparable across studies: the GLIDE paper's
Table 1 uses its own anchor (its unguided model is at -88.6, not 0).

Bradley-Terry with ties (Davidson 1970): with strengths ``pi_i = exp(theta_i)`` and a tie
parameter ``nu``, ``P(i > j) = pi_i / D``, ``P(tie) = nu sqrt(pi_i pi_j) / D``,
``D = pi_i + pi_j + nu sqrt(pi_i pi_j)``. Its theta is reported in the same Elo points
(``400 / ln 10`` per nat) relative to the reference, so the two systems can be compared.

Both are multinomial logits that are linear in the parameters, so the log-likelihood is concave
and Newton's method with a backtracking line search converges from zero. A weak Gaussian prior
(standard deviation ``prior_sd`` Elo points, default 2000) keeps the estimate finite when a
condition wins or loses every one of its comparisons. It shrinks a rating towards the
reference by roughly 3/n per cent for a condition with n votes (0.03 % at 100 votes); pass a
larger ``prior_sd`` to make it weaker still.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp

ELO_POINTS_PER_NAT = 400.0 / math.log(10.0)
DEFAULT_PRIOR_SD = 2000.0
OUTCOME_CODES = {"a": 0, "b": 1, "tie": 2}

_ELO_FEATURES = np.array([[1.0, 0.0], [0.0, 1.0]])
_DAVIDSON_FEATURES = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.5, 0.5, 1.0]])


def tally(a_idx: np.ndarray, b_idx: np.ndarray, outcome: np.ndarray, n: int):
    """Count votes into ``(wins [n, n], ties [n, n])``.

    ``a_idx``/``b_idx`` [N] are the two conditions of each vote and ``outcome`` [N] is 0 (a
    preferred), 1 (b preferred) or 2 (tie).
    """
    a_idx = np.asarray(a_idx, dtype=np.int64)
    b_idx = np.asarray(b_idx, dtype=np.int64)
    outcome = np.asarray(outcome, dtype=np.int64)
    if not (a_idx.shape == b_idx.shape == outcome.shape):
        raise ValueError("a_idx, b_idx and outcome must have the same shape")
    if np.any(a_idx == b_idx):
        raise ValueError("a vote compares a condition with itself")
    winner = np.where(outcome == 0, a_idx, b_idx)
    loser = np.where(outcome == 0, b_idx, a_idx)
    dec = outcome != 2
    wins = np.bincount(winner[dec] * n + loser[dec], minlength=n * n).reshape(n, n)
    t = np.bincount(a_idx[~dec] * n + b_idx[~dec], minlength=n * n).reshape(n, n)
    return wins.astype(np.float64), (t + t.T).astype(np.float64)


def pair_counts(wins: np.ndarray, ties: np.ndarray):
    """Per unordered pair i < j: indices ``I, J`` [P] and counts ``[..., P, 3]`` (w, l, t)."""
    n = wins.shape[-1]
    I, J = np.triu_indices(n, k=1)
    counts = np.stack([wins[..., I, J], wins[..., J, I], ties[..., I, J]], axis=-1)
    return I, J, counts


def win_rate_matrix(wins: np.ndarray, ties: np.ndarray) -> np.ndarray:
    """``W[..., i, j]`` = share of i-vs-j votes won by i, ties counted half; NaN where none."""
    games = wins + np.swapaxes(wins, -1, -2) + ties
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = (wins + ties / 2.0) / games
    return np.where(games > 0, rate, np.nan)


def _scatter(I: np.ndarray, J: np.ndarray, d: int, m: int, extra: int):
    """Sparse maps from local (per pair) gradient / Hessian entries to the global ones."""
    local = np.stack([I, J] + ([np.full_like(I, extra)] if d == 3 else []), axis=1)  # [P, d]
    P = len(I)
    rows = np.arange(P * d)
    g_map = sp.csr_array((np.ones(P * d), (rows, local.reshape(-1))), shape=(P * d, m))
    flat = (local[:, :, None] * m + local[:, None, :]).reshape(-1)
    h_map = sp.csr_array(
        (np.ones(P * d * d), (np.arange(P * d * d), flat)), shape=(P * d * d, m * m)
    )
    return local, g_map, h_map


def _fit(
    counts: np.ndarray,
    I: np.ndarray,
    J: np.ndarray,
    n: int,
    features: np.ndarray,
    reference: int,
    prior_sd: float,
    max_iter: int = 100,
    tol: float = 1e-9,
) -> np.ndarray:
    """Newton ascent of the multinomial-logit likelihood. ``counts`` [B, P, C] -> params [B, M]."""
    B, P, C = counts.shape
    d = features.shape[1]
    m = n + (1 if d == 3 else 0)
    local, g_map, h_map = _scatter(I, J, d, m, n)
    ridge = (ELO_POINTS_PER_NAT / prior_sd) ** 2
    free = np.array([k for k in range(m) if k != reference])
    tot = counts.sum(-1)  # [B, P]
    stat = counts @ features  # [B, P, d]

    def loglik(params: np.ndarray) -> np.ndarray:
        eta = params[:, local] @ features.T  # [B, P, C]
        top = eta.max(-1, keepdims=True)
        lse = top[..., 0] + np.log(np.exp(eta - top).sum(-1))
        return (
            (counts * eta).sum((-1, -2)) - (tot * lse).sum(-1) - 0.5 * ridge * (params**2).sum(-1)
        )

    params = np.zeros((B, m))
    ll = loglik(params)
    for _ in range(max_iter):
        eta = params[:, local] @ features.T
        eta -= eta.max(-1, keepdims=True)
        p = np.exp(eta)
        p /= p.sum(-1, keepdims=True)  # [B, P, C]
        mean = p @ features  # [B, P, d]
        g_loc = stat - tot[..., None] * mean
        second = np.einsum("bpc,cr,cs->bprs", p, features, features)
        h_loc = -tot[..., None, None] * (second - mean[..., :, None] * mean[..., None, :])
        grad = np.asarray(g_loc.reshape(B, P * d) @ g_map) - ridge * params
        hess = np.asarray(h_loc.reshape(B, P * d * d) @ h_map).reshape(B, m, m)
        hess -= ridge * np.eye(m)
        h_ff = hess[:, free][:, :, free]
        step = np.zeros_like(params)
        step[:, free] = np.linalg.solve(-h_ff, grad[:, free][..., None])[..., 0]
        size = np.ones(B)
        new = params + step
        new_ll = loglik(new)
        for _ in range(40):
            bad = new_ll < ll - 1e-12 * np.abs(ll)
            if not bad.any():
                break
            size[bad] /= 2.0
            new[bad] = params[bad] + size[bad, None] * step[bad]
            new_ll = np.where(bad, loglik(new), new_ll)
        params, ll = new, new_ll
        if np.max(np.abs(size[:, None] * step)) < tol:
            break
    return params


def elo_mle(
    wins: np.ndarray, ties: np.ndarray, reference: int = 0, prior_sd: float = DEFAULT_PRIOR_SD
) -> np.ndarray:
    """Elo scores [..., n] (points, reference = 0) from ``wins``/``ties`` [..., n, n]."""
    wins = np.asarray(wins, dtype=np.float64)
    batched = wins.ndim == 3
    w = wins if batched else wins[None]
    t = np.asarray(ties, dtype=np.float64)
    t = t if batched else t[None]
    n = w.shape[-1]
    I, J, c = pair_counts(w, t)
    counts = np.stack([c[..., 0] + c[..., 2] / 2.0, c[..., 1] + c[..., 2] / 2.0], axis=-1)
    theta = _fit(counts, I, J, n, _ELO_FEATURES, reference, prior_sd)
    out = theta * ELO_POINTS_PER_NAT
    return out if batched else out[0]


def davidson_mle(
    wins: np.ndarray, ties: np.ndarray, reference: int = 0, prior_sd: float = DEFAULT_PRIOR_SD
) -> tuple[np.ndarray, np.ndarray]:
    """Bradley-Terry-Davidson fit: (scores [..., n] in Elo points, reference = 0; nu [...])."""
    wins = np.asarray(wins, dtype=np.float64)
    batched = wins.ndim == 3
    w = wins if batched else wins[None]
    t = np.asarray(ties, dtype=np.float64)
    t = t if batched else t[None]
    n = w.shape[-1]
    I, J, c = pair_counts(w, t)
    params = _fit(c, I, J, n, _DAVIDSON_FEATURES, reference, prior_sd)
    scores, nu = params[:, :n] * ELO_POINTS_PER_NAT, np.exp(params[:, n])
    return (scores, nu) if batched else (scores[0], nu[0])


def anchor_scores(
    scores: np.ndarray, anchor: int | None, rated: np.ndarray, members: np.ndarray | None = None
) -> np.ndarray:
    """Scores [..., n] shifted so the condition ``anchor`` is 0, or (``anchor=None``) so the
    mean over ``members`` [n] (default: all of ``rated``) is 0; NaN where ``rated`` [..., n]
    is False.

    Under the mean anchor a row that lacks one of the members is NaN throughout, since its
    mean would be over other conditions.
    """
    scores = np.asarray(scores, dtype=np.float64)
    rated = np.broadcast_to(np.asarray(rated, dtype=bool), scores.shape)
    kept = np.where(rated, scores, np.nan)
    if anchor is not None:
        return kept - kept[..., anchor : anchor + 1]
    if members is None and rated.ndim != 1:
        raise ValueError("give the members of the mean for a batch of rows")
    members = rated if members is None else np.asarray(members, dtype=bool)
    return kept - kept[..., members].mean(-1, keepdims=True)


def online_elo(
    a_idx: np.ndarray,
    b_idx: np.ndarray,
    outcome: np.ndarray,
    n: int,
    k: float = 4.0,
    initial: float = 1000.0,
) -> np.ndarray:
    """Sequential (online) Elo in vote order, ties as half a win: ratings [n].

    Depends on the order of the votes, unlike the maximum-likelihood fits; K = 4 as used by
    Chatbot Arena.
    """
    r = np.full(n, initial, dtype=np.float64)
    score = {0: 1.0, 1: 0.0, 2: 0.5}
    for a, b, o in zip(np.asarray(a_idx), np.asarray(b_idx), np.asarray(outcome), strict=True):
        expect = 1.0 / (1.0 + 10.0 ** ((r[b] - r[a]) / 400.0))
        delta = k * (score[int(o)] - expect)
        r[a] += delta
        r[b] -= delta
    return r
