"""The rater side of a study: joining, the next pair, recording a vote; rater quality.

Every call is its own short transaction, committed before it returns, so the app shows the next
pair only after the previous vote is in the database. A vote is tied to the assignment it
answers (one comparison, one question, the left/right order that was shown, first showing or
the rater's own repeat) and the unique constraint on (rater, comparison, question, repeat) turns
a double click or a reload into a no-op.

Rater names are matched case- and white-space-insensitively (``tokens.name_key``); keys and
invite tokens are looked up by their hashes. Error messages meant for raters never repeat what
they typed: the app shows them as they are.
"""

from __future__ import annotations

import datetime as dt
import math
import threading
import time
from collections import Counter
from dataclasses import dataclass

import numpy as np
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from human_eval import schema
from human_eval.create import StudyConfig
from human_eval.database import Database, utcnow
from human_eval.errors import HumanEvalError
from human_eval.scheduler import Candidate, choose, choose_overlap, choose_repeat, due
from human_eval.tokens import (
    display_name,
    hash_token,
    invite_rater_key,
    invite_rater_name,
    name_key,
    new_token,
    same_hash,
)

_RATINGS_TTL_S = 15.0
_CONFIG_TTL_S = 30.0
MAX_NAME_CHARS = 100
RESERVED_NAME_PREFIX = "invite-"  # invited raters' names


class UnknownStudyError(HumanEvalError):
    """No study of that name (the message, for the command line, lists the studies)."""


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
    key: str | None  # the personal key, known only to whoever presented or just received it
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
    repeat: int = 0  # 1: the rater's own repeat of an earlier item (never told to the rater)
    kind: str = "new"  # schema.ASSIGNMENT_KINDS


@dataclass(frozen=True)
class RaterQuality:
    """One rater's standing under the study's flagging rule (``rater_quality``)."""

    rater_id: int
    name: str
    joined_at: dt.datetime
    n_votes: int
    gold_answered: int
    gold_correct: int
    gold_accuracy: float  # NaN before the first gold answer
    flagged: bool  # by the gold pairs, under the study's rule
    excluded: bool  # by the admin (page or `study exclude`)
    excluded_reason: str | None

    @property
    def left_out(self) -> bool:
        """Left out of the ratings by default: excluded by the admin or flagged."""
        return self.excluded or self.flagged

    @property
    def status(self) -> str:
        return "excluded" if self.excluded else ("flagged" if self.flagged else "ok")


def flagging_rule(config: StudyConfig) -> str:
    """The study's flagging rule in words."""
    if config.gold_pairs == 0:
        return "no gold pairs in this study: nobody is flagged"
    return (
        f"flagged when gold-pair accuracy is below {config.gold_min_accuracy:.0%} after at "
        f"least {config.gold_min_answered} gold pair(s) answered"
    )


def is_flagged(config: StudyConfig, gold_answered: int, gold_correct: int) -> bool:
    if config.gold_pairs == 0 or gold_answered < config.gold_min_answered or gold_answered == 0:
        return False
    return gold_correct / gold_answered < config.gold_min_accuracy


def rater_quality(db: Database, study: Study) -> list[RaterQuality]:
    """Every rater of the study, in joining order, with votes, gold-pair answers, and whether
    the study's flagging rule (``gold_min_accuracy`` after ``gold_min_answered`` gold pairs)
    flags them. The ratings leave out raters with ``left_out`` by default."""
    r, v, c = schema.raters, schema.votes, schema.comparisons
    gold = sa.and_(v.c.is_gold.is_(True))
    correct = sa.and_(v.c.is_gold.is_(True), v.c.outcome == c.c.gold_answer)
    query = (
        sa.select(
            r.c.id,
            r.c.name,
            r.c.created_at,
            r.c.excluded,
            r.c.excluded_reason,
            sa.func.count(v.c.id),
            sa.func.coalesce(sa.func.sum(sa.case((gold, 1), else_=0)), 0),
            sa.func.coalesce(sa.func.sum(sa.case((correct, 1), else_=0)), 0),
        )
        .select_from(r)
        .outerjoin(v, v.c.rater_id == r.c.id)
        .outerjoin(c, c.c.id == v.c.comparison_id)
        .where(r.c.study_id == study.id)
        .group_by(r.c.id, r.c.name, r.c.created_at, r.c.excluded, r.c.excluded_reason)
        .order_by(r.c.id)
    )
    with db.read() as conn:
        rows = conn.execute(query).all()
    out = []
    for rid, name, joined, excluded, reason, n, answered, right in rows:
        answered, right = int(answered), int(right)
        out.append(
            RaterQuality(
                rater_id=int(rid),
                name=name,
                joined_at=joined,
                n_votes=int(n),
                gold_answered=answered,
                gold_correct=right,
                gold_accuracy=right / answered if answered else math.nan,
                flagged=is_flagged(study.config, answered, right),
                excluded=bool(excluded),
                excluded_reason=reason,
            )
        )
    return out


