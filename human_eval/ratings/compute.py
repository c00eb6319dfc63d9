"""From a table of votes to the study's ratings, win rates and agreement (no I/O).

Gold pairs and a rater's repeats of an item (``repeat`` > 0, kept for intra-rater consistency)
never enter the ratings. Votes of excluded raters are dropped unless asked otherwise.

Anchor: a named condition rated 0 or, with ``anchor="mean"``, the mean of the rated conditions
at 0 (a condition literally named "mean" wins over the mean anchor). A condition whose votes do
not connect it to the anchor (through any chain of compared pairs; under the mean anchor, to the
most-voted condition) has no defined rating: its rating and interval are NaN and a note says why.

Intervals: Elo, Bradley-Terry and win rates resample ``RatingSettings.unit`` (rater by
default, caption or vote; see ``bootstrap``); agreement statistics resample items
(comparisons; see ``agreement``). Every table row names its unit and method.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from human_eval.ratings.agreement import agreement_table
from human_eval.ratings.bootstrap import (
    BOOTSTRAP_UNITS,
    DEFAULT_UNIT,
    INTERVAL_METHOD,
    bootstrap_replicates,
    cluster_pair_counts,
    counts_to_tallies,
    reachable,
    widened_percentile_interval,
    widening_factor,
)
from human_eval.ratings.models import (
    DEFAULT_PRIOR_SD,
    OUTCOME_CODES,
    anchor_scores,
    davidson_mle,
    elo_mle,
    win_rate_matrix,
)

MEAN_ANCHOR = "mean"
UNIT_COLUMNS = {"rater": "rater_id", "caption": "caption_id"}
AGREEMENT_UNIT = "comparison"
INTERVAL_COLUMNS = ["interval_unit", "interval_units", "interval_method"]
RATING_COLUMNS = [
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
    *INTERVAL_COLUMNS,
]
WINRATE_COLUMNS = [
    "question",
    "condition",
    "opponent",
    "win_rate",
    "ci_low",
    "ci_high",
    "n_votes",
    *INTERVAL_COLUMNS,
]
AGREEMENT_COLUMNS = ["question", "statistic", "value", "ci_low", "ci_high", "n_items"]
AGREEMENT_COLUMNS += INTERVAL_COLUMNS


@dataclass(frozen=True)
class RatingSettings:
    n_boot: int = 1000
    level: float = 0.95
    seed: int = 0
    prior_sd: float = DEFAULT_PRIOR_SD
    unit: str = DEFAULT_UNIT  # what the rating and win-rate intervals resample

    def __post_init__(self) -> None:
        if self.unit not in BOOTSTRAP_UNITS:
            raise ValueError(f"unit {self.unit!r}: one of {', '.join(BOOTSTRAP_UNITS)}")


@dataclass
class RatingsResult:
    ratings: pd.DataFrame
    winrates: dict[str, pd.DataFrame]
    agreement: pd.DataFrame
    notes: dict[str, list[str]] = field(default_factory=dict)
    tie_parameter: dict[str, float] = field(default_factory=dict)
    votes_used: dict[str, int] = field(default_factory=dict)
    winrate_intervals: pd.DataFrame = field(default_factory=pd.DataFrame)
    anchor: str = ""
    intervals: dict[str, dict] = field(default_factory=dict)  # per question: unit, units, factor


def anchor_text(anchor: str, names: list[str]) -> str:
    """How the ratings are anchored, in words."""
    if anchor in names:
        return f"{anchor} = 0"
    return "mean of the rated conditions = 0"


def anchor_index(anchor: str, names: list[str]) -> int | None:
    """Index of the anchor condition; None for the mean anchor."""
    if anchor in names:
        return names.index(anchor)
    if anchor == MEAN_ANCHOR:
        return None
    raise ValueError(f"anchor {anchor!r}: a condition ({names}) or {MEAN_ANCHOR!r}")


def cluster_codes(votes: pd.DataFrame, unit: str) -> tuple[np.ndarray, int]:
    """Cluster code per vote (0..G-1) and G, the number of units the bootstrap resamples."""
    if unit == "vote":
        return np.zeros(len(votes), dtype=np.int64), int(len(votes))
    column = UNIT_COLUMNS[unit]
    codes, uniques = pd.factorize(votes[column]) if column in votes.columns else ([-1], [])
    if np.any(np.asarray(codes) < 0):
        raise ValueError(f"bootstrap unit {unit!r} needs a {column!r} for every vote")
    return np.asarray(codes, dtype=np.int64), len(uniques)


def _interval_cells(unit: str, n_units: int) -> dict:
    return dict(interval_unit=unit, interval_units=n_units, interval_method=INTERVAL_METHOD)


def _unlinked_note(linked: np.ndarray, rated: np.ndarray, names: list[str], unit: str) -> list[str]:
    """A note when some replicates lost the chain of votes of a rated condition."""
    share = 1.0 - linked[:, rated].mean(0)
    at = np.flatnonzero(rated)
    lost = [f"{names[i]} {100 * s:.1f}%" for i, s in zip(at, share, strict=True) if s > 0]
    if not lost:
        return []
    return [
        f"some {unit}-bootstrap replicates had no votes linking a condition to the anchor "
        f"({', '.join(lost)} of replicates); its interval uses the other replicates"
    ]


def _winrate_rows(point, low, high, games, names, cells) -> list[dict]:
    rows = []
    for i, j in zip(*np.nonzero(~np.eye(len(names), dtype=bool)), strict=True):
        rows.append(
            dict(
                condition=names[i],
                opponent=names[j],
                win_rate=point[i, j],
                ci_low=low[i, j],
                ci_high=high[i, j],
                n_votes=int(games[i, j]),
                **cells,
            )
        )
    return rows


def _structure_notes(
    rated: np.ndarray, fit_ref: int, n_units: int, names: list[str], unit: str
) -> list[str]:
    notes = []
    if not rated.all():
        missing = [names[i] for i in np.flatnonzero(~rated)]
        notes.append(f"no chain of votes links {missing} to the reference {names[fit_ref]!r}: NaN")
    if n_units < 2:
        notes.append(
            f"only one {unit} voted: a {unit}-level interval needs two or more (NaN); "
            "--bootstrap-unit vote gives one that assumes independent votes"
        )
    return notes


def _fits_with_intervals(
    wins: np.ndarray,
    ties: np.ndarray,
    reps: dict[str, np.ndarray],
    anchor_at: int | None,
    fit_ref: int,
    rated: np.ndarray,
    n_units: int,
    settings: RatingSettings,
) -> tuple[dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]], float]:
    """(point, low, high) per system, anchored; and the Davidson tie parameter."""
    bt, nu = davidson_mle(wins, ties, fit_ref, settings.prior_sd)
    points = {"elo": elo_mle(wins, ties, fit_ref, settings.prior_sd), "bradley_terry": bt}
    out = {}
    for system, point in points.items():
        anchored = anchor_scores(reps[system], anchor_at, reps["linked"] & rated, members=rated)
        low, high = widened_percentile_interval(anchored, settings.level, n_units)
        out[system] = (anchor_scores(point, anchor_at, rated), low, high)
    return out, float(nu)


def rate_question(
    votes: pd.DataFrame, names: list[str], anchor: str, settings: RatingSettings
) -> dict:
    """Ratings, win rates and agreement of one question's votes, with intervals.

    ``votes`` has columns condition_a, condition_b, outcome, comparison_id and the column of
    the bootstrap unit (rater_id or caption_id).
    """
    index = {name: i for i, name in enumerate(names)}
    n = len(names)
    a_idx = votes["condition_a"].map(index).to_numpy(dtype=np.int64)
    b_idx = votes["condition_b"].map(index).to_numpy(dtype=np.int64)
    outcome = votes["outcome"].map(OUTCOME_CODES).to_numpy(dtype=np.int64)
    codes, n_units = cluster_codes(votes, settings.unit)
    counts = cluster_pair_counts(a_idx, b_idx, outcome, codes, n)
    wins, ties = (x[0] for x in counts_to_tallies(counts.sum(0)[None], n))
    games = wins + wins.T + ties
    anchor_at = anchor_index(anchor, names)
    fit_ref = anchor_at if anchor_at is not None else int(np.argmax(games.sum(1)))
    rated = reachable(games, fit_ref)
    reps = bootstrap_replicates(
        counts,
        n,
        fit_ref,
        by_vote=settings.unit == "vote",
        n_boot=settings.n_boot,
        seed=settings.seed,
        prior_sd=settings.prior_sd,
    )
    out, nu = _fits_with_intervals(wins, ties, reps, anchor_at, fit_ref, rated, n_units, settings)
    out["notes"] = _structure_notes(rated, fit_ref, n_units, names, settings.unit)
    out["notes"] += _unlinked_note(reps["linked"], rated, names, settings.unit)
    out["nu"], out["n_votes"] = nu, games.sum(1).astype(int)
    rate = win_rate_matrix(wins, ties)
    low, high = widened_percentile_interval(reps["winrate"], settings.level, n_units)
    cells = _interval_cells(settings.unit, n_units)
    out["winrate_rows"] = _winrate_rows(
        rate, np.clip(low, 0, 1), np.clip(high, 0, 1), games, names, cells
    )
    out["winrate"] = pd.DataFrame(rate, index=names, columns=names)
    out["agreement"] = agreement_table(
        votes["comparison_id"].to_numpy(),
        outcome,
        n_boot=settings.n_boot,
        level=settings.level,
        seed=settings.seed,
    )
    factor = widening_factor(settings.level, n_units)
    out["interval"] = dict(unit=settings.unit, units=n_units, widening_factor=factor)
    return out


def _rating_rows(question, fit, conditions, anchor_label, cells) -> list[dict]:
    rows = []
    for system in ("elo", "bradley_terry"):
        point, low, high = fit[system]
        for i, cond in conditions.reset_index(drop=True).iterrows():
            rows.append(
                dict(
                    question=question,
                    condition=cond["condition"],
                    method=cond["method"],
                    scale=cond["scale"],
                    system=system,
                    rating=point[i],
                    ci_low=low[i],
                    ci_high=high[i],
                    n_votes=int(fit["n_votes"][i]),
                    anchor=anchor_label,
                    **cells,
                )
            )
    return rows


def is_repeat(votes: pd.DataFrame) -> pd.Series:
    """A rater's own repeat of an item (intra-rater consistency only, never a second vote)."""
    if "repeat" not in votes.columns:
        return pd.Series(False, index=votes.index)
    return votes["repeat"].fillna(0).astype(int) > 0


