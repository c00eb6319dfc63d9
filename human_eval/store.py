"""The rater side of a study: joining, the next pair, recording a vote.

Every call is its own short transaction, committed before it returns, so the app shows the next
pair only after the previous vote is in the database. A vote is tied to the assignment it
answers (one comparison, one question, the left/right order that was shown) and the unique
constraint on (rater, comparison, question) turns a double click or a reload into a no-op.
"""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
import threading
import time
from collections import Counter
from dataclasses import dataclass

import numpy as np
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from human_eval import schema
from human_eval.create import StudyConfig, hash_token
from human_eval.database import Database, utcnow
from human_eval.errors import HumanEvalError
from human_eval.scheduler import Candidate, choose

_RATINGS_TTL_S = 15.0


@dataclass(frozen=True)
class Study:
    id: int
    name: str
    reference: str
    config: StudyConfig
    created_at: dt.datetime
    admin_token_sha256: str


@dataclass(frozen=True)
class Rater:
    id: int
    name: str
    key: str
    excluded: bool


@dataclass(frozen=True)
class Comparison:
    id: int
    caption: str
    image_a: int
    image_b: int
    condition_a: int | None
    condition_b: int | None
    is_gold: bool
    gold_answer: str | None


@dataclass(frozen=True)
class ImageRef:
    id: int
    path: str | None
    png: bytes | None

    @property
    def source(self) -> str | bytes:
        """What ``st.image`` accepts: a file path or PNG bytes."""
        return self.path if self.path is not None else self.png  # type: ignore[return-value]


@dataclass(frozen=True)
class Task:
    assignment_id: int
    comparison_id: int
    question: str
    caption: str
    left: ImageRef
    right: ImageRef
    is_gold: bool


def list_studies(db: Database) -> list[str]:
    with db.read() as conn:
        return list(conn.execute(sa.select(schema.studies.c.name).order_by("name")).scalars())


def load_study(db: Database, name: str) -> Study:
    with db.read() as conn:
        row = conn.execute(sa.select(schema.studies).where(schema.studies.c.name == name)).first()
    if row is None:
        known = list_studies(db)
        raise HumanEvalError(
            f"--study: no study named {name!r} in {db.display_url}; "
            + (f"studies there: {known}" if known else "it holds no study yet")
        )
    return Study(
        id=row.id,
        name=row.name,
        reference=row.reference,
        config=StudyConfig.from_json(row.config),
        created_at=row.created_at,
        admin_token_sha256=row.admin_token_sha256,
    )


def check_admin_token(study: Study, token: str) -> bool:
    """Constant-time comparison of a token against the study's stored hash."""
    return hmac.compare_digest(hash_token(token or ""), study.admin_token_sha256)


