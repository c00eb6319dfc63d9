"""Inception Score: a fixed split size with a floor, and the coverage of its interval.

IS is computed within splits: each split's IS uses that split's own estimate of the marginal
p(y), so it depends on the split size s (a split of s images can never score above s). The old
code used min(10, n) splits, so at n = 48 each split held 4-5 images and an ideal 35-class
generator scored 4.56 (34.8 at n = 30,000). Now s is fixed per extractor (from its number of
classes) and IS is NaN, with a note, when fewer than s images exist. The interval is a t
interval over the k = n // s disjoint splits; its target is the expected IS of s images,
estimated here from 4,000 further splits.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from test_intervals_common import (
    SimContext,
    assert_coverage,
    config,
    coverage,
    one_thread,
    report,
    run_metric,
)


def _logits(rng: np.random.Generator, n: int, classes: int, *, confidence: float, prior=None):
    """Logits of n images: a class drawn from ``prior``, ``confidence`` on it, unit noise."""
    prior = np.full(classes, 1.0 / classes) if prior is None else prior
    y = rng.choice(classes, size=n, p=prior)
    x = rng.normal(size=(n, classes))
    x[np.arange(n), y] += confidence
    return x.astype(np.float32)


def split_scores(logits: np.ndarray, s: int) -> np.ndarray:
    """IS of each consecutive split of s rows, as torch-fidelity computes it (float64)."""
    x = logits[: len(logits) // s * s].astype(np.float64).reshape(-1, s, logits.shape[1])
    log_p = x - np.logaddexp.reduce(x, axis=2, keepdims=True)
    p = np.exp(log_p)
    q = p.mean(axis=1, keepdims=True)
    return np.exp((p * (log_p - np.log(q))).sum(axis=2).mean(axis=1))


def test_split_size_floor():
    from bench.metrics.fidelity_metrics import isc_min_split_size, isc_split_size

    assert isc_min_split_size(1008) == 4779 and isc_split_size(1008) == 5000  # Inception
    assert isc_min_split_size(35) == 162 and isc_split_size(35) == 200  # the embedded extractor
    assert isc_min_split_size(10) == 43 and isc_split_size(10) == 50
    assert isc_split_size(10, configured=80) == 80
    # the bound the floor guarantees: an ideal generator over all C classes loses <= 10%
    rng = np.random.default_rng(0)
    ideal = _logits(rng, 200 * 50, 35, confidence=30.0)
    assert split_scores(ideal, 200).mean() >= 0.9 * 35


def test_split_helper_is_torch_fidelity():
    import torch

    from bench._torchvision import import_module

    isc_features_to_metric = import_module("torch_fidelity.metric_isc").isc_features_to_metric
    x = _logits(np.random.default_rng(1), 150, 10, confidence=3.0)
    out = isc_features_to_metric(torch.from_numpy(x), splits=3, shuffle=False)
    assert out["inception_score_mean"] == pytest.approx(split_scores(x, 50).mean(), rel=1e-9)


def test_small_n_is_refused_not_a_split_artefact():
    """48 images of an ideal 35-class generator: the old code said 4.56. Now: NaN with a note
    saying why (never a number, never 0)."""
    rng = np.random.default_rng(2)
    ideal = _logits(rng, 48, 35, confidence=30.0)
    result = run_metric("is", SimContext(config(), logits=ideal))
    assert math.isnan(result.value) and math.isnan(result.ci_low) and math.isnan(result.ci_high)
    assert "splits of 200 images" in result.notes and "there are 48" in result.notes
    # with the split size fixed, more images give the same quantity, not a bigger one
    many = _logits(rng, 400, 35, confidence=30.0)
    result = run_metric("is", SimContext(config(), logits=many))
    assert 0.9 * 35 <= result.value <= 35 and result.ci_low < result.value < result.ci_high
    assert "2 disjoint splits of 200" in result.notes and "t_1" in result.notes


def test_one_split_has_a_value_but_no_interval_and_floor_is_enforced():
    rng = np.random.default_rng(3)
    x = _logits(rng, 70, 10, confidence=3.0)
    one = run_metric("is", SimContext(config(), logits=x))
    assert math.isfinite(one.value) and math.isnan(one.ci_low) and math.isnan(one.ci_high)
    assert "one split of 50 images, 20 images unused; no interval" in one.notes
    below = run_metric("is", SimContext(config(isc_split_size=20), logits=x))
    assert math.isnan(below.value) and "below the floor of 43" in below.notes


SPLIT_SIZE = {10: 50, 35: 200}  # isc_split_size(classes), written out (test_split_size_floor)


def _simulate(*, classes, k, confidence, draws, seed):
    s = SPLIT_SIZE[classes]
    prior = 1.0 / np.arange(1, classes + 1)
    prior /= prior.sum()
    rng = np.random.default_rng(seed)
    truth = split_scores(_logits(rng, 4000 * s, classes, confidence=confidence, prior=prior), s)
    target = float(truth.mean())
    results = [
        run_metric(
            "is",
            SimContext(
                config(seed=seed),
                logits=_logits(rng, k * s, classes, confidence=confidence, prior=prior),
            ),
        )
        for _ in range(draws)
    ]
    sd = float(np.std([r.value for r in results]))
    cov, width = coverage(results, target)
    line = report(f"IS, {k} splits of {s}, {classes} classes", cov, width, draws, target, sd)
    return cov, line


def test_is_interval_covers():
    """Fast version (CI): 5 splits of 50 images, 10 classes."""
    with one_thread():
        cov, line = _simulate(classes=10, k=5, confidence=3.0, draws=300, seed=0)
    assert_coverage(cov, line)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("classes", "k", "confidence"), [(10, 2, 3.0), (35, 5, 5.0), (35, 10, 2.0)]
)
def test_is_interval_covers_slow(classes, k, confidence):
    with one_thread():
        cov, line = _simulate(classes=classes, k=k, confidence=confidence, draws=1000, seed=1)
    assert_coverage(cov, line)
