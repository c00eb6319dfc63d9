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
from human_eval.scheduler import REPEAT_MIN_GAP, Candidate, choose, due
from human_eval.store import VoteStore
from human_eval.vote_tables import raters_frame, set_excluded, votes_frame

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def store(db_url: str, sweep: Path):
    make_study(db_url, sweep, gold_pairs=0, overlap_rate=0.0, repeat_rate=0.0)
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
    with pytest.raises(HumanEvalError, match="kept for invited raters"):
        store.join_by_name(guest.name)  # nobody takes over an invited rater by typing its name
    with pytest.raises(HumanEvalError, match="1-100 characters"):
        store.join_by_name("   ")
    db.dispose()


def test_names_ignore_case_and_spaces(store: VoteStore) -> None:
    alice = store.join_by_name("  Alice   Smith ")
    assert alice.name == "Alice Smith"
    for again in ("alice smith", "ALICE SMITH", "alice\tsmith", " Alice  Smith"):
        with pytest.raises(HumanEvalError, match="already taken") as err:
            store.join_by_name(again)
        assert again.strip() not in str(err.value)  # messages never repeat what was typed
    assert store.join_by_name("Alice Smyth").name == "Alice Smyth"


def test_secrets_are_stored_hashed(db_url: str, sweep: Path, tmp_path: Path) -> None:
    made = make_study(db_url, sweep, invites=2)
    db = open_database(db_url)
    store = VoteStore(db, "study")
    named = store.join_by_name("hashed")
    invited = store.join_by_invite(made.invite_tokens[0])
    secrets = [named.key, invited.key, *made.invite_tokens, made.admin_token]
    with db.read() as conn:
        dump = [
            repr(tuple(row))
            for table in schema.metadata.sorted_tables
            for row in conn.execute(sa.select(table)).all()
        ]
    text = "\n".join(dump)
    assert all(s and s not in text for s in secrets)
    assert store.rater_by_key(named.key) == named and store.rater_by_key("nope") is None
    # the invite link always finds the same rater, with the same key
    assert store.join_by_invite(made.invite_tokens[0]) == invited
    assert store.rater_by_key(invited.key).id == invited.id
    db.dispose()
    if db_url.startswith("sqlite"):
        path = Path(db_url.removeprefix("sqlite:///"))
        for f in [path, *path.parent.glob(path.name + "-*")]:
            assert f.stat().st_mode & 0o077 == 0, (f, oct(f.stat().st_mode))


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
    with pytest.raises(HumanEvalError, match="not shown to you"):
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
    assert len(seen) == len(set(seen)) == store.target == 36  # no repeats with repeat_rate 0
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


def _agreement_study(url: str, sweep: Path, **config) -> VoteStore:
    """4 conditions x 6 captions x 2 questions = 72 items, 4 raters x 25 votes (the issue's
    4-rater, 100-vote study), gold pairs on."""
    make_study(url, sweep, name="agree", gold_pairs=4, votes_per_rater=25, **config)
    return VoteStore(open_database(url), "agree")


def _vote_round_robin(store: VoteStore, raters, n: int, rng) -> list:  # noqa: ANN001
    tasks = []
    for _ in range(n):
        for rater in raters:
            task = store.next_task(rater.id)
            if task is None:
                continue
            store.record_vote(
                rater.id, task.assignment_id, ("left", "right", "tie")[rng.integers(3)]
            )
            tasks.append((rater.id, task))
    return tasks


def test_overlaps_and_repeats_from_the_first_votes(sqlite_url: str, sweep: Path) -> None:
    from human_eval.vote_tables import repeat_pairs

    store = _agreement_study(sqlite_url, sweep)  # default overlap and repeat rates
    cfg = store.study.config
    assert cfg.overlap_rate > 0 and cfg.repeat_rate > 0
    raters = [store.join_by_name(f"r{i}") for i in range(4)]
    tasks = _vote_round_robin(store, raters, 25, np.random.default_rng(0))
    assert len(tasks) == 100
    votes = votes_frame(store.db, store.study)
    kinds = Counter(votes["assignment_kind"])
    assert kinds["repeat"] == (votes["repeat"] == 1).sum() >= 4 * int(cfg.repeat_rate * 25)
    assert kinds["overlap"] >= 4 * int(cfg.overlap_rate * 25) - 2
    # overlaps start early: after the first 10 rounds some item already has two raters
    early = votes[(votes["repeat"] == 0) & ~votes["is_gold"]].groupby("rater_id").head(10)
    assert early.groupby(["comparison_id", "question"])["rater_id"].nunique().max() >= 2
    # inter-rater agreement needs items judged by two raters or more (first showings of
    # regular items): a 4-rater, 100-vote study has plenty of them, on both questions
    first = votes[(votes["repeat"] == 0) & ~votes["is_gold"]]
    raters_per_item = first.groupby(["question", "comparison_id"])["rater_id"].nunique()
    shared = (raters_per_item >= 2).groupby(level="question").sum()
    assert (shared >= 5).all() and set(shared.index) == set(cfg.questions), shared
    # intra-rater repeats: own earlier items, sides swapped, at least REPEAT_MIN_GAP later
    pairs = repeat_pairs(votes)
    assert len(pairs) == kinds["repeat"] and not pairs["is_gold"].any()
    for rater_id, task in tasks:
        if task.repeat:
            first_task = next(
                t
                for r, t in tasks
                if r == rater_id
                and not t.repeat
                and (t.comparison_id, t.question) == (task.comparison_id, task.question)
            )
            assert task.left.id == first_task.right.id and task.right.id == first_task.left.id
            mine = [t.assignment_id for r, t in tasks if r == rater_id]
            gap = mine.index(task.assignment_id) - mine.index(first_task.assignment_id)
            assert gap >= REPEAT_MIN_GAP
    # every vote is still idempotent: the repeat is a showing of its own
    assert not votes.duplicated(["rater_id", "comparison_id", "question", "repeat"]).any()
    store.db.dispose()


def test_no_overlaps_or_repeats_when_switched_off(sqlite_url: str, sweep: Path) -> None:
    store = _agreement_study(sqlite_url, sweep, overlap_rate=0.0, repeat_rate=0.0)
    raters = [store.join_by_name(f"r{i}") for i in range(4)]
    _vote_round_robin(store, raters, 12, np.random.default_rng(1))
    votes = votes_frame(store.db, store.study)
    regular = votes[~votes["is_gold"]]
    assert (votes["repeat"] == 0).all()
    # 72 items, 48 regular-or-gold votes so far: fewest-first never shows an item twice yet
    assert not regular.duplicated(["comparison_id", "question"]).any()
    store.db.dispose()


def test_due_keeps_the_share(monkeypatch) -> None:
    rng = np.random.default_rng(3)
    for rate in (0.05, 0.1, 0.25, 0.5):
        n_kind = 0
        for n in range(400):
            if due(rate, n, n_kind, rng):
                n_kind += 1
            assert abs(n_kind - rate * (n + 1)) <= 1.0
    assert not due(0.0, 10, 0, rng)


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