class VoteStore:
    """Rater operations on one study (thread-safe; one instance may serve every session)."""

    def __init__(self, db: Database, study_name: str) -> None:
        self.db = db
        self.study = load_study(db, study_name)
        sid = self.study.id
        with db.read() as conn:
            comps = conn.execute(
                sa.select(schema.comparisons).where(schema.comparisons.c.study_id == sid)
            ).all()
            imgs = conn.execute(
                sa.select(schema.images.c.id, schema.images.c.path, schema.images.c.png).where(
                    schema.images.c.study_id == sid
                )
            ).all()
        self.comparisons = {
            c.id: Comparison(
                c.id,
                c.caption,
                c.image_a_id,
                c.image_b_id,
                c.condition_a_id,
                c.condition_b_id,
                bool(c.is_gold),
                c.gold_answer,
            )
            for c in comps
        }
        self.images = {i.id: ImageRef(i.id, i.path, i.png) for i in imgs}
        self.n_regular = sum(not c.is_gold for c in self.comparisons.values())
        self.n_gold = len(self.comparisons) - self.n_regular
        self.target = min(self.study.config.votes_per_rater, len(self.comparisons))
        self._lock = threading.Lock()
        self._ratings: tuple[float, dict[str, dict[int, float]]] | None = None

    # -- joining ------------------------------------------------------------------------------
    def _rater(self, where) -> Rater | None:  # noqa: ANN001
        with self.db.read() as conn:
            row = conn.execute(
                sa.select(schema.raters).where(schema.raters.c.study_id == self.study.id, where)
            ).first()
        return None if row is None else Rater(row.id, row.name, row.key, bool(row.excluded))

    def rater_by_key(self, key: str) -> Rater | None:
        return self._rater(schema.raters.c.key == key) if key else None

    def _insert_rater(self, name: str, invite: str | None) -> Rater | None:
        try:
            with self.db.write() as conn:
                conn.execute(
                    sa.insert(schema.raters).values(
                        study_id=self.study.id,
                        name=name,
                        key=secrets.token_urlsafe(16),
                        invite_token=invite,
                        created_at=utcnow(),
                        excluded=False,
                    )
                )
        except IntegrityError:
            return None  # created concurrently (or the name is taken): the caller re-reads
        return self._rater(schema.raters.c.name == name)

    def join_by_name(self, name: str) -> Rater:
        """Join under a new name (a taken name is refused). Refused for invite-only studies."""
        name = (name or "").strip()
        if not 1 <= len(name) <= 100:
            raise HumanEvalError("name: enter a name of 1-100 characters")
        if not self.study.config.allow_named_join:
            raise HumanEvalError("name: this study is invite-only; use the link or token you got")
        for _ in range(2):
            with self.db.read() as conn:
                row = conn.execute(
                    sa.select(schema.raters).where(
                        schema.raters.c.study_id == self.study.id, schema.raters.c.name == name
                    )
                ).first()
            if row is not None:
                # A name is no password: whoever typed it first owns it, and comes back through
                # the personal key in their page's address (?r=...), never by retyping it.
                raise HumanEvalError(
                    f"name: {name!r} is taken in this study; choose another name, or, if it is "
                    "you, come back through the address of your rating page (it ends in ?r=...)"
                )
            rater = self._insert_rater(name, None)
            if rater is not None:
                return rater
        raise HumanEvalError(f"name: could not join as {name!r}; try again")

    def join_by_invite(self, token: str) -> Rater:
        """Join (or come back) with an invite token; the rater is named after the token."""
        token = (token or "").strip()
        with self.db.read() as conn:
            known = conn.execute(
                sa.select(schema.invites.c.token).where(
                    schema.invites.c.study_id == self.study.id, schema.invites.c.token == token
                )
            ).first()
        if known is None:
            raise HumanEvalError(
                f"invite: token {token!r} is not valid for study {self.study.name!r}; check the "
                "link you were sent"
            )
        for _ in range(2):
            rater = self._rater(schema.raters.c.invite_token == token)
            if rater is not None:
                return rater
            rater = self._insert_rater(f"invite-{token[:8]}", token)
            if rater is not None:
                return rater
        raise HumanEvalError("invite: could not join; try again")

    # -- progress and tasks -------------------------------------------------------------------
    def progress(self, rater_id: int) -> tuple[int, int]:
        """(votes given by this rater, votes asked of each rater)."""
        with self.db.read() as conn:
            n = conn.execute(
                sa.select(sa.func.count()).where(schema.votes.c.rater_id == rater_id)
            ).scalar_one()
        return int(n), self.target

    def _task(self, assignment) -> Task:  # noqa: ANN001
        comp = self.comparisons[assignment.comparison_id]
        a, b = self.images[comp.image_a], self.images[comp.image_b]
        left, right = (a, b) if assignment.left_is_a else (b, a)
        return Task(
            assignment.id, comp.id, assignment.question, comp.caption, left, right, comp.is_gold
        )

    def _pending(self, conn, rater_id: int):  # noqa: ANN001, ANN202
        a, v = schema.assignments, schema.votes
        return conn.execute(
            sa.select(a)
            .outerjoin(v, v.c.assignment_id == a.c.id)
            .where(a.c.rater_id == rater_id, v.c.id.is_(None))
            .order_by(a.c.id)
            .limit(1)
        ).first()

    def next_task(self, rater_id: int) -> Task | None:
        """The pair to show now: the rater's unanswered one, else a new one; None when done."""
        cfg = self.study.config
        a = schema.assignments
        for _attempt in range(5):
            with self.db.read() as conn:
                pending = self._pending(conn, rater_id)
                if pending is not None:
                    return self._task(pending)
                n_done = conn.execute(
                    sa.select(sa.func.count()).where(schema.votes.c.rater_id == rater_id)
                ).scalar_one()
                if n_done >= self.target:
                    return None
                seen = set(
                    conn.execute(
                        sa.select(a.c.comparison_id).where(a.c.rater_id == rater_id)
                    ).scalars()
                )
                shown = conn.execute(
                    sa.select(a.c.comparison_id, a.c.question, sa.func.count())
                    .where(a.c.study_id == self.study.id)
                    .group_by(a.c.comparison_id, a.c.question)
                ).all()
            rng = np.random.default_rng([cfg.seed, rater_id, len(seen)])
            pick = self._choose(seen, shown, rng)
            if pick is None:
                return None
            comparison_id, question = pick
            try:
                with self.db.write() as conn:
                    conn.execute(
                        sa.insert(a).values(
                            study_id=self.study.id,
                            rater_id=rater_id,
                            comparison_id=comparison_id,
                            question=question,
                            left_is_a=bool(rng.random() < 0.5),
                            shown_at=utcnow(),
                        )
                    )
            except IntegrityError:
                continue  # a concurrent request of the same rater got there first: re-read
        raise HumanEvalError("could not schedule the next pair; reload the page")

    def _choose(self, seen: set[int], shown, rng: np.random.Generator):  # noqa: ANN001, ANN202
        cfg = self.study.config
        open_gold = [c for c in self.comparisons.values() if c.is_gold and c.id not in seen]
        if open_gold and rng.random() < cfg.gold_rate:
            comp = open_gold[int(rng.integers(len(open_gold)))]
            return comp.id, cfg.questions[int(rng.integers(len(cfg.questions)))]
        comparison_shown = {(c, q): int(n) for c, q, n in shown}
        cell_shown: Counter = Counter()
        for (cid, q), n in comparison_shown.items():
            comp = self.comparisons[cid]
            if not comp.is_gold:
                cell_shown[(q, comp.condition_a, comp.condition_b)] += n
        candidates = [
            Candidate(c.id, q, c.condition_a, c.condition_b)  # type: ignore[arg-type]
            for c in self.comparisons.values()
            if not c.is_gold and c.id not in seen
            for q in cfg.questions
        ]
        ratings = self.current_elo() if cfg.strategy == "uncertain" else None
        cand = choose(candidates, cell_shown, comparison_shown, cfg.strategy, rng, ratings)
        if cand is None:
            if open_gold:  # only gold pairs left for this rater
                comp = open_gold[int(rng.integers(len(open_gold)))]
                return comp.id, cfg.questions[int(rng.integers(len(cfg.questions)))]
            return None
        return cand.comparison_id, cand.question

    def current_elo(self, max_age_s: float = _RATINGS_TTL_S) -> dict[str, dict[int, float]]:
        """Elo ratings per question from the votes so far (recomputed when older than
        ``max_age_s``)."""
        from human_eval.ratings.models import elo_mle, tally

        with self._lock:
            if self._ratings is not None and time.monotonic() - self._ratings[0] < max_age_s:
                return self._ratings[1]
        v, c = schema.votes, schema.comparisons
        with self.db.read() as conn:
            rows = conn.execute(
                sa.select(v.c.question, c.c.condition_a_id, c.c.condition_b_id, v.c.outcome)
                .join(c, c.c.id == v.c.comparison_id)
                .where(v.c.study_id == self.study.id, v.c.is_gold.is_(False))
            ).all()
        cond_ids = sorted(
            {
                x
                for comp in self.comparisons.values()
                for x in (comp.condition_a, comp.condition_b)
                if x is not None
            }
        )
        index = {cid: i for i, cid in enumerate(cond_ids)}
        out: dict[str, dict[int, float]] = {}
        for q in self.study.config.questions:
            sel = [r for r in rows if r[0] == q]
            if not sel:
                continue
            a_idx = np.array([index[r[1]] for r in sel])
            b_idx = np.array([index[r[2]] for r in sel])
            outcome = np.array([{"a": 0, "b": 1, "tie": 2}[r[3]] for r in sel])
            wins, ties = tally(a_idx, b_idx, outcome, len(cond_ids))
            scores = elo_mle(wins, ties, reference=0)
            out[q] = {cid: float(scores[index[cid]]) for cid in cond_ids}
        with self._lock:
            self._ratings = (time.monotonic(), out)
        return out

    def record_vote(self, rater_id: int, assignment_id: int, choice: str) -> bool:
        """Store the answer to an assignment; True if new, False if it was already recorded."""
        if choice not in schema.CHOICES:
            raise HumanEvalError(f"choice: {choice!r}; one of {schema.CHOICES}")
        a = schema.assignments
        now = utcnow()
        try:
            with self.db.write() as conn:
                row = conn.execute(sa.select(a).where(a.c.id == assignment_id)).first()
                if row is None or row.rater_id != rater_id:
                    raise HumanEvalError(
                        f"vote: assignment {assignment_id} was not shown to this rater; reload"
                    )
                shown_at = row.shown_at
                if shown_at.tzinfo is None:
                    shown_at = shown_at.replace(tzinfo=dt.timezone.utc)
                if choice == "tie":
                    outcome = "tie"
                else:
                    outcome = "a" if (choice == "left") == bool(row.left_is_a) else "b"
                conn.execute(
                    sa.insert(schema.votes).values(
                        study_id=self.study.id,
                        rater_id=rater_id,
                        comparison_id=row.comparison_id,
                        question=row.question,
                        assignment_id=assignment_id,
                        choice=choice,
                        outcome=outcome,
                        left_is_a=bool(row.left_is_a),
                        is_gold=self.comparisons[row.comparison_id].is_gold,
                        created_at=now,
                        response_ms=int((now - shown_at).total_seconds() * 1000),
                    )
                )
        except IntegrityError:
            return False
        return True
