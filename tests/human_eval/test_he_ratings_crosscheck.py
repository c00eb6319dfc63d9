"""Cross-checks of the Bradley-Terry fits on votes without ties against independent code.

1. ``choix`` (test-only dependency; its I-LSR maximum-likelihood estimate), and
2. a plain ``scipy.optimize`` fit written here from the list of votes (per-vote logistic
   likelihood, one condition fixed at 0, BFGS).

Ratings are only defined up to a shift, so strengths are compared after centring each to
mean 0. Tolerance (absolute, per condition): 1e-9 natural-log units of strength (1.7e-7 Elo
points) against choix (observed about 3e-14), 1e-6 (1.7e-4 Elo points; BFGS stops at a
gradient of 1e-6) against the scipy fit (observed about 5e-10). Our fits use a prior so weak
(sd 1e9 Elo points) that it does not move the estimate at these tolerances; the Davidson fit's
tie parameter goes to 0 on votes without ties, so it reduces to Bradley-Terry.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import optimize

from human_eval.ratings.models import ELO_POINTS_PER_NAT, davidson_mle, elo_mle, tally

FLAT = 1e9
TRUTH = np.array([0.0, -150.0, 40.0, 90.0, 200.0, -60.0])  # Elo points


def _votes_without_ties(n: int, seed: int = 11):
    rng = np.random.default_rng(seed)
    k = len(TRUTH)
    a = rng.integers(k, size=n)
    b = (a + rng.integers(1, k, size=n)) % k
    p_a = 1.0 / (1.0 + 10.0 ** ((TRUTH[b] - TRUTH[a]) / 400.0))
    outcome = np.where(rng.random(n) < p_a, 0, 1)
    winner = np.where(outcome == 0, a, b)
    loser = np.where(outcome == 0, b, a)
    return a, b, outcome, winner, loser


def _ours() -> dict[str, np.ndarray]:
    a, b, outcome, _, _ = _votes_without_ties(4000)
    wins, ties = tally(a, b, outcome, len(TRUTH))
    assert ties.sum() == 0
    elo = elo_mle(wins, ties, 0, FLAT) / ELO_POINTS_PER_NAT
    bt = davidson_mle(wins, ties, 0, FLAT)[0] / ELO_POINTS_PER_NAT
    return {"elo": elo - elo.mean(), "bradley_terry": bt - bt.mean()}


def _scipy_fit(winner: np.ndarray, loser: np.ndarray, k: int) -> np.ndarray:
    """Bradley-Terry MLE by BFGS over strengths 1..k-1 (strength 0 fixed at 0)."""

    def nll(free: np.ndarray) -> float:
        s = np.concatenate([[0.0], free])
        return float(np.logaddexp(0.0, s[loser] - s[winner]).sum())

    def grad(free: np.ndarray) -> np.ndarray:
        s = np.concatenate([[0.0], free])
        p_upset = 1.0 / (1.0 + np.exp(s[winner] - s[loser]))  # P(loser beats winner)
        g = np.bincount(loser, p_upset, minlength=k) - np.bincount(winner, p_upset, minlength=k)
        return g[1:]

    res = optimize.minimize(nll, np.zeros(k - 1), jac=grad, method="BFGS", options={"gtol": 1e-6})
    assert res.success, res.message
    s = np.concatenate([[0.0], res.x])
    return s - s.mean()


@pytest.mark.parametrize("system", ["elo", "bradley_terry"])
def test_bradley_terry_without_ties_matches_choix(system: str) -> None:
    choix = pytest.importorskip("choix", reason="choix is a test-only dependency")
    _, _, _, winner, loser = _votes_without_ties(4000)
    data = list(zip(winner.tolist(), loser.tolist(), strict=True))
    theirs = choix.ilsr_pairwise(len(TRUTH), data, alpha=0.0, max_iter=1000, tol=1e-12)
    theirs = theirs - theirs.mean()
    ours = _ours()[system]
    print(f"{system} vs choix: max |difference| {np.max(np.abs(ours - theirs)):.2e} nats")
    assert np.allclose(ours, theirs, rtol=0.0, atol=1e-9)


@pytest.mark.parametrize("system", ["elo", "bradley_terry"])
def test_bradley_terry_without_ties_matches_an_independent_scipy_fit(system: str) -> None:
    _, _, _, winner, loser = _votes_without_ties(4000)
    theirs = _scipy_fit(winner, loser, len(TRUTH))
    ours = _ours()[system]
    print(f"{system} vs scipy BFGS: max |difference| {np.max(np.abs(ours - theirs)):.2e} nats")
    assert np.allclose(ours, theirs, rtol=0.0, atol=1e-6)