def list_studies(db: Database, *, public_only: bool = False) -> list[str]:
    with db.read() as conn:
        rows = conn.execute(
            sa.select(schema.studies.c.name, schema.studies.c.config).order_by("name")
        ).all()
    return [n for n, cfg in rows if not public_only or bool((cfg or {}).get("public", False))]


def load_study(db: Database, name: str) -> Study:
    with db.read() as conn:
        row = conn.execute(sa.select(schema.studies).where(schema.studies.c.name == name)).first()
    if row is None:
        known = list_studies(db)
        raise UnknownStudyError(
            f"--study: no study named {name!r} in this database; "
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
    return same_hash(token or "", study.admin_token_sha256)


class VoteStore:
    """Rater operations on one study (thread-safe; one instance may serve every session)."""

    def __init__(self, db: Database, study_name: str) -> None:
        self.db = db
        self.study = load_study(db, study_name)
        self._study_read = time.monotonic()
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
        self._lock = threading.Lock()
        self._ratings: tuple[float, dict[str, dict[int, float]]] | None = None

    @property
    def config(self) -> StudyConfig:
        """The study's settings, re-read every 30 s (``study configure`` reaches a running app)."""
        if time.monotonic() - self._study_read > _CONFIG_TTL_S:
            with self._lock:
                self.study = load_study(self.db, self.study.name)
                self._study_read = time.monotonic()
        return self.study.config

    @property
    def target(self) -> int:
        return min(self.config.votes_per_rater, len(self.comparisons))

    # -- joining ------------------------------------------------------------------------------
    def _rater(self, where, key: str | None = None) -> Rater | None:  # noqa: ANN001
        with self.db.read() as conn:
            row = conn.execute(
                sa.select(schema.raters).where(schema.raters.c.study_id == self.study.id, where)
            ).first()
        return None if row is None else Rater(row.id, row.name, key, bool(row.excluded))

    def rater_by_key(self, key: str) -> Rater | None:
        """The rater whose personal key this is (looked up by its hash), or None."""
        if not key or len(key) > 200:
            return None
        return self._rater(schema.raters.c.key_sha256 == hash_token(key), key)

    def _insert_rater(self, name: str, key: str, invite: str | None) -> bool:
        try:
            with self.db.write() as conn:
                conn.execute(
                    sa.insert(schema.raters).values(
                        study_id=self.study.id,
                        name=name,
                        name_key=name_key(name),
                        key_sha256=hash_token(key),
                        invite_sha256=None if invite is None else hash_token(invite),
                        created_at=utcnow(),
                        excluded=False,
                    )
                )
        except IntegrityError:
            return False  # created concurrently (or the name is taken): the caller re-reads
        return True

    def join_by_name(self, name: str) -> Rater:
        """Join under a new name (case and white space do not make a new name; a taken name is
        refused). Refused for invite-only studies."""
        name = display_name(name)
        if not 1 <= len(name) <= MAX_NAME_CHARS:
            raise HumanEvalError(f"name: enter a name of 1-{MAX_NAME_CHARS} characters")
        if not self.config.allow_named_join:
            raise HumanEvalError(
                "name: this study is invite-only; open the invite link you were sent"
            )
        if name_key(name).startswith(RESERVED_NAME_PREFIX):
            raise HumanEvalError(
                f"name: names starting with {RESERVED_NAME_PREFIX!r} are kept for invited "
                "raters; choose another name"
            )
        taken = HumanEvalError(
            "name: this name is already taken in this study (names ignore upper/lower case and "
            "spaces); choose another name, or, if it is you, come back through the address of "
            "your rating page (it ends in ?r=...)"
        )
        # A name is no password: whoever typed it first owns it, and comes back through the
        # personal key in their page's address (?r=...), never by retyping it.
        if self._rater(schema.raters.c.name_key == name_key(name)) is not None:
            raise taken
        key = new_token(16)
        if self._insert_rater(name, key, None):
            rater = self._rater(schema.raters.c.key_sha256 == hash_token(key), key)
            if rater is not None:
                return rater
        raise taken  # somebody took it at the same moment

    def join_by_invite(self, token: str) -> Rater:
        """Join (or come back) with an invite token; the rater is named after the token's hash
        and gets the key derived from the token (the same one every time)."""
        token = (token or "").strip()
        invalid = HumanEvalError(
            "invite: this invite is not valid for this study; check that you opened the whole "
            "link you were sent, or ask the person running the study for a new one"
        )
        if not token or len(token) > 200:
            raise invalid
        token_hash = hash_token(token)
        with self.db.read() as conn:
            known = conn.execute(
                sa.select(schema.invites.c.token_sha256).where(
                    schema.invites.c.study_id == self.study.id,
                    schema.invites.c.token_sha256 == token_hash,
                )
            ).first()
        if known is None:
            raise invalid
        key = invite_rater_key(token)
        for _ in range(2):
            rater = self._rater(schema.raters.c.invite_sha256 == token_hash, key)
            if rater is not None:
                self._adopt_invite_key(rater.id, key)
                return rater
            self._insert_rater(invite_rater_name(token), key, token)
        raise HumanEvalError("invite: could not join; reload the page")

    def _adopt_invite_key(self, rater_id: int, key: str) -> None:
        """Raters invited before keys were derived from the token (schema 0001) had a random
        key: from their first return through the invite link on, the derived key is theirs."""
        r = schema.raters
        with self.db.write() as conn:
            conn.execute(
                sa.update(r)
                .where(r.c.id == rater_id, r.c.key_sha256 != hash_token(key))
                .values(key_sha256=hash_token(key))
            )

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
            assignment.id,
            comp.id,
            assignment.question,
            comp.caption,
            left,
            right,
            comp.is_gold,
            int(assignment.repeat),
            assignment.kind,
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
        cfg = self.config
        a, v = schema.assignments, schema.votes
        for _attempt in range(5):
            with self.db.read() as conn:
                pending = self._pending(conn, rater_id)
                if pending is not None:
                    return self._task(pending)
                # no pending assignment: every one of the rater's assignments has its vote
                mine = conn.execute(
                    sa.select(a.c.comparison_id, a.c.question, a.c.repeat, a.c.kind, a.c.left_is_a)
                    .where(a.c.rater_id == rater_id)
                    .order_by(a.c.id)
                ).all()
                if len(mine) >= self.target:
                    return None
                items = conn.execute(
                    sa.select(
                        a.c.comparison_id,
                        a.c.question,
                        sa.func.count(a.c.id),
                        sa.func.count(sa.distinct(v.c.rater_id)),
                    )
                    .outerjoin(v, v.c.assignment_id == a.c.id)
                    .where(a.c.study_id == self.study.id, a.c.repeat == 0)
                    .group_by(a.c.comparison_id, a.c.question)
                ).all()
            rng = np.random.default_rng([cfg.seed, rater_id, len(mine)])
            pick = self._choose(cfg, mine, items, rng)
            if pick is None:
                return None
            comparison_id, question, repeat, kind, left_is_a = pick
            try:
                with self.db.write() as conn:
                    conn.execute(
                        sa.insert(a).values(
                            study_id=self.study.id,
                            rater_id=rater_id,
                            comparison_id=comparison_id,
                            question=question,
                            left_is_a=left_is_a,
                            shown_at=utcnow(),
                            repeat=repeat,
                            kind=kind,
                        )
                    )
            except IntegrityError:
                continue  # a concurrent request of the same rater got there first: re-read
        raise HumanEvalError("could not schedule the next pair; reload the page")

    def _choose(self, cfg: StudyConfig, mine, items, rng: np.random.Generator):  # noqa: ANN001, ANN202
        """(comparison_id, question, repeat, kind, left_is_a) of the next task, or None."""
        seen = {m.comparison_id for m in mine}
        kinds = Counter(m.kind for m in mine)
        n_done = len(mine)

        def fresh_side() -> bool:
            return bool(rng.random() < 0.5)

        open_gold = [c for c in self.comparisons.values() if c.is_gold and c.id not in seen]
        if open_gold and rng.random() < cfg.gold_rate:
            comp = open_gold[int(rng.integers(len(open_gold)))]
            question = cfg.questions[int(rng.integers(len(cfg.questions)))]
            return comp.id, question, 0, "gold", fresh_side()
        if due(cfg.repeat_rate, n_done, kinds["repeat"], rng):
            history = [
                (m.comparison_id, m.question, m.repeat == 0 and m.kind != "gold") for m in mine
            ]
            repeated = {(m.comparison_id, m.question) for m in mine if m.repeat == 1}
            pick = choose_repeat(history, repeated, rng)
            if pick is not None:
                i, cid = pick
                return cid, mine[i].question, 1, "repeat", not bool(mine[i].left_is_a)
        comparison_shown = {(c, q): int(n) for c, q, n, _ in items}
        judged_by = {(c, q): int(k) for c, q, _, k in items}
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
        cand = None
        if due(cfg.overlap_rate, n_done, kinds["overlap"], rng):
            cand = choose_overlap(candidates, judged_by, cell_shown, rng)
        if cand is None:
            ratings = self.current_elo() if cfg.strategy == "uncertain" else None
            cand = choose(candidates, cell_shown, comparison_shown, cfg.strategy, rng, ratings)
        if cand is None:
            if open_gold:  # only gold pairs left for this rater
                comp = open_gold[int(rng.integers(len(open_gold)))]
                question = cfg.questions[int(rng.integers(len(cfg.questions)))]
                return comp.id, question, 0, "gold", fresh_side()
            return None
        item = (cand.comparison_id, cand.question)
        kind = "overlap" if judged_by.get(item, 0) > 0 else "new"
        return cand.comparison_id, cand.question, 0, kind, fresh_side()

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
                .where(v.c.study_id == self.study.id, v.c.is_gold.is_(False), v.c.repeat == 0)
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
        for q in self.config.questions:
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
                    raise HumanEvalError("vote: this pair was not shown to you; reload the page")
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
                        repeat=int(row.repeat),
                    )
                )
        except IntegrityError:
            return False
        return True
