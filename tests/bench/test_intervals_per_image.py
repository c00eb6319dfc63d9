"""Per-image metrics: BCa bootstrap over images (CLIP score, attribute match), Wilson for the
caption-match proportion, and paired comparisons that stay paired; their coverage, and that
attribute_match follows --bootstrap and --seed.

Known answers: the per-image scores are drawn from distributions with a known mean (a skewed
CLIP-like score, a Beta partial-credit score, Bernoulli matches).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import binom
from test_intervals_common import SimContext, assert_coverage, config, coverage, report, run_metric


def _clip_like(rng, n):  # 100 * cos: a skewed distribution with mean 30 - 2 * 2 = 26
    return 30.0 - rng.gamma(2.0, 2.0, size=n)


def _partial_credit(rng, n):  # fraction of attributes recognised, mean 5 / 6.5
    return rng.beta(5.0, 1.5, size=n)


CASES = {
    "clip_score": (_clip_like, 26.0, math.sqrt(8.0)),
    "attribute_match": (_partial_credit, 5.0 / 6.5, math.sqrt(5 * 1.5 / (6.5**2 * 7.5))),
}


def _simulate(metric, *, n, draws, seed, resamples):
    draw, mean, sd = CASES[metric]
    rng = np.random.default_rng(seed)
    cfg = config(bootstrap=resamples, seed=seed)
    results = [run_metric(metric, SimContext(cfg, scores=draw(rng, n))) for _ in range(draws)]
    cov, width = coverage(results, mean)
    line = report(f"{metric}, n={n} images", cov, width, draws, mean, sd / math.sqrt(n))
    return cov, line, results


@pytest.mark.parametrize("metric", ["clip_score", "attribute_match"])
def test_bca_covers(metric):
    """Fast version (CI)."""
    cov, line, results = _simulate(metric, n=48, draws=200, seed=0, resamples=1000)
    assert_coverage(cov, line)
    assert "BCa bootstrap 95% over 48 images (1000 resamples, seed 0)" in results[0].notes


@pytest.mark.slow
@pytest.mark.parametrize("metric", ["clip_score", "attribute_match"])
@pytest.mark.parametrize("n", [24, 48, 400])
def test_bca_covers_slow(metric, n):
    cov, line, _ = _simulate(metric, n=n, draws=1000, seed=1, resamples=2000)
    assert_coverage(cov, line)


def test_caption_match_wilson_exact_coverage():
    """Exact coverage of the Wilson interval (a sum over the binomial), n = 48 images."""
    from bench.metrics.uncertainty import wilson_interval

    n = 48
    for p in (0.1, 0.3, 0.5, 0.7, 0.9):
        covered = [
            k for k in range(n + 1) if wilson_interval(k, n)[0] <= p <= wilson_interval(k, n)[1]
        ]
        cov = float(binom.pmf(covered, n, p).sum())
        line = f"[coverage] caption_match (Wilson), n={n}, p={p}: {cov:.3f} (exact)"
        print(line)
        assert_coverage(cov, line)
    matches = np.array([True] * 12 + [False] * 36)
    result = run_metric("caption_match", SimContext(config(), scores=matches))
    assert result.value == 0.25 and result.ci_low < 0.25 < result.ci_high
    assert "Wilson 95% over 48 images" in result.notes


def test_paired_comparison_stays_paired_and_covers():
    """Two settings scored on the same 48 captions: the items are strongly correlated, so the
    paired interval is much narrower than two independent ones, and still covers."""
    from bench.metrics.uncertainty import paired_comparison

    rng = np.random.default_rng(4)
    n, draws = 48, 200
    hits, widths, diffs = [], [], []
    for _ in range(draws):
        easy = rng.random(n)  # how easy each caption is, shared by both settings
        base = easy < 0.4
        other = easy < 0.5  # true difference 0.1
        flip = rng.random(n) < 0.1  # some noise on each
        other = np.where(flip, ~other, other)
        out = paired_comparison(base, other, num_resamples=1000, seed=0)
        true_diff = 0.5 * 0.9 + 0.5 * 0.1 - 0.4
        hits.append(out["difference_low"] <= true_diff <= out["difference_high"])
        widths.append(out["difference_high"] - out["difference_low"])
        diffs.append(out["difference"])
    cov = float(np.mean(hits))
    width, sd = float(np.mean(widths)), float(np.std(diffs))
    line = report(f"paired difference, n={n}", cov, width, draws, 0.1, sd)
    assert_coverage(cov, line)
    unpaired = 2 * 1.96 * math.sqrt((0.4 * 0.6 + 0.5 * 0.5) / n)  # two independent samples: 0.40
    assert np.mean(widths) < 0.7 * unpaired


def test_attribute_match_follows_bootstrap_and_seed():
    scores = _partial_credit(np.random.default_rng(5), 48)

    def run(**fields):
        return run_metric("attribute_match", SimContext(config(**fields), scores=scores))

    a = run(bootstrap=500, seed=1)
    assert (a.ci_low, a.ci_high) == ((b := run(bootstrap=500, seed=1)).ci_low, b.ci_high)
    other_seed = run(bootstrap=500, seed=2)
    other_count = run(bootstrap=2000, seed=1)
    assert (other_seed.ci_low, other_seed.ci_high) != (a.ci_low, a.ci_high)
    assert (other_count.ci_low, other_count.ci_high) != (a.ci_low, a.ci_high)
    assert "(500 resamples, seed 1)" in a.notes and "(2000 resamples, seed 1)" in other_count.notes


def test_attribute_match_seed_and_resamples_are_in_its_stored_key(tmp_path):
    """A stored attribute_match is recomputed when --bootstrap or --seed changes."""
    from bench.metrics.context import EvalConfig, Evaluator

    def key(**fields):
        cfg = EvalConfig(metrics=("attribute_match",), cache_dir=tmp_path, **fields)
        ev = Evaluator(cfg, reference_paths=[], resolution=64, caption_kind="synthetic")
        return ev.family_key("caption_match")

    assert key() == key()
    assert key(bootstrap=500) != key() and key(seed=3) != key()


def test_identical_scores_give_no_interval_not_a_zero_width_one():
    result = run_metric("attribute_match", SimContext(config(), scores=np.ones(48)))
    assert result.value == 1.0 and math.isnan(result.ci_low) and math.isnan(result.ci_high)
    assert "nothing to resample" in result.notes
