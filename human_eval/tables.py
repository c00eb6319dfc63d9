"""Read-side views of a study as pandas tables (admin page, export, ratings), and exclusions.

``votes_frame`` has one row per vote with everything needed to analyse it without the database:
who, which comparison and question, the two conditions, which one was on the left, what was
clicked and what that means in comparison terms. ``raters_frame`` adds gold-pair accuracy and
the flag for raters who fail gold pairs.
"""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa

from human_eval import schema
from human_eval.database import Database
from human_eval.errors import HumanEvalError
from human_eval.store import Study

VOTE_COLUMNS = [
    "vote_id",
    "study",
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
    "left_condition",
    "right_condition",
    "left_is_a",
    "choice",
    "outcome",
    "winner",
    "created_at",
    "response_ms",
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
    v, c, r = schema.votes, schema.comparisons, schema.raters
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
        )
        .join(c, c.c.id == v.c.comparison_id)
        .join(r, r.c.id == v.c.rater_id)
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
        ],
    )
    df["study"] = study.name
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


def raters_frame(db: Database, study: Study, votes: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per rater: votes, gold answered / correct / accuracy, flagged, excluded."""
    r = schema.raters
    with db.read() as conn:
        rows = conn.execute(
            sa.select(r.c.id, r.c.name, r.c.excluded, r.c.excluded_reason, r.c.created_at)
            .where(r.c.study_id == study.id)
            .order_by(r.c.id)
        ).all()
    raters = pd.DataFrame(
        rows, columns=["rater_id", "rater", "excluded", "excluded_reason", "joined_at"]
    )
    raters["excluded"] = raters["excluded"].astype(bool)
    votes = votes_frame(db, study) if votes is None else votes
    n_votes = votes.groupby("rater_id").size()
    gold = votes[votes["is_gold"]]
    answered = gold.groupby("rater_id").size()
    correct = (gold["outcome"] == gold["gold_answer"]).groupby(gold["rater_id"]).sum()
    raters["n_votes"] = raters["rater_id"].map(n_votes).fillna(0).astype(int)
    raters["gold_answered"] = raters["rater_id"].map(answered).fillna(0).astype(int)
    raters["gold_correct"] = raters["rater_id"].map(correct).fillna(0).astype(int)
    # accuracy is undefined (NaN) for a rater who has answered no gold pair yet
    raters["gold_accuracy"] = raters["gold_correct"] / raters["gold_answered"].where(
        raters["gold_answered"] > 0
    )
    cfg = study.config
    raters["flagged"] = (raters["gold_answered"] >= cfg.gold_min_answered) & (
        raters["gold_accuracy"] < cfg.gold_min_accuracy
    )
    return raters


def progress_frame(db: Database, study: Study) -> pd.DataFrame:
    """Per question: votes, comparisons with at least one vote, comparisons in the study."""
    v, c = schema.votes, schema.comparisons
    with db.read() as conn:
        n_comp = conn.execute(
            sa.select(sa.func.count()).where(c.c.study_id == study.id, c.c.is_gold.is_(False))
        ).scalar_one()
        rows = conn.execute(
            sa.select(v.c.question, sa.func.count(), sa.func.count(sa.distinct(v.c.comparison_id)))
            .where(v.c.study_id == study.id, v.c.is_gold.is_(False))
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
    """Exclude a rater (by name) from the ratings, or include them again."""
    r = schema.raters
    with db.write() as conn:
        result = conn.execute(
            sa.update(r)
            .where(r.c.study_id == study.id, r.c.name == rater)
            .values(excluded=excluded, excluded_reason=(reason or None) if excluded else None)
        )
        if result.rowcount != 1:
            raise HumanEvalError(f"--rater: no rater named {rater!r} in study {study.name!r}")
