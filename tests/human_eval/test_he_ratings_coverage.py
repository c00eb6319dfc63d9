"""Coverage of the intervals in simulated studies with a known answer (issue 19).

Raters have their own tastes: rater r sees condition k with strength ``MU[k] + u_rk`` (Elo
points), ``u_rk ~ N(0, TASTE_SD^2)``, and votes by the Davidson model (ties with ``NU``). The
target is the population rating: the fit (flat prior) to the expected tallies of infinitely
many raters from that population, each voting equally often on every pair, computed exactly by
Gauss-Hermite quadrature over the taste difference. Likewise the population win rate. A 95%
interval should cover it 90-99% of the time; the old default (resampling votes) does not.

Fast versions run in the normal test run; ``-m slow`` runs more studies, more replicates and
other designs (6 and 30 raters, clusters of captions, the mean anchor). Each test prints its
figures (``-s`` shows them).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from numpy.polynomial.hermite_e import hermegauss

from human_eval.ratings.agreement import agreement_table
from human_eval.ratings.compute import RatingSettings, rate_question
from human_eval.ratings.models import ELO_POINTS_PER_NAT, anchor_scores, davidson_mle, elo_mle

MU = np.array([0.0, 60.0, 120.0, -80.0, 30.0])  # population strengths, Elo points
NAMES = [f"c{k}" for k in range(len(MU))]
TASTE_SD = 120.0  # each rater's own offset per condition
NU = 0.5  # Davidson tie parameter
FLAT = 1e9  # prior sd for the population fit
I, J = np.triu_indices(len(MU), k=1)


def outcome_probs(diff: np.ndarray, nu: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Davidson P(i wins), P(j wins), P(tie) for strength differences ``diff`` (Elo points)."""
    half = np.asarray(diff) / ELO_POINTS_PER_NAT / 2.0
    pi, pj = np.exp(half), np.exp(-half)
    total = pi + pj + nu
    return pi / total, pj / total, nu / total


def population_targets(mu: np.ndarray, taste_sd: float, nu: float, anchor: int | None = 0):
    """Population Elo, Bradley-Terry [K] and win rates [K, K], by quadrature over tastes."""
    x, w = hermegauss(80)
    w = w / w.sum()
    spread = x * taste_sd * np.sqrt(2.0)  # u_i - u_j ~ N(0, 2 taste_sd^2)
    diff = (mu[I] - mu[J])[:, None] + spread[None, :]
    pi, pj, pt = (p @ w for p in outcome_probs(diff, nu))
    k = len(mu)
    wins, ties, rate = np.zeros((k, k)), np.zeros((k, k)), np.full((k, k), np.nan)
    wins[I, J], wins[J, I], ties[I, J], ties[J, I] = pi, pj, pt, pt
    rate[I, J], rate[J, I] = pi + pt / 2.0, pj + pt / 2.0
    everyone = np.ones(k, dtype=bool)
    elo = anchor_scores(elo_mle(wins * 1e6, ties * 1e6, 0, FLAT), anchor, everyone)
    bt = anchor_scores(davidson_mle(wins * 1e6, ties * 1e6, 0, FLAT)[0], anchor, everyone)
    return elo, bt, rate


def simulate_study(
    rng: np.random.Generator,
    n_clusters: int,
    per_cluster: int,
    *,
    cluster: str = "rater_id",
    taste_sd: float = TASTE_SD,
    n_other: int = 40,
) -> pd.DataFrame:
    """One study's votes: ``n_clusters`` clusters (raters, or captions with ``cluster =
    "caption_id"``) with their own offsets, ``per_cluster`` votes each on random pairs; the
    other id (caption or rater) is drawn from ``n_other`` without any effect."""
    offsets = rng.normal(0.0, taste_sd, size=(n_clusters, len(MU)))
    c = np.repeat(np.arange(n_clusters), per_cluster)
    pair = rng.integers(len(I), size=len(c))
    other = rng.integers(n_other, size=len(c))
    s = MU[None, :] + offsets
    pi, pj, _ = outcome_probs(s[c, I[pair]] - s[c, J[pair]], NU)
    u = rng.random(len(c))
    outcome = np.where(u < pi, "a", np.where(u < pi + pj, "b", "tie"))
    other_name = "caption_id" if cluster == "rater_id" else "rater_id"
    caption = c if cluster == "caption_id" else other
    return pd.DataFrame(
        {
            cluster: c,
            other_name: other,
            "comparison_id": caption * len(I) + pair,
            "condition_a": np.array(NAMES)[I[pair]],
            "condition_b": np.array(NAMES)[J[pair]],
            "outcome": outcome,
        }
    )


