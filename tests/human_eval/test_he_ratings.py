"""Rating math: closed forms, recovery of known strengths, interval coverage, agreement."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from human_eval.bench_ratings import conditions_table, simulate_votes
from human_eval.bench_ratings import main as bench_main
from human_eval.ratings.agreement import (
    fleiss_kappa,
    item_counts,
    krippendorff_alpha,
    percent_agreement,
)
from human_eval.ratings.bootstrap import bootstrap_ratings, resample_tallies
from human_eval.ratings.compute import RatingSettings, compute_ratings
from human_eval.ratings.models import (
    ELO_POINTS_PER_NAT,
    davidson_mle,
    elo_mle,
    online_elo,
    tally,
    win_rate_matrix,
)

ELO_3_TO_1 = 400.0 * math.log10(3.0)  # odds 3:1 on the Elo scale, about 190.85 points
FLAT = 1e7  # prior sd (Elo points) so weak that tiny hand examples hit the closed form


def _simulate(strengths, n, rng, nu=0.0):
    """Votes between random pairs from Bradley-Terry (nu = 0) or Davidson (nu > 0)."""
    k = len(strengths)
    a = rng.integers(k, size=n)
    b = (a + rng.integers(1, k, size=n)) % k
    th = np.asarray(strengths) / ELO_POINTS_PER_NAT
    pa, pb = np.exp(th[a]), np.exp(th[b])
    pt = nu * np.sqrt(pa * pb)
    u = rng.random(n) * (pa + pb + pt)
    return a, b, np.where(u < pa, 0, np.where(u < pa + pb, 1, 2))


def test_tally_and_win_rates() -> None:
    wins, ties = tally([0, 0, 1, 2, 0], [1, 1, 0, 0, 2], [0, 2, 0, 1, 1], 3)
    # 0 beats 1, 0-1 tie, 1 beats 0, 0 beats 2 (b of (2, 0)), 2 beats 0 (b of (0, 2))
    assert wins.tolist() == [[0, 1, 1], [1, 0, 0], [1, 0, 0]]
    assert ties.tolist() == [[0, 1, 0], [1, 0, 0], [0, 0, 0]]
    rate = win_rate_matrix(wins, ties)
    assert rate[0, 1] == pytest.approx((1 + 0.5) / 3) and rate[1, 0] == pytest.approx(1.5 / 3)
    assert rate[0, 2] == 0.5 and rate[2, 0] == 0.5
    assert np.isnan(rate[1, 2]) and np.isnan(np.diag(rate)).all()  # never compared: NaN
    with pytest.raises(ValueError, match="itself"):
        tally([0], [0], [0], 2)


def test_elo_closed_form_and_ties_as_half_wins() -> None:
    wins = np.array([[0.0, 3.0], [1.0, 0.0]])
    assert elo_mle(wins, np.zeros((2, 2)), prior_sd=FLAT)[1] == pytest.approx(-ELO_3_TO_1)
    assert elo_mle(wins, np.zeros((2, 2)), 1, FLAT)[0] == pytest.approx(ELO_3_TO_1)
    # the default weak prior shrinks 4 votes by about 3/4 per cent
    assert elo_mle(wins, np.zeros((2, 2)))[1] == pytest.approx(-ELO_3_TO_1, rel=0.015)
    # 2 wins, 0 losses, 2 ties = 3 : 1 once ties count half
    wins2 = np.array([[0.0, 2.0], [0.0, 0.0]])
    ties2 = np.array([[0.0, 2.0], [2.0, 0.0]])
    assert elo_mle(wins2, ties2, prior_sd=FLAT)[1] == pytest.approx(-ELO_3_TO_1)


def test_davidson_closed_form() -> None:
    # two conditions: theta_0 - theta_1 = log(w / l), nu = t / sqrt(w l)
    wins = np.array([[0.0, 6.0], [2.0, 0.0]])
    ties = np.array([[0.0, 4.0], [4.0, 0.0]])
    scores, nu = davidson_mle(wins, ties, prior_sd=FLAT)
    assert scores[1] == pytest.approx(-ELO_3_TO_1)
    assert nu == pytest.approx(4.0 / math.sqrt(12.0))


def test_fits_stay_finite_when_a_condition_wins_everything() -> None:
    wins = np.array([[0.0, 5.0, 0.0], [0.0, 0.0, 5.0], [0.0, 0.0, 0.0]])
    elo = elo_mle(wins, np.zeros((3, 3)))
    bt, nu = davidson_mle(wins, np.zeros((3, 3)))
    assert np.isfinite(elo).all() and np.isfinite(bt).all() and np.isfinite(nu)
    assert elo[0] > elo[1] > elo[2] and bt[0] > bt[1] > bt[2]


@pytest.mark.parametrize("nu", [0.0, 0.8])
def test_recover_known_strengths(nu: float) -> None:
    rng = np.random.default_rng(1)
    truth = np.array([0.0, -150.0, 40.0, 90.0, 200.0, -60.0])
    a, b, o = _simulate(truth, 60_000, rng, nu)
    wins, ties = tally(a, b, o, len(truth))
    bt, nu_hat = davidson_mle(wins, ties)
    elo = elo_mle(wins, ties)
    assert np.array_equal(np.argsort(bt), np.argsort(truth))
    assert np.array_equal(np.argsort(elo), np.argsort(truth))
    assert np.max(np.abs(bt - truth)) < 15.0
    if nu == 0.0:
        assert np.max(np.abs(elo - truth)) < 15.0  # without ties Elo is the same model
    else:
        assert nu_hat == pytest.approx(nu, abs=0.05)
        # ties as half wins pull Elo scores towards each other, but keep the order
        assert np.all(np.abs(elo[1:]) < np.abs(truth[1:]))


def test_online_elo_orders_and_conserves() -> None:
    rng = np.random.default_rng(2)
    truth = np.array([0.0, 100.0, 200.0])
    a, b, o = _simulate(truth, 20_000, rng)
    r = online_elo(a, b, o, 3)
    assert np.array_equal(np.argsort(r), np.argsort(truth))
    assert r.sum() == pytest.approx(3000.0)


def test_resampling_keeps_the_number_of_votes() -> None:
    rng = np.random.default_rng(3)
    wins, ties = tally(*_simulate([0.0, 50.0, 100.0], 500, rng, 0.5), 3)
    w, t = resample_tallies(wins, ties, 20, rng)
    assert w.shape == (20, 3, 3)
    assert np.allclose(w.sum((1, 2)) + t.sum((1, 2)) / 2, 500)
    assert np.allclose(t, np.swapaxes(t, 1, 2))


@pytest.mark.parametrize("system, nu", [("elo", 0.0), ("bradley_terry", 0.7)])
def test_bootstrap_intervals_cover_the_truth_at_about_95_percent(system: str, nu: float) -> None:
    rng = np.random.default_rng(4)
    truth = np.array([0.0, 60.0, 120.0, -80.0])
    covered = []
    for rep in range(150):
        wins, ties = tally(*_simulate(truth, 800, rng, nu), 4)
        low, high = bootstrap_ratings(wins, ties, 0, n_boot=200, seed=rep)[system]
        covered.append((low[1:] <= truth[1:]) & (truth[1:] <= high[1:]))
    coverage = float(np.mean(covered))
    print(f"{system}: coverage of nominal 95% intervals = {coverage:.3f} (450 intervals)")
    assert 0.90 <= coverage <= 0.985


def _alpha_by_definition(units: dict, dist2) -> float:
    """Krippendorff's alpha straight from the pairable-value definition (slow, for checking)."""
    pooled = [v for vs in units.values() for v in vs]
    observed = sum(
        sum(dist2(vs[i], vs[j]) for i, j in itertools.permutations(range(len(vs)), 2))
        / (len(vs) - 1)
        for vs in units.values()
    )
    expected = sum(dist2(x, y) for x, y in itertools.permutations(pooled, 2)) / (len(pooled) - 1)
    return 1.0 - observed / expected


