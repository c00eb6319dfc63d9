"""Build ``votes_v1.db``: a vote database made by human_eval at schema version 1.

It was run once at commit a0a2584 (the last commit with schema version 1: rater keys and invite
tokens in plain text, our own ``schema_migrations`` table, no Alembic) and its output is stored
next to it; ``test_he_migration.py`` upgrades a copy of it (and, on PostgreSQL, the same rows
loaded into the frozen version-1 tables) and checks that every vote survives. Running it again
with today's code would build a *current* database, so it refuses unless the schema is at 1.

    PYTHONPATH=. python tests/human_eval/data/make_v1_db.py tests/human_eval/data/votes_v1.db

What it holds: one study over 3 synthetic conditions (8x8 images, 3 captions, 3 gold pairs),
two invite tokens (one used), raters 'Alice' and 'alice' (distinct in version 1), an invited
rater, a rater excluded with a reason, 24 votes including gold answers, one pending assignment.
Printed: the rater keys and the unused invite token, which the migration test checks still work.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import tempfile
from pathlib import Path

from human_eval import schema
from human_eval.create import StudyConfig, create_study
from human_eval.database import open_database
from human_eval.fake_sweep import make_sweep
from human_eval.store import VoteStore
from human_eval.study_conditions import load_conditions
from human_eval.vote_tables import set_excluded


def main(out: str) -> None:
    if schema.SCHEMA_VERSION != 1:
        raise SystemExit("this script builds a schema-1 database: run it at commit a0a2584")
    out_path = Path(out).resolve()
    if out_path.exists():
        out_path.unlink()
    url = f"sqlite:///{out_path}"
    with tempfile.TemporaryDirectory() as tmp:
        make_sweep(
            Path(tmp) / "sweep", [("cfg", 1.0), ("cfg", 3.0), ("clip", 1.0)], n_captions=3, size=8
        )
        db = open_database(url, create=True)
        made = create_study(
            db,
            "v1study",
            load_conditions([Path(tmp) / "sweep"]),
            StudyConfig(votes_per_rater=12, gold_pairs=3, gold_rate=0.3, gold_min_answered=1),
            admin_token="v1-admin-token",
            invites=2,
        )
    store = VoteStore(db, "v1study")
    raters = [
        store.join_by_name("Alice"),
        store.join_by_name("alice"),
        store.join_by_invite(made.invite_tokens[0]),
        store.join_by_name("bob"),
    ]
    for i, rater in enumerate(raters):
        for j in range(6):
            task = store.next_task(rater.id)
            store.record_vote(rater.id, task.assignment_id, ("left", "right", "tie")[(i + j) % 3])
    store.next_task(raters[3].id)  # shown, not answered
    set_excluded(db, store.study, "bob", True, "asleep")
    db.dispose()
    con = sqlite3.connect(out_path)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.execute("PRAGMA journal_mode=DELETE")
    con.execute("VACUUM")
    con.close()
    print(
        json.dumps(
            {
                "keys": {r.name: r.key for r in raters},
                "invite_used": made.invite_tokens[0],
                "invite_unused": made.invite_tokens[1],
                "admin_token": "v1-admin-token",
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main(sys.argv[1])
