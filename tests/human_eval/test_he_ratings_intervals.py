"""Building blocks of the intervals: cluster counts, resampling, widening, anchors, agreement."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from human_eval.bench_ratings import conditions_table, simulate_votes
from human_eval.ratings.agreement import (
    agreement_table,
    fleiss_kappa,
    item_counts,
    krippendorff_alpha,
    percent_agreement,
    weighted_alpha,
    weighted_fleiss_kappa,
    weighted_percent_agreement,
)
from human_eval.ratings.bootstrap import (
    cluster_pair_counts,
    counts_to_tallies,
    reachable,
    resample_clusters,
    widened_percentile_interval,
    widening_factor,
)
from human_eval.ratings.compute import (
    RatingSettings,
    anchor_text,
    compute_ratings,
    rate_question,
)
from human_eval.ratings.models import anchor_scores, pair_counts, tally

NAMES = ["c0", "c1", "c2", "c3"]


def _votes(seed: int = 0, n: int = 600, raters: int = 8) -> pd.DataFrame:
    return simulate_votes(np.array([0.0, 80.0, 160.0, -40.0]), n, seed=seed, n_raters=raters)


def test_cluster_counts_sum_to_the_tally() -> None:
    rng = np.random.default_rng(0)
    a = rng.integers(4, size=300)
    b = (a + rng.integers(1, 4, size=300)) % 4
    o = rng.integers(3, size=300)
    cluster = rng.integers(5, size=300)
    counts = cluster_pair_counts(a, b, o, cluster, 4)
    assert counts.shape == (5, 6, 3)
    wins, ties = tally(a, b, o, 4)
    assert np.array_equal(counts.sum(0), pair_counts(wins, ties)[2])
    w, t = counts_to_tallies(counts.sum(0)[None], 4)
    assert np.array_equal(w[0], wins) and np.array_equal(t[0], ties)
    own = cluster == 3
    w3, _ = tally(a[own], b[own], o[own], 4)
    assert np.array_equal(counts[3, :, :2], pair_counts(w3, np.zeros((4, 4)))[2][:, :2])


def test_cluster_resamples_keep_whole_clusters() -> None:
    counts = np.zeros((3, 1, 3))
    counts[:, 0, 0] = [1.0, 10.0, 100.0]  # cluster sizes tell which were drawn
    draws = resample_clusters(counts, 500, np.random.default_rng(1))[:, 0, 0]
    # each replicate is a sum of 3 whole clusters: its digits count the draws of each
    digits = np.stack([draws % 10, draws // 10 % 10, draws // 100], axis=1)
    assert np.all(digits.sum(1) == 3)
    assert np.allclose(digits.mean(0), 1.0, atol=0.15)


def test_widening_factor() -> None:
    assert widening_factor(0.95, 12) == pytest.approx(2.2010 / 1.9600 * math.sqrt(12 / 11), 1e-3)
    assert widening_factor(0.95, 12) == pytest.approx(1.173, abs=1e-3)
    assert 1.0 < widening_factor(0.95, 1000) < 1.002
    assert math.isnan(widening_factor(0.95, 1))
    reps = np.random.default_rng(2).normal(size=(4000, 1))
    low, high = widened_percentile_interval(reps, 0.95, 10**9)
    assert low[0] == pytest.approx(-1.96, abs=0.1) and high[0] == pytest.approx(1.96, abs=0.1)
    low12, high12 = widened_percentile_interval(reps, 0.95, 12)
    assert (high12 - low12)[0] == pytest.approx((high - low)[0] * 1.173, rel=1e-3)
    with_nan = np.vstack([reps, np.full((100, 1), np.nan)])  # NaN replicates are skipped
    assert widened_percentile_interval(with_nan, 0.95, 10**9)[0][0] == pytest.approx(low[0])


def test_reachable_batched() -> None:
    games = np.zeros((2, 4, 4))
    games[0, 0, 1] = games[0, 1, 0] = games[0, 1, 2] = games[0, 2, 1] = 1
    games[1, 2, 3] = games[1, 3, 2] = 1
    assert reachable(games, 0).tolist() == [[True, True, True, False], [True, False, False, False]]


def test_anchor_scores() -> None:
    s = np.array([10.0, 30.0, 50.0, 7.0])
    rated = np.array([True, True, True, False])
    assert np.allclose(anchor_scores(s, 1, rated)[:3], [-20.0, 0.0, 20.0])
    mean = anchor_scores(s, None, rated)
    assert np.allclose(mean[:3], [-20.0, 0.0, 20.0]) and np.isnan(mean[3])
    reps = np.array([[0.0, 1.0, 2.0, 3.0], [0.0, 1.0, 2.0, 3.0]])
    linked = np.array([[True, True, True, True], [True, False, True, True]])
    out = anchor_scores(reps, None, linked & rated, members=rated)
    assert np.allclose(out[0], [-1.0, 0.0, 1.0, np.nan], equal_nan=True)
    assert np.isnan(out[1]).all()  # a member is missing: no mean to anchor to
    assert anchor_text("c1", NAMES) == "c1 = 0"
    assert anchor_text("mean", NAMES) == "mean of the rated conditions = 0"


def test_rate_question_anchors_and_units() -> None:
    votes = _votes()
    ref = rate_question(votes, NAMES, "c0", RatingSettings(n_boot=100))
    mean = rate_question(votes, NAMES, "mean", RatingSettings(n_boot=100))
    assert ref["elo"][0][0] == 0.0 and ref["elo"][1][0] == 0.0 and ref["elo"][2][0] == 0.0
    assert abs(mean["elo"][0].mean()) < 1e-9 and abs(mean["bradley_terry"][0].mean()) < 1e-9
    diff = ref["elo"][0] - mean["elo"][0]
    # only the level moves (up to the weak prior, which pulls towards the condition held at 0
    # in the fit: the anchor, or the most-voted condition under the mean anchor)
    assert np.allclose(diff, diff[0], atol=0.1)
    assert np.all(mean["elo"][1] < mean["elo"][0]) and np.all(mean["elo"][0] < mean["elo"][2])
    assert ref["interval"] == dict(unit="rater", units=8, widening_factor=widening_factor(0.95, 8))
    by_vote = rate_question(votes, NAMES, "c0", RatingSettings(n_boot=100, unit="vote"))
    assert by_vote["interval"]["units"] == 600
    by_caption = rate_question(votes, NAMES, "c0", RatingSettings(n_boot=100, unit="caption"))
    assert by_caption["interval"]["units"] == votes["caption_id"].nunique()
    with pytest.raises(ValueError, match="rater_id"):
        rate_question(votes.drop(columns="rater_id"), NAMES, "c0", RatingSettings(n_boot=10))
    with pytest.raises(ValueError, match="unit"):
        RatingSettings(unit="voter")
    with pytest.raises(ValueError, match="anchor"):
        rate_question(votes, NAMES, "c9", RatingSettings(n_boot=10))


def test_one_rater_has_no_rater_level_interval() -> None:
    votes = _votes(raters=1)
    fit = rate_question(votes, NAMES, "c0", RatingSettings(n_boot=50))
    point, low, high = fit["elo"]
    assert np.isfinite(point).all() and np.isnan(low[1:]).all() and np.isnan(high[1:]).all()
    assert any("only one rater" in note for note in fit["notes"])


def test_win_rate_rows_carry_intervals() -> None:
    fit = rate_question(_votes(), NAMES, "c0", RatingSettings(n_boot=100))
    rows = pd.DataFrame(fit["winrate_rows"])
    assert len(rows) == 12 and (rows["interval_unit"] == "rater").all()
    assert (rows["ci_low"] <= rows["win_rate"]).all() and (
        rows["win_rate"] <= rows["ci_high"]
    ).all()
    matrix = fit["winrate"]
    for r in rows.itertuples():
        assert r.win_rate == pytest.approx(matrix.loc[r.condition, r.opponent])


def test_weighted_agreement_equals_duplicated_items() -> None:
    rng = np.random.default_rng(3)
    items = rng.integers(0, 30, size=120)
    values = np.where(rng.random(120) < 0.5, items % 3, rng.integers(0, 3, size=120))
    counts = item_counts(items, values)
    weights = rng.integers(0, 3, size=counts.shape[0]).astype(float)
    dup = np.repeat(counts, weights.astype(int), axis=0)
    w = weights[None, :]
    assert weighted_alpha(counts, w)[0] == pytest.approx(krippendorff_alpha(dup))
    assert weighted_alpha(counts, w, "interval")[0] == pytest.approx(
        krippendorff_alpha(dup, "interval")
    )
    assert weighted_fleiss_kappa(counts, w)[0] == pytest.approx(fleiss_kappa(dup))
    assert weighted_percent_agreement(counts, w)[0] == pytest.approx(percent_agreement(dup))


def test_agreement_table_intervals() -> None:
    rng = np.random.default_rng(4)
    items = np.repeat(np.arange(80), 3)
    values = np.where(rng.random(240) < 0.6, items % 3, rng.integers(0, 3, size=240))
    rows = agreement_table(items, values, n_boot=300, seed=1)
    assert [r[0] for r in rows] == [
        "krippendorff_alpha_nominal",
        "krippendorff_alpha_interval",
        "fleiss_kappa",
        "percent_agreement",
    ]
    for _, value, low, high, n in rows:
        assert n == 80 and low < value < high <= 1.0
    assert agreement_table(items, values, n_boot=300, seed=1) == rows  # seeded
    single = agreement_table([1, 1, 2], [0, 1, 0], n_boot=50)  # one item rated twice
    assert all(math.isnan(r[2]) and math.isnan(r[3]) for r in single)


def test_repeats_never_count_as_votes() -> None:
    votes = _votes(n=400)
    votes["repeat"] = 0
    again = votes.iloc[:100].assign(repeat=1, outcome="a")  # a rater's own second look
    settings = RatingSettings(n_boot=50)
    args = (conditions_table(4), "c0", ["photorealism"], settings)
    plain = compute_ratings(votes, *args)
    with_repeats = compute_ratings(pd.concat([votes, again], ignore_index=True), *args)
    assert with_repeats.votes_used == plain.votes_used == {"photorealism": 400}
    pd.testing.assert_frame_equal(with_repeats.ratings, plain.ratings)
    pd.testing.assert_frame_equal(with_repeats.agreement, plain.agreement)