def test_krippendorff_alpha_matches_its_definition() -> None:
    rng = np.random.default_rng(5)
    items = rng.integers(0, 40, size=150)
    values = np.where(rng.random(150) < 0.6, items % 3, rng.integers(0, 3, size=150))
    units: dict = {}
    for i, v in zip(items, values, strict=True):
        units.setdefault(int(i), []).append(int(v))
    units = {k: v for k, v in units.items() if len(v) >= 2}
    counts = item_counts(items, values)
    assert counts.shape[0] == len(units)
    nominal = _alpha_by_definition(units, lambda x, y: float(x != y))
    scale = [1.0, -1.0, 0.0]  # a, b, tie on the ordered scale b < tie < a
    interval = _alpha_by_definition(units, lambda x, y: (scale[x] - scale[y]) ** 2)
    assert krippendorff_alpha(counts, "nominal") == pytest.approx(nominal, abs=1e-12)
    assert krippendorff_alpha(counts, "interval") == pytest.approx(interval, abs=1e-12)
    assert 0.3 < nominal < 0.9  # 60 % of answers follow the item: clearly above chance


def test_agreement_edge_cases() -> None:
    perfect = item_counts([1, 1, 2, 2, 3, 3], [0, 0, 1, 1, 2, 2])
    assert krippendorff_alpha(perfect) == pytest.approx(1.0)
    assert fleiss_kappa(perfect) == pytest.approx(1.0)
    assert percent_agreement(perfect) == 1.0
    single = item_counts([1, 2, 3], [0, 1, 0])  # nobody rated an item twice
    assert single.shape == (0, 3) and math.isnan(krippendorff_alpha(single))
    same = item_counts([1, 1, 2, 2], [0, 0, 0, 0])  # one category only: undefined
    assert math.isnan(krippendorff_alpha(same)) and math.isnan(fleiss_kappa(same))


