"""Read-side views of a study as pandas tables (admin page, export, ratings), and exclusions.

``votes_frame`` has one row per vote with everything needed to analyse it without the database:
who, which comparison and question, the two conditions, which one was on the left, what was
clicked and what that means in comparison terms, whether it was the rater's own repeat of an
item (``repeat`` 1: for intra-rater consistency only, not a second vote for the ratings) and why
the item was scheduled (``assignment_kind``), and whether the rater is excluded by the admin or
flagged by the gold pairs. ``raters_frame`` is ``store.rater_quality`` as a table;
``exclusion_summary`` counts who and what is left out of the ratings, and why;
``repeat_pairs`` pairs each repeat with the rater's first answer.
"""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa

from human_eval import schema
from human_eval.database import Database
from human_eval.errors import HumanEvalError
from human_eval.store import Study, flagging_rule, rater_quality
from human_eval.tokens import name_key

VOTE_COLUMNS = [
    "vote_id",
    "study",
    "rater",
    "rater_id",
    "rater_excluded",
    "rater_flagged",
    "comparison_id",
    "question",
    "is_gold",
    "gold_answer",
    "caption_id",
    "caption",
    "condition_a",
    "condition_b",
    "left_condition",
    "right_condition",
    "left_is_a",
    "choice",
    "outcome",
    "winner",
    "created_at",
    "response_ms",
    "repeat",
    "assignment_kind",
]


def conditions_frame(db: Database, study: Study) -> pd.DataFrame:
    c = schema.conditions
    with db.read() as conn:
        rows = conn.execute(
            sa.select(c.c.id, c.c.name, c.c.method, c.c.scale, c.c.run_id, c.c.run_dir)
            .where(c.c.study_id == study.id)
            .order_by(c.c.id)
        ).all()
    return pd.DataFrame(
        rows, columns=["condition_id", "condition", "method", "scale", "run_id", "run_dir"]
    )


def votes_frame(db: Database, study: Study) -> pd.DataFrame:
    v, c, r, a = schema.votes, schema.comparisons, schema.raters, schema.assignments
    ca, cb = schema.conditions.alias("ca"), schema.conditions.alias("cb")
    query = (
        sa.select(
            v.c.id,
            r.c.name,
            r.c.id,
            r.c.excluded,
            v.c.comparison_id,
            v.c.question,
            v.c.is_gold,
            c.c.gold_answer,
            c.c.caption_id,
            c.c.caption,
            ca.c.name,
            cb.c.name,
            v.c.left_is_a,
            v.c.choice,
            v.c.outcome,
            v.c.created_at,
            v.c.response_ms,
            v.c.repeat,
            a.c.kind,
        )
        .join(c, c.c.id == v.c.comparison_id)
        .join(r, r.c.id == v.c.rater_id)
        .join(a, a.c.id == v.c.assignment_id)
        .outerjoin(ca, ca.c.id == c.c.condition_a_id)
        .outerjoin(cb, cb.c.id == c.c.condition_b_id)
        .where(v.c.study_id == study.id)
        .order_by(v.c.id)
    )
    with db.read() as conn:
        rows = conn.execute(query).all()
    df = pd.DataFrame(
        rows,
        columns=[
            "vote_id",
            "rater",
            "rater_id",
            "rater_excluded",
            "comparison_id",
            "question",
            "is_gold",
            "gold_answer",
            "caption_id",
            "caption",
            "condition_a",
            "condition_b",
            "left_is_a",
            "choice",
            "outcome",
            "created_at",
            "response_ms",
            "repeat",
            "assignment_kind",
        ],
    )
    df["study"] = study.name
    flagged = {q.rater_id for q in rater_quality(db, study) if q.flagged}
    df["rater_flagged"] = df["rater_id"].isin(flagged)
    df["repeat"] = df["repeat"].astype(int)
    for col in ("rater_excluded", "is_gold", "left_is_a"):
        df[col] = df[col].astype(bool)
    gold_a, gold_b = "(gold: clean)", "(gold: noised)"
    df.loc[df["is_gold"], "condition_a"] = gold_a
    df.loc[df["is_gold"], "condition_b"] = gold_b
    df["left_condition"] = df["condition_a"].where(df["left_is_a"], df["condition_b"])
    df["right_condition"] = df["condition_b"].where(df["left_is_a"], df["condition_a"])
    df["winner"] = df["condition_a"].where(df["outcome"] == "a", df["condition_b"])
    df.loc[df["outcome"] == "tie", "winner"] = "tie"
    return df[VOTE_COLUMNS]


RATER_COLUMNS = [
    "rater",
    "status",
    "flagged",
    "excluded",
    "n_votes",
    "gold_answered",
    "gold_correct",
    "gold_accuracy",
    "excluded_reason",
    "joined_at",
    "rater_id",
]