def coverage(
    settings: RatingSettings,
    n_studies: int,
    *,
    n_clusters: int = 12,
    per_cluster: int = 40,
    cluster: str = "rater_id",
    anchor: str = "c0",
    seed: int = 0,
) -> dict[str, float]:
    """Share of intervals covering the population value, per output; and mean Elo width."""
    anchor_at = None if anchor == "mean" else NAMES.index(anchor)
    elo_t, bt_t, rate_t = population_targets(MU, TASTE_SD, NU, anchor_at)
    rated = np.arange(len(MU)) != (anchor_at if anchor_at is not None else -1)
    rng = np.random.default_rng(seed)
    hits: dict[str, list] = {"elo": [], "bradley_terry": [], "win_rate": []}
    widths = []
    for _ in range(n_studies):
        votes = simulate_study(rng, n_clusters, per_cluster, cluster=cluster)
        fit = rate_question(votes, NAMES, anchor, settings)
        for system, target in (("elo", elo_t), ("bradley_terry", bt_t)):
            _, low, high = fit[system]
            hits[system].append(((low <= target) & (target <= high))[rated])
        _, low, high = fit["elo"]
        widths.append(np.mean((high - low)[rated]))
        rows = pd.DataFrame(fit["winrate_rows"])
        target = rate_t[
            [NAMES.index(c) for c in rows["condition"]], [NAMES.index(c) for c in rows["opponent"]]
        ]
        hits["win_rate"].append(
            ((rows["ci_low"] <= target) & (target <= rows["ci_high"])).to_numpy()
        )
    out = {key: float(np.mean(np.concatenate(v))) for key, v in hits.items()}
    out["elo_width"] = float(np.mean(widths))
    return out


def _report(label: str, figures: dict[str, float], n_studies: int) -> str:
    text = (
        f"{label}: 95% coverage over {n_studies} studies: Elo {figures['elo']:.3f}, "
        f"Bradley-Terry {figures['bradley_terry']:.3f}, win rates {figures['win_rate']:.3f}; "
        f"mean Elo interval width {figures['elo_width']:.0f} points"
    )
    print(text)
    return text


def _in_band(figures: dict[str, float]) -> bool:
    return all(0.90 <= figures[k] <= 0.99 for k in ("elo", "bradley_terry", "win_rate"))


FAST_STUDIES, FAST_BOOT = 120, 200
SLOW_STUDIES, SLOW_BOOT = 500, 500


def test_default_rater_bootstrap_covers_the_population_rating() -> None:
    settings = RatingSettings(n_boot=FAST_BOOT, seed=1)
    assert settings.unit == "rater"  # the default
    figures = coverage(settings, FAST_STUDIES)
    _report("new default (rater), 12 raters x 40 votes", figures, FAST_STUDIES)
    assert _in_band(figures), figures


def test_old_vote_level_default_fails_the_same_check() -> None:
    figures = coverage(RatingSettings(n_boot=FAST_BOOT, seed=1, unit="vote"), FAST_STUDIES)
    _report("old default (vote), 12 raters x 40 votes", figures, FAST_STUDIES)
    assert not _in_band(figures) and figures["elo"] < 0.90, figures


