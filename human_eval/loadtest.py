"""``python -m human_eval.loadtest``: many concurrent raters voting against one database.

Each rater is a thread running the app's own code path (one shared ``VoteStore``, as one
Streamlit server shares it between sessions): next pair, vote, next pair... A share of the votes
is also submitted a second time *concurrently* from another thread (a double click); exactly one
of the two may be recorded. At the end the database is compared with what the raters were told:
every confirmed vote must be there (zero lost) and no (rater, comparison, question, showing)
twice (zero duplicated; a rater's deliberate repeat of an item for intra-rater consistency is
its second showing). Prints votes per second.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import sqlalchemy as sa

from human_eval import schema
from human_eval.create import StudyConfig, create_study
from human_eval.database import Database, db_url_from, open_database
from human_eval.errors import HumanEvalError
from human_eval.fake_sweep import make_sweep
from human_eval.store import VoteStore
from human_eval.study_conditions import load_conditions

LOAD_CONDITIONS = [
    ("cfg", 0.0),
    ("cfg", 1.0),
    ("cfg", 3.0),
    ("clip", 1.0),
    ("clip", 2.0),
    ("clip", 4.0),
]


@dataclass
class LoadResult:
    raters: int
    seconds: float
    confirmed: int
    in_database: int
    lost: int
    duplicated: int
    unexpected: int
    double_submits: int
    double_submits_recorded_twice: int
    repeats: int = 0  # votes on the raters' deliberate repeat showings (intra-rater)
    overlaps: int = 0  # votes on items another rater had judged (inter-rater)
    errors: list[str] = field(default_factory=list)

    @property
    def votes_per_s(self) -> float:
        return self.confirmed / self.seconds if self.seconds > 0 else float("nan")

    def ok(self) -> bool:
        return (
            not self.errors
            and self.lost == 0
            and self.duplicated == 0
            and self.unexpected == 0
            and self.double_submits_recorded_twice == 0
        )


def create_load_study(db: Database, name: str, workdir: Path, n_captions: int = 40) -> str:
    """A study big enough that no rater runs out of pairs within a few minutes."""
    make_sweep(workdir, LOAD_CONDITIONS, n_captions=n_captions, size=8)
    runs = load_conditions([workdir])
    config = StudyConfig(max_captions=n_captions, votes_per_rater=100_000, gold_pairs=5)
    create_study(db, name, runs, config, admin_token="load-test-admin")
    return name


def run_load(
    db: Database,
    study: str,
    *,
    raters: int = 20,
    seconds: float = 60.0,
    double_rate: float = 0.1,
    seed: int = 0,
    prefix: str = "load",
) -> LoadResult:
    store = VoteStore(db, study)
    confirmed: dict[int, set[int]] = {}
    errors: list[str] = []
    doubles = [0, 0]  # double submissions, of which recorded twice
    lock = threading.Lock()
    start_gate = threading.Barrier(raters)
    deadline = [0.0]
    pool = ThreadPoolExecutor(max_workers=raters)

    def rater_loop(i: int) -> None:
        rng = np.random.default_rng([seed, i])
        try:
            rater = store.join_by_name(f"{prefix}-{i}")
            mine: set[int] = set()
            confirmed[rater.id] = mine
            start_gate.wait()
            while time.monotonic() < deadline[0]:
                task = store.next_task(rater.id)
                if task is None:
                    break
                choice = ("left", "right", "tie")[int(rng.integers(3))]
                if rng.random() < double_rate:
                    twin = pool.submit(store.record_vote, rater.id, task.assignment_id, choice)
                    first = store.record_vote(rater.id, task.assignment_id, choice)
                    second = twin.result()
                    with lock:
                        doubles[0] += 1
                        doubles[1] += int(first and second)
                    recorded = first or second
                else:
                    recorded = store.record_vote(rater.id, task.assignment_id, choice)
                if not recorded:
                    raise AssertionError(f"vote on new assignment {task.assignment_id} refused")
                mine.add(task.assignment_id)
        except Exception as exc:  # noqa: BLE001 - reported, and fails the run
            with lock:
                errors.append(f"rater {i}: {type(exc).__name__}: {exc}")
            try:
                start_gate.abort()
            except threading.BrokenBarrierError:
                pass

    threads = [threading.Thread(target=rater_loop, args=(i,)) for i in range(raters)]
    deadline[0] = time.monotonic() + seconds + 3600  # set properly once everyone has joined
    for t in threads:
        t.start()
    t0 = time.monotonic()
    deadline[0] = t0 + seconds
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t0
    pool.shutdown()

    v = schema.votes
    rater_ids = list(confirmed)
    with db.read() as conn:
        rows = (
            conn.execute(
                sa.select(
                    v.c.assignment_id, v.c.rater_id, v.c.comparison_id, v.c.question, v.c.repeat
                ).where(v.c.rater_id.in_(rater_ids))
            ).all()
            if rater_ids
            else []
        )
        kinds = (
            dict(
                conn.execute(
                    sa.select(schema.assignments.c.kind, sa.func.count())
                    .join(v, v.c.assignment_id == schema.assignments.c.id)
                    .where(v.c.rater_id.in_(rater_ids))
                    .group_by(schema.assignments.c.kind)
                ).all()
            )
            if rater_ids
            else {}
        )
    in_db = {r.assignment_id for r in rows}
    said = set().union(*confirmed.values()) if confirmed else set()
    keys = [(r.rater_id, r.comparison_id, r.question, r.repeat) for r in rows]
    return LoadResult(
        raters=raters,
        seconds=elapsed,
        confirmed=len(said),
        in_database=len(rows),
        lost=len(said - in_db),
        duplicated=len(keys) - len(set(keys)),
        unexpected=len(in_db - said),
        double_submits=doubles[0],
        double_submits_recorded_twice=doubles[1],
        repeats=int(kinds.get("repeat", 0)),
        overlaps=int(kinds.get("overlap", 0)),
        errors=errors,
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m human_eval.loadtest", description=__doc__.split("\n\n")[0]
    )
    p.add_argument(
        "--db",
        default=None,
        help="database URL (a SQLite file is created if missing; a PostgreSQL database must "
        "exist; default: the environment variable HUMAN_EVAL_DB)",
    )
    p.add_argument(
        "--study",
        default=None,
        help="existing study to vote in (default: create a synthetic study named loadtest-<time>)",
    )
    p.add_argument("--raters", type=int, default=20, help="concurrent raters (default 20)")
    p.add_argument("--seconds", type=float, default=60.0, help="duration (default 60)")
    p.add_argument(
        "--double-rate",
        type=float,
        default=0.1,
        help="share of votes also submitted concurrently a second time (default 0.1)",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    args = p.parse_args(argv)
    try:
        if args.raters < 1 or args.seconds <= 0:
            raise HumanEvalError("--raters must be >= 1 and --seconds > 0")
        db = open_database(db_url_from(args.db), create=args.study is None)
        try:
            study = args.study
            if study is None:
                with tempfile.TemporaryDirectory(prefix="he-load-") as tmp:
                    study = create_load_study(db, f"loadtest-{int(time.time())}", Path(tmp))
                    result = run_load(
                        db,
                        study,
                        raters=args.raters,
                        seconds=args.seconds,
                        double_rate=args.double_rate,
                        seed=args.seed,
                    )
            else:
                result = run_load(
                    db,
                    study,
                    raters=args.raters,
                    seconds=args.seconds,
                    double_rate=args.double_rate,
                    seed=args.seed,
                )
        finally:
            db.dispose()
    except HumanEvalError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(
        f"{db.engine.dialect.name}: {result.raters} raters, {result.seconds:.1f} s, "
        f"{result.confirmed} votes confirmed, {result.in_database} in the database, "
        f"lost {result.lost}, duplicated {result.duplicated}, unexpected {result.unexpected}, "
        f"{result.double_submits} concurrent double submissions "
        f"({result.double_submits_recorded_twice} recorded twice), {result.overlaps} overlap "
        f"and {result.repeats} repeat votes: "
        f"{result.votes_per_s:.1f} votes/s"
    )
    for err in result.errors:
        print(f"  {err}", file=sys.stderr)
    return 0 if result.ok() else 1


if __name__ == "__main__":
    raise SystemExit(main())