def raters_frame(db: Database, study: Study, votes: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per rater: status (ok / flagged / excluded), flagged by the gold pairs under the
    study's rule, excluded by the admin, votes, gold answered / correct / accuracy (NaN before
    the first gold answer), the exclusion reason, when they joined. ``votes`` is unused (kept
    for callers that pass it)."""
    del votes
    rows = [
        dict(
            rater=q.name,
            status=q.status,
            flagged=q.flagged,
            excluded=q.excluded,
            n_votes=q.n_votes,
            gold_answered=q.gold_answered,
            gold_correct=q.gold_correct,
            gold_accuracy=q.gold_accuracy,
            excluded_reason=q.excluded_reason,
            joined_at=q.joined_at,
            rater_id=q.rater_id,
        )
        for q in rater_quality(db, study)
    ]
    df = pd.DataFrame(rows, columns=RATER_COLUMNS)
    for col in ("flagged", "excluded"):
        df[col] = df[col].astype(bool)
    for col in ("n_votes", "gold_answered", "gold_correct"):
        df[col] = df[col].astype(int)
    df["gold_accuracy"] = df["gold_accuracy"].astype(float)
    return df


def exclusion_summary(study: Study, raters: pd.DataFrame) -> dict:
    """Who and how many votes are left out of the ratings by default, and why.

    ``raters`` is ``raters_frame``. Excluded (by the admin) comes first: a rater both excluded
    and flagged counts as excluded.
    """
    excluded = raters[raters["excluded"]]
    flagged = raters[raters["flagged"] & ~raters["excluded"]]
    return dict(
        rule=flagging_rule(study.config),
        raters=int(len(raters)),
        votes=int(raters["n_votes"].sum()),
        raters_excluded=int(len(excluded)),
        votes_excluded=int(excluded["n_votes"].sum()),
        raters_flagged=int(len(flagged)),
        votes_flagged=int(flagged["n_votes"].sum()),
        raters_left_out=int(len(excluded) + len(flagged)),
        votes_left_out=int(excluded["n_votes"].sum() + flagged["n_votes"].sum()),
    )


def repeat_pairs(votes: pd.DataFrame) -> pd.DataFrame:
    """Each intra-rater repeat next to the same rater's first answer on that item.

    Columns: rater_id, rater, comparison_id, question, is_gold, first_outcome, repeat_outcome,
    consistent (same outcome in comparison terms; the sides were swapped for the repeat).
    """
    keys = ["rater_id", "comparison_id", "question"]
    first = votes[votes["repeat"] == 0][keys + ["rater", "is_gold", "outcome"]]
    again = votes[votes["repeat"] == 1][keys + ["outcome"]]
    pairs = first.merge(again, on=keys, suffixes=("_first", "_repeat"))
    pairs = pairs.rename(
        columns={"outcome_first": "first_outcome", "outcome_repeat": "repeat_outcome"}
    )
    pairs["consistent"] = pairs["first_outcome"] == pairs["repeat_outcome"]
    return pairs[
        [
            "rater_id",
            "rater",
            "comparison_id",
            "question",
            "is_gold",
            "first_outcome",
            "repeat_outcome",
            "consistent",
        ]
    ]


def progress_frame(db: Database, study: Study) -> pd.DataFrame:
    """Per question: votes (first showings), comparisons with at least one vote, comparisons
    in the study."""
    v, c = schema.votes, schema.comparisons
    with db.read() as conn:
        n_comp = conn.execute(
            sa.select(sa.func.count()).where(c.c.study_id == study.id, c.c.is_gold.is_(False))
        ).scalar_one()
        rows = conn.execute(
            sa.select(v.c.question, sa.func.count(), sa.func.count(sa.distinct(v.c.comparison_id)))
            .where(v.c.study_id == study.id, v.c.is_gold.is_(False), v.c.repeat == 0)
            .group_by(v.c.question)
        ).all()
    got = {q: (n, k) for q, n, k in rows}
    return pd.DataFrame(
        [
            dict(
                question=q,
                votes=got.get(q, (0, 0))[0],
                comparisons_voted=got.get(q, (0, 0))[1],
                comparisons=int(n_comp),
            )
            for q in study.config.questions
        ]
    )


def set_excluded(db: Database, study: Study, rater: str, excluded: bool, reason: str = "") -> None:
    """Exclude a rater (by name: exactly as shown, else ignoring case and spaces) from the
    ratings, or include them again."""
    r = schema.raters
    values = dict(excluded=excluded, excluded_reason=(reason or None) if excluded else None)
    with db.write() as conn:
        for match in (r.c.name == rater, r.c.name_key == name_key(rater)):
            result = conn.execute(
                sa.update(r).where(r.c.study_id == study.id, match).values(**values)
            )
            if result.rowcount == 1:
                return
    raise HumanEvalError(f"--rater: no rater named {rater!r} in study {study.name!r}")
