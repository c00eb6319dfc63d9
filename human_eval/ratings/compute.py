"""From a table of votes to the study's ratings, win rates and agreement (no I/O).

Gold pairs never enter the ratings. Votes of excluded raters are dropped unless asked otherwise.
A condition whose votes do not connect it to the reference condition (through any chain of
compared pairs) has no defined rating relative to it: its rating and interval are NaN and the
metadata says why.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from human_eval.ratings.agreement import agreement_table
from human_eval.ratings.bootstrap import bootstrap_ratings
from human_eval.ratings.models import (
    DEFAULT_PRIOR_SD,
    OUTCOME_CODES,
    davidson_mle,
    elo_mle,
    tally,
    win_rate_matrix,
)

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
]


@dataclass(frozen=True)
class RatingSettings:
    n_boot: int = 1000
    level: float = 0.95
    seed: int = 0
    prior_sd: float = DEFAULT_PRIOR_SD


@dataclass
class RatingsResult:
    ratings: pd.DataFrame
    winrates: dict[str, pd.DataFrame]
    agreement: pd.DataFrame
    notes: dict[str, list[str]] = field(default_factory=dict)
    tie_parameter: dict[str, float] = field(default_factory=dict)
    votes_used: dict[str, int] = field(default_factory=dict)


def _connected(games: np.ndarray, start: int) -> np.ndarray:
    reach = np.zeros(games.shape[0], dtype=bool)
    reach[start] = True
    frontier = [start]
    while frontier:
        i = frontier.pop()
        for j in np.flatnonzero(games[i] > 0):
            if not reach[j]:
                reach[j] = True
                frontier.append(int(j))
    return reach


def rate_question(
    votes: pd.DataFrame, names: list[str], reference: str, settings: RatingSettings
) -> tuple[dict, pd.DataFrame, list[tuple[str, float, int]], list[str]]:
    """Ratings of one question's votes.

    ``votes`` has columns condition_a, condition_b, outcome and comparison_id.
    """
    index = {name: i for i, name in enumerate(names)}
    n = len(names)
    a_idx = votes["condition_a"].map(index).to_numpy(dtype=np.int64)
    b_idx = votes["condition_b"].map(index).to_numpy(dtype=np.int64)
    outcome = votes["outcome"].map(OUTCOME_CODES).to_numpy(dtype=np.int64)
    wins, ties = tally(a_idx, b_idx, outcome, n)
    games = wins + wins.T + ties
    ref = index[reference]
    reach = _connected(games, ref)
    notes = []
    if not reach.all():
        missing = [names[i] for i in np.flatnonzero(~reach)]
        notes.append(f"no chain of votes links {missing} to the reference {reference!r}: NaN")
    fits = {"elo": elo_mle(wins, ties, ref, settings.prior_sd)}
    bt, nu = davidson_mle(wins, ties, ref, settings.prior_sd)
    fits["bradley_terry"] = bt
    cis = bootstrap_ratings(
        wins,
        ties,
        ref,
        n_boot=settings.n_boot,
        level=settings.level,
        seed=settings.seed,
        prior_sd=settings.prior_sd,
    )
    out = {}
    for system, point in fits.items():
        low, high = cis[system]
        out[system] = tuple(np.where(reach, x, np.nan) for x in (point, low, high))
    out["n_votes"] = games.sum(1).astype(int)
    out["nu"] = float(nu)
    winrate = pd.DataFrame(win_rate_matrix(wins, ties), index=names, columns=names)
    agreement = agreement_table(votes["comparison_id"].to_numpy(), outcome)
    return out, winrate, agreement, notes


def compute_ratings(
    votes: pd.DataFrame,
    conditions: pd.DataFrame,
    reference: str,
    questions: list[str],
    settings: RatingSettings = RatingSettings(),
    include_excluded: bool = False,
) -> RatingsResult:
    """All ratings of a study from ``tables.votes_frame`` and ``tables.conditions_frame``."""
    names = conditions["condition"].tolist()
    assert reference in names, (reference, names)
    used = votes[~votes["is_gold"]]
    if not include_excluded:
        used = used[~used["rater_excluded"]]
    rows, winrates, agree_rows = [], {}, []
    result = RatingsResult(pd.DataFrame(), {}, pd.DataFrame())
    for question in questions:
        qv = used[used["question"] == question]
        result.votes_used[question] = int(len(qv))
        if qv.empty:
            result.notes[question] = ["no votes for this question yet"]
            continue
        fit, winrate, agreement, notes = rate_question(qv, names, reference, settings)
        result.notes[question] = notes
        result.tie_parameter[question] = fit["nu"]
        winrates[question] = winrate
        for stat, value, n_items in agreement:
            agree_rows.append(dict(question=question, statistic=stat, value=value, n_items=n_items))
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
                    )
                )
    result.ratings = pd.DataFrame(rows, columns=RATING_COLUMNS)
    result.winrates = winrates
    result.agreement = pd.DataFrame(
        agree_rows, columns=["question", "statistic", "value", "n_items"]
    )
    return result
