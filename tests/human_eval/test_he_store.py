"""The rater side against both databases: joining, scheduling, votes, gold pairs, crashes."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from he_helpers import make_study
from sqlalchemy.exc import IntegrityError

from human_eval import schema
from human_eval.database import open_database, utcnow
from human_eval.errors import HumanEvalError
from human_eval.scheduler import Candidate, choose
from human_eval.store import VoteStore
from human_eval.tables import raters_frame, set_excluded, votes_frame

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def store(db_url: str, sweep: Path):
    make_study(db_url, sweep, gold_pairs=0)
    db = open_database(db_url)
    yield VoteStore(db, "study")
    db.dispose()


def _votes(store: VoteStore) -> list:
    with store.db.read() as conn:
        return conn.execute(sa.select(schema.votes).order_by(schema.votes.c.id)).all()


def test_join_by_name_and_invite(db_url: str, sweep: Path) -> None:
    made = make_study(db_url, sweep, invites=2)
    db = open_database(db_url)
    store = VoteStore(db, "study")
    alice = store.join_by_name("  alice ")
    with pytest.raises(HumanEvalError, match="taken"):
        store.join_by_name("alice")  # nobody takes over a named rater by retyping the name
    assert store.rater_by_key(alice.key) == alice
    guest = store.join_by_invite(made.invite_tokens[0])
    assert store.join_by_invite(made.invite_tokens[0]) == guest
    assert guest.name.startswith("invite-") and guest != alice
    with pytest.raises(HumanEvalError, match="not valid"):
        store.join_by_invite("forged-token")
    with pytest.raises(HumanEvalError, match="is taken"):
        store.join_by_name(guest.name)  # nobody takes over an invited rater by typing its name
    with pytest.raises(HumanEvalError, match="1-100 characters"):
        store.join_by_name("   ")
    db.dispose()


def test_invite_only_study_refuses_names(sqlite_url: str, sweep: Path) -> None:
    make_study(sqlite_url, sweep, allow_named_join=False)
    store = VoteStore(open_database(sqlite_url), "study")
    with pytest.raises(HumanEvalError, match="invite-only"):
        store.join_by_name("bob")


def test_reload_shows_the_same_pending_pair(store: VoteStore) -> None:
    rater = store.join_by_name("r")
    first = store.next_task(rater.id)
    again = store.next_task(rater.id)
    assert again == first  # same assignment, same left/right
    assert store.record_vote(rater.id, first.assignment_id, "left")
    second = store.next_task(rater.id)
    assert second.assignment_id != first.assignment_id
    assert second.comparison_id != first.comparison_id


def test_vote_mapping_and_idempotence(store: VoteStore) -> None:
    rater = store.join_by_name("r")
    expected = []
    for choice in ["left", "right", "tie", "left", "right", "tie"] * 2:
        task = store.next_task(rater.id)
        comp = store.comparisons[task.comparison_id]
        left_is_a = task.left.id == comp.image_a
        assert {task.left.id, task.right.id} == {comp.image_a, comp.image_b}
        assert store.record_vote(rater.id, task.assignment_id, choice)
        assert not store.record_vote(rater.id, task.assignment_id, choice)  # double click
        assert not store.record_vote(rater.id, task.assignment_id, "tie")  # late change
        outcome = "tie" if choice == "tie" else ("a" if (choice == "left") == left_is_a else "b")
        expected.append((task.assignment_id, choice, outcome, left_is_a))
    rows = _votes(store)
    assert [(r.assignment_id, r.choice, r.outcome, r.left_is_a) for r in rows] == expected
    assert store.progress(rater.id) == (12, store.target)


def test_vote_for_someone_elses_pair_is_refused(store: VoteStore) -> None:
    a, b = store.join_by_name("a"), store.join_by_name("b")
    task = store.next_task(a.id)
    with pytest.raises(HumanEvalError, match="not shown to this rater"):
        store.record_vote(b.id, task.assignment_id, "left")
    with pytest.raises(HumanEvalError, match="choice"):
        store.record_vote(a.id, task.assignment_id, "both")
    assert _votes(store) == []


def test_unique_constraint_in_the_database(store: VoteStore) -> None:
    rater = store.join_by_name("r")
    task = store.next_task(rater.id)
    store.record_vote(rater.id, task.assignment_id, "left")
    row = _votes(store)[0]._asdict()
    row.pop("id")
    row["assignment_id"] = row["assignment_id"]
    with pytest.raises(IntegrityError):
        with store.db.write() as conn:
            conn.execute(sa.insert(schema.votes).values(**row))
    with pytest.raises(IntegrityError):  # the same (rater, comparison, question) again
        with store.db.write() as conn:
            aid = conn.execute(
                sa.insert(schema.assignments)
                .returning(schema.assignments.c.id)
                .values(
                    study_id=row["study_id"],
                    rater_id=row["rater_id"],
                    comparison_id=row["comparison_id"],
                    question=row["question"],
                    left_is_a=True,
                    shown_at=utcnow(),
                )
            ).scalar_one()
            conn.execute(sa.insert(schema.votes).values(**{**row, "assignment_id": aid}))
    assert len(_votes(store)) == 1


def test_a_rater_never_sees_a_pair_twice_and_cells_stay_balanced(store: VoteStore) -> None:
    rater = store.join_by_name("r")
    seen, cells, sides = [], Counter(), []
    while (task := store.next_task(rater.id)) is not None:
        comp = store.comparisons[task.comparison_id]
        seen.append(task.comparison_id)
        cells[(task.question, comp.condition_a, comp.condition_b)] += 1
        sides.append(task.left.id == comp.image_a)
        store.record_vote(rater.id, task.assignment_id, "tie")
        # fewest-first: after every vote no cell is ahead of another by more than one
        assert max(cells.values()) - min(cells.values() or [0]) <= 1 or len(cells) < 12
    assert len(seen) == len(set(seen)) == store.target == 36
    assert len(cells) == 12 and set(cells.values()) == {3}  # 6 pairs x 2 questions
    assert 0.25 < np.mean(sides) < 0.75  # left/right randomised
    assert store.progress(rater.id) == (36, 36)


def test_gold_pairs_flag_and_exclusion(sqlite_url: str, sweep: Path) -> None:
    make_study(sqlite_url, sweep, gold_pairs=6, gold_rate=0.5, gold_min_answered=2)
    db = open_database(sqlite_url)
    store = VoteStore(db, "study")
    good, bad = store.join_by_name("good"), store.join_by_name("bad")
    n_gold = Counter()
    for rater, wants_clean in ((good, True), (bad, False)):
        for _ in range(20):
            task = store.next_task(rater.id)
            comp = store.comparisons[task.comparison_id]
            if task.is_gold:
                n_gold[rater.name] += 1
                clean_left = task.left.id == comp.image_a
                choice = "left" if clean_left == wants_clean else "right"
            else:
                choice = "left"
            store.record_vote(rater.id, task.assignment_id, choice)
    assert n_gold["good"] >= 2 and n_gold["bad"] >= 2
    raters = raters_frame(db, store.study).set_index("rater")
    assert raters.loc["good", "gold_accuracy"] == 1.0 and not raters.loc["good", "flagged"]
    assert raters.loc["bad", "gold_accuracy"] == 0.0 and raters.loc["bad", "flagged"]
    set_excluded(db, store.study, "bad", True, "failed gold")
    votes = votes_frame(db, store.study)
    assert votes.loc[votes["rater"] == "bad", "rater_excluded"].all()
    assert (votes["is_gold"] == votes["condition_a"].eq("(gold: clean)")).all()
    db.dispose()


def test_uncertain_strategy_runs(sqlite_url: str, sweep: Path) -> None:
    make_study(sqlite_url, sweep, strategy="uncertain", gold_pairs=0)
    store = VoteStore(open_database(sqlite_url), "study")
    rater = store.join_by_name("r")
    for _ in range(10):
        task = store.next_task(rater.id)
        store.record_vote(rater.id, task.assignment_id, "left")
    elo = store.current_elo(max_age_s=0)
    assert set(elo) == {"photorealism", "caption"}
    assert all(len(q) == 4 and np.isfinite(list(q.values())).all() for q in elo.values())


def test_choose_fewest_and_uncertain() -> None:
    rng = np.random.default_rng(0)
    cands = [
        Candidate(1, "caption", 1, 2),
        Candidate(2, "caption", 1, 3),
        Candidate(3, "caption", 1, 3),
    ]
    cell_shown = {("caption", 1, 2): 5, ("caption", 1, 3): 1}
    comp_shown = {(2, "caption"): 1}
    assert choose(cands, cell_shown, comp_shown, "fewest", rng).comparison_id == 3
    # pair (1, 2) is a coin flip, pair (1, 3) nearly certain: uncertain picks (1, 2) despite
    # its five showings
    ratings = {"caption": {1: 0.0, 2: 0.0, 3: 1200.0}}
    pick = choose(cands, cell_shown, comp_shown, "uncertain", rng, ratings)
    assert pick.comparison_id == 1
    assert choose([], {}, {}, "fewest", rng) is None


def test_a_confirmed_vote_survives_a_hard_crash(sqlite_url: str, sweep: Path) -> None:
    make_study(sqlite_url, sweep, gold_pairs=0)
    code = (
        "import os\n"
        "from human_eval.database import open_database\n"
        "from human_eval.store import VoteStore\n"
        f"s = VoteStore(open_database({sqlite_url!r}), 'study')\n"
        "r = s.join_by_name('crash')\n"
        "for _ in range(3):\n"
        "    t = s.next_task(r.id)\n"
        "    assert s.record_vote(r.id, t.assignment_id, 'right')\n"
        "print('confirmed', flush=True)\n"
        "os._exit(9)  # no clean shutdown, no checkpoint\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 9 and "confirmed" in proc.stdout, proc.stderr
    db = open_database(sqlite_url)
    with db.read() as conn:
        n = conn.execute(sa.select(sa.func.count()).select_from(schema.votes)).scalar_one()
    assert n == 3
    db.dispose()