def test_compute_ratings_table_and_unconnected_conditions() -> None:
    votes = simulate_votes(np.array([0.0, 100.0, 200.0]), 3000, seed=1, n_items=300)
    conditions = conditions_table(4)  # c3 never voted on: no rating relative to c0
    result = compute_ratings(
        votes, conditions, "c0", ["photorealism", "caption"], RatingSettings(n_boot=100)
    )
    r = result.ratings
    assert list(r.columns) == [
        "question",
        "condition",
        "method",
        "scale",
        "system",
        "rating",
        "ci_low",
        "ci_high",
        "n_votes",
        "anchor",
        "interval_unit",
        "interval_units",
        "interval_method",
    ]
    assert (r["anchor"] == "c0 = 0").all() and (r["interval_unit"] == "rater").all()
    assert (r["interval_units"] == votes["rater_id"].nunique()).all()
    assert set(r["system"]) == {"elo", "bradley_terry"} and set(r["question"]) == {"photorealism"}
    assert result.notes["caption"] == ["no votes for this question yet"]
    ok = r[r["condition"] != "c3"]
    assert (ok["ci_low"] <= ok["rating"]).all() and (ok["rating"] <= ok["ci_high"]).all()
    assert r.loc[r["condition"] == "c3", "rating"].isna().all()
    assert r.loc[r["condition"] == "c3", "n_votes"].eq(0).all()
    assert "c3" in result.notes["photorealism"][0]
    assert (
        r.loc[r["condition"] == "c0", "n_votes"].iloc[0]
        == ((votes["condition_a"] == "c0") | (votes["condition_b"] == "c0")).sum()
    )


def test_bench_ratings_one_million_votes(capsys) -> None:
    # the scale: 1,000,000 votes rate in seconds (the figure is printed; -s shows it)
    assert bench_main(["--votes", "1000000", "--conditions", "8", "--bootstrap", "200"]) == 0
    out = capsys.readouterr().out
    assert "rated 1,000,000 votes" in out and "order recovered: True" in out
    print(out)
