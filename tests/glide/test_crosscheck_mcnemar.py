"""Cross-check of the paired comparison (``bench.metrics.uncertainty.paired_comparison``, which
``bench.model_eval`` and the model card use) against outside computations of the exact
McNemar test.

The exact McNemar test of paired 0/1 outcomes is the two-sided binomial test of the discordant
pairs: of the ``b + c`` items that exactly one setting gets right, ``b`` favour the second
setting, and under the null hypothesis (both settings equally good) ``b ~ Binomial(b + c, 1/2)``
(McNemar 1947; the exact form e.g. in Agresti, Categorical Data Analysis, 3rd ed., sec. 11.1).
Two independent references, both fed counts the test makes itself from the raw outcomes:

- ``scipy.stats.binomtest(b, b + c, 0.5)`` (two-sided);
- the closed form for p = 1/2, in exact integer arithmetic: the distribution is symmetric, so
  the two-sided p-value is ``min(1, 2 * P(K <= min(b, c)))`` with
  ``P(K <= k) = sum_{i <= k} C(b + c, i) / 2^(b + c)``.

Tolerance: relative 1e-9 (the helper and scipy agree to rounding; the integer form is exact).
The helper's difference of rates must be exactly ``(b - c) / n`` and lie inside its own
bootstrap interval.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

uncertainty = pytest.importorskip(
    "bench.metrics.uncertainty", reason="bench.metrics needs the bench extra"
)
scipy_stats = pytest.importorskip("scipy.stats", reason="scipy is not installed")

REL = 1e-9


def exact_mcnemar_p(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value by exact integer arithmetic (1.0 with no discordant pair)."""
    n = b + c
    if n == 0:
        return 1.0
    tail = Fraction(sum(math.comb(n, i) for i in range(min(b, c) + 1)), 2**n)
    return float(min(Fraction(1), 2 * tail))


def discordant(base: np.ndarray, other: np.ndarray) -> tuple[int, int]:
    b = sum(1 for x, y in zip(base, other, strict=True) if y and not x)
    c = sum(1 for x, y in zip(base, other, strict=True) if x and not y)
    return b, c


def random_pairs(rng: np.random.Generator, n: int, p_base: float, p_other: float, rho: float):
    """Correlated paired outcomes: with probability rho the second copies the first."""
    base = rng.random(n) < p_base
    fresh = rng.random(n) < p_other
    copy = rng.random(n) < rho
    return base, np.where(copy, base, fresh)


def test_exact_form_agrees_with_scipy_binomtest_on_a_grid_of_counts():
    for n in range(0, 61):
        for b in range(n + 1):
            c = n - b
            ref = 1.0 if n == 0 else scipy_stats.binomtest(b, n, 0.5).pvalue
            assert exact_mcnemar_p(b, c) == pytest.approx(ref, rel=REL, abs=0), (b, c)


@pytest.mark.parametrize(
    "n,p_base,p_other,rho",
    [(24, 0.33, 0.5, 0.3), (48, 0.31, 0.44, 0.6), (128, 0.36, 0.47, 0.7), (240, 0.34, 0.46, 0.75),
     (500, 0.5, 0.5, 0.0), (37, 0.9, 0.1, 0.0), (10, 0.5, 0.5, 1.0)],
)  # fmt: skip
def test_paired_comparison_matches_binomtest_and_the_exact_form(n, p_base, p_other, rho):
    rng = np.random.default_rng(n)
    for _ in range(5):
        base, other = random_pairs(rng, n, p_base, p_other, rho)
        out = uncertainty.paired_comparison(base, other, num_resamples=200, seed=0)
        b, c = discordant(base, other)
        assert (out["better"], out["worse"], out["n"]) == (b, c, n)
        scipy_p = 1.0 if b + c == 0 else scipy_stats.binomtest(b, b + c, 0.5).pvalue
        assert out["mcnemar_p"] == pytest.approx(scipy_p, rel=REL, abs=0)
        assert out["mcnemar_p"] == pytest.approx(exact_mcnemar_p(b, c), rel=REL, abs=0)
        assert out["difference"] == pytest.approx((b - c) / n, rel=0, abs=1e-15)
        assert out["difference_low"] <= out["difference"] <= out["difference_high"]


def test_the_model_cards_paired_figures():
    """The figures quoted in MODEL_CARD.md (val, 20 SDE steps): 37 captions only CFG 3 gets
    right and 8 only CFG 1, p = 1.5e-5; 8 better, 2 worse, p = 0.11; 3 of 3, p = 0.25."""
    assert exact_mcnemar_p(37, 8) == pytest.approx(1.5e-5, rel=0.05)
    assert exact_mcnemar_p(8, 2) == pytest.approx(0.109375, rel=REL)
    assert exact_mcnemar_p(3, 0) == 0.25
    base = np.array([True] * 8 + [False] * 37 + [True] * 50 + [False] * 145)
    other = np.array([False] * 8 + [True] * 37 + [True] * 50 + [False] * 145)
    out = uncertainty.paired_comparison(base, other, num_resamples=200)
    assert out["mcnemar_p"] == pytest.approx(scipy_stats.binomtest(37, 45, 0.5).pvalue, rel=REL)
    assert out["difference"] == pytest.approx(29 / 240, rel=1e-12)