def compute_ratings(
    votes: pd.DataFrame,
    conditions: pd.DataFrame,
    anchor: str,
    questions: list[str],
    settings: RatingSettings = RatingSettings(),
    include_excluded: bool = False,
) -> RatingsResult:
    """All ratings of a study from ``tables.votes_frame`` and ``tables.conditions_frame``.

    ``anchor`` is the condition rated 0, or ``"mean"`` for ratings with mean 0.
    """
    names = conditions["condition"].tolist()
    anchor_index(anchor, names)  # checks it
    label = anchor_text(anchor, names)
    used = votes[~votes["is_gold"] & ~is_repeat(votes)]
    if not include_excluded:
        used = used[~used["rater_excluded"]]
    rows, win_rows, agree_rows = [], [], []
    result = RatingsResult(pd.DataFrame(), {}, pd.DataFrame(), anchor=label)
    for question in questions:
        qv = used[used["question"] == question]
        result.votes_used[question] = int(len(qv))
        if qv.empty:
            result.notes[question] = ["no votes for this question yet"]
            continue
        fit = rate_question(qv, names, anchor, settings)
        result.notes[question] = fit["notes"]
        result.tie_parameter[question] = fit["nu"]
        result.winrates[question] = fit["winrate"]
        result.intervals[question] = fit["interval"]
        cells = _interval_cells(settings.unit, fit["interval"]["units"])
        rows += _rating_rows(question, fit, conditions, label, cells)
        win_rows += [dict(question=question, **row) for row in fit["winrate_rows"]]
        for stat, value, low, high, n_items in fit["agreement"]:
            agree_rows.append(
                dict(
                    question=question,
                    statistic=stat,
                    value=value,
                    ci_low=low,
                    ci_high=high,
                    n_items=n_items,
                    **_interval_cells(AGREEMENT_UNIT, n_items),
                )
            )
    result.ratings = pd.DataFrame(rows, columns=RATING_COLUMNS)
    result.winrate_intervals = pd.DataFrame(win_rows, columns=WINRATE_COLUMNS)
    result.agreement = pd.DataFrame(agree_rows, columns=AGREEMENT_COLUMNS)
    return result