@pytest.mark.slow
@pytest.mark.parametrize(
    "label, unit, kwargs, should_pass",
    [
        ("rater, 12 raters x 40 votes", "rater", {}, True),
        ("vote, 12 raters x 40 votes", "vote", {}, False),
        ("rater, 6 raters x 80 votes", "rater", dict(n_clusters=6, per_cluster=80), True),
        ("rater, 30 raters x 20 votes", "rater", dict(n_clusters=30, per_cluster=20), True),
        ("rater, 12 raters, mean anchor", "rater", dict(anchor="mean"), True),
        (
            "caption, 24 captions x 20 votes",
            "caption",
            dict(n_clusters=24, per_cluster=20, cluster="caption_id"),
            True,
        ),
        (
            "vote, 24 captions x 20 votes",
            "vote",
            dict(n_clusters=24, per_cluster=20, cluster="caption_id"),
            False,
        ),
    ],
)
def test_coverage_heavy(label: str, unit: str, kwargs: dict, should_pass: bool) -> None:
    n_studies = SLOW_STUDIES
    figures = coverage(
        RatingSettings(n_boot=SLOW_BOOT, seed=2, unit=unit), n_studies, **kwargs, seed=7
    )
    _report(label, figures, n_studies)
    assert _in_band(figures) == should_pass, figures


# -- agreement: items with their own answer distribution, raters exchangeable -----------------

ITEM_MEAN, ITEM_SD = 60.0, 150.0  # strength difference of an item's two images, Elo points


def agreement_targets(nu: float = NU) -> dict[str, float]:
    """Population alpha (nominal, interval), kappa and percent agreement over items."""
    x, w = hermegauss(120)
    w = w / w.sum()
    p = np.stack(outcome_probs(ITEM_MEAN + ITEM_SD * x, nu), axis=1)  # [nodes, (a, b, tie)]
    mean_p = w @ p
    value = np.array([1.0, -1.0, 0.0])
    nominal = 1.0 - np.eye(3)
    interval = (value[:, None] - value[None, :]) ** 2
    agree = w @ (p**2).sum(1)

    def alpha(delta2: np.ndarray) -> float:
        observed = w @ np.einsum("nc,nd,cd->n", p, p, delta2)
        return 1.0 - observed / (mean_p @ delta2 @ mean_p)

    return {
        "krippendorff_alpha_nominal": alpha(nominal),
        "krippendorff_alpha_interval": alpha(interval),
        "fleiss_kappa": (agree - (mean_p**2).sum()) / (1.0 - (mean_p**2).sum()),
        "percent_agreement": agree,
    }


def agreement_coverage(n_studies: int, n_boot: int, n_items: int = 150, seed: int = 0):
    target = agreement_targets()
    rng = np.random.default_rng(seed)
    hits: dict[str, list[bool]] = {k: [] for k in target}
    for study in range(n_studies):
        raters_per_item = rng.integers(2, 5, size=n_items)
        p = np.stack(outcome_probs(ITEM_MEAN + ITEM_SD * rng.normal(size=n_items), NU), axis=1)
        items = np.repeat(np.arange(n_items), raters_per_item)
        cum = p.cumsum(1)[items]
        values = (rng.random(len(items))[:, None] > cum).sum(1)  # 0 a, 1 b, 2 tie
        for name, _, low, high, _ in agreement_table(items, values, n_boot=n_boot, seed=study):
            hits[name].append(low <= target[name] <= high)
    return {k: float(np.mean(v)) for k, v in hits.items()}


@pytest.mark.parametrize(
    "n_studies, n_boot", [(300, 500), pytest.param(1000, 1000, marks=pytest.mark.slow)]
)
def test_agreement_intervals_cover_the_population_value(n_studies: int, n_boot: int) -> None:
    figures = agreement_coverage(n_studies, n_boot)
    print(
        f"agreement (items resampled), 150 items x 2-4 raters, {n_studies} studies: "
        + ", ".join(f"{k} {v:.3f}" for k, v in figures.items())
    )
    assert all(0.90 <= v <= 0.99 for v in figures.values()), figures
