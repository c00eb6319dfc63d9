"""Upgrading a vote database made by the releases before Alembic (schema version 1), in place.

``data/votes_v1.db`` was made by ``data/make_v1_db.py`` with the code of commit a0a2584 (keys
and invite tokens in plain text; 'Alice' and 'alice' two raters; an invited rater; an excluded
one; 24 votes; one pending pair); ``data/votes_v1.json`` holds its secrets. On SQLite a copy of
the file is migrated; on PostgreSQL the same rows are loaded into the frozen version-1 tables
first. Either way every vote must survive unchanged, every old link must still work, no secret
may remain in plain text, and the result must match ``human_eval.schema`` exactly.
"""

from __future__ import annotations

import json
import shutil
import stat
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from human_eval import migrations, schema
from human_eval.database import open_database
from human_eval.db_migrations.frozen_v1 import v1_metadata
from human_eval.errors import HumanEvalError
from human_eval.store import VoteStore, check_admin_token, rater_quality
from human_eval.study import main as study_main
from human_eval.vote_tables import votes_frame

DATA = Path(__file__).resolve().parent / "data"
FIXTURE = DATA / "votes_v1.db"
SECRETS = json.loads((DATA / "votes_v1.json").read_text())
VOTE_COLUMNS = [c.name for c in v1_metadata().tables["votes"].columns]


def _v1_rows() -> dict[str, list[dict]]:
    """Every row of the fixture, table by table (read without human_eval's own engine)."""
    engine = sa.create_engine(f"sqlite:///{FIXTURE}")
    m = v1_metadata()
    with engine.connect() as conn:
        out = {
            t.name: [dict(r._mapping) for r in conn.execute(sa.select(t).order_by(*t.primary_key))]
            for t in m.sorted_tables
        }
    engine.dispose()
    return out


def _diff(conn: sa.Connection) -> list:
    ctx = MigrationContext.configure(conn, opts={"compare_type": True})
    return compare_metadata(ctx, schema.metadata)


def test_the_fixture_is_schema_version_1() -> None:
    """The frozen tables the migration starts from are those of the stored database."""
    engine = sa.create_engine(f"sqlite:///{FIXTURE}")
    with engine.connect() as conn:
        assert _diff_against(conn, v1_metadata()) == []
        assert conn.exec_driver_sql("SELECT max(version) FROM schema_migrations").scalar() == 1
        assert not sa.inspect(conn).has_table("alembic_version")
    engine.dispose()


def _diff_against(conn: sa.Connection, metadata: sa.MetaData) -> list:
    ctx = MigrationContext.configure(conn, opts={"compare_type": True})
    return compare_metadata(ctx, metadata)


def _check_migrated(url: str) -> None:
    before = _v1_rows()
    db = open_database(url)
    with db.read() as conn:
        assert _diff(conn) == []  # exactly today's schema
        state = migrations.read_state(conn)
        assert (state.revision, state.legacy_version) == (schema.ALEMBIC_HEAD, 2)
        votes = conn.execute(sa.select(schema.votes).order_by(schema.votes.c.id)).all()
        raters = {r.id: r for r in conn.execute(sa.select(schema.raters)).all()}
        n_assign = conn.execute(sa.select(sa.func.count()).select_from(schema.assignments))
        n_assign = n_assign.scalar_one()
        kinds = dict(
            conn.execute(
                sa.select(schema.assignments.c.kind, sa.func.count()).group_by("kind")
            ).all()
        )
        dump = "\n".join(
            repr(tuple(row))
            for table in schema.metadata.sorted_tables
            for row in conn.execute(sa.select(table)).all()
        )
    # every vote, unchanged, and nothing else
    assert _same_votes(votes, before["votes"])
    assert all(v.repeat == 0 for v in votes)
    assert n_assign == len(before["assignments"]) == 25
    gold_comps = {c["id"] for c in before["comparisons"] if c["is_gold"]}
    assert kinds["gold"] == sum(a["comparison_id"] in gold_comps for a in before["assignments"])
    # raters: names kept, 'Alice' and 'alice' both there with distinct keys
    assert [raters[i].name for i in sorted(raters)] == [r["name"] for r in before["raters"]]
    assert [raters[i].name_key for i in sorted(raters)] == [
        "alice",
        "alice#2",
        "invite-mgxhbucb",
        "bob",
    ]
    assert raters[4].excluded and raters[4].excluded_reason == "asleep"
    # no secret in plain text, in any table ...
    plain = [*SECRETS["keys"].values(), SECRETS["invite_used"], SECRETS["invite_unused"]]
    assert not [s for s in plain if s in dump]
    # ... and every old link works: rater keys, the admin token, both invites
    store = VoteStore(db, "v1study")
    for name, key in SECRETS["keys"].items():
        rater = store.rater_by_key(key)
        assert rater is not None and rater.name == name
    assert check_admin_token(store.study, SECRETS["admin_token"])
    bob = store.rater_by_key(SECRETS["keys"]["bob"])
    pending = store.next_task(bob.id)  # the pair bob had on screen is still his next one
    assert pending.assignment_id == before["assignments"][-1]["id"]
    invited = store.join_by_invite(SECRETS["invite_used"])
    assert invited.id == 3  # the same rater, with their votes
    assert store.rater_by_key(invited.key).id == 3  # from now on with the derived key
    newcomer = store.join_by_invite(SECRETS["invite_unused"])
    assert newcomer.id not in raters
    with pytest.raises(HumanEvalError, match="already taken"):
        store.join_by_name("ALICE")
    # voting goes on (sequences, constraints and the scheduler work on the migrated tables)
    alice = store.rater_by_key(SECRETS["keys"]["Alice"])
    for _ in range(4):
        task = store.next_task(alice.id)
        assert store.record_vote(alice.id, task.assignment_id, "left")
    frame = votes_frame(db, store.study)
    assert len(frame) == 28 and frame["rater_excluded"].sum() == 6
    assert {q.name: q.n_votes for q in rater_quality(db, store.study)}["Alice"] == 10
    db.dispose()


def _same_votes(after, before) -> bool:  # noqa: ANN001
    """Votes equal column by column (datetimes compared without their time zone)."""

    def norm(value):  # noqa: ANN001, ANN202
        return value.replace(tzinfo=None) if hasattr(value, "tzinfo") and value.tzinfo else value

    return [[norm(getattr(v, c)) for c in VOTE_COLUMNS] for v in after] == [
        [norm(v[c]) for c in VOTE_COLUMNS] for v in before
    ]


def test_migrate_sqlite_database_of_schema_1(tmp_path: Path, capsys) -> None:
    path = tmp_path / "votes.db"
    shutil.copy(FIXTURE, path)
    path.chmod(0o644)  # as the old releases created it
    url = f"sqlite:///{path}"
    with pytest.raises(HumanEvalError, match="human_eval.study migrate"):
        open_database(url)  # the app and the ratings never migrate behind your back
    assert study_main(["migrate", "--db", url]) == 0
    out = capsys.readouterr().out
    assert f"revision {schema.ALEMBIC_HEAD}" in out and "owner only" in out
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir())  # the file, and any -wal
    assert not [s for s in SECRETS["keys"].values() if s.encode() in raw]  # nor in free pages
    assert SECRETS["invite_unused"].encode() not in raw
    _check_migrated(url)
    assert study_main(["migrate", "--db", url]) == 0  # a second run has nothing to do


def test_migrate_postgres_database_of_schema_1(pg_url: str) -> None:
    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:  # the version-1 tables, as the old release created them
        migrations.upgrade(conn, target=migrations.LEGACY_REVISION)
        conn.exec_driver_sql("DROP TABLE alembic_version")
        for table in v1_metadata().sorted_tables:
            rows = _v1_rows()[table.name]
            if table.name != "schema_migrations" and rows:
                conn.execute(sa.insert(table), rows)
            if "id" in table.c:
                conn.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                    f"(SELECT max(id) FROM {table.name}))"
                )
    engine.dispose()
    with pytest.raises(HumanEvalError, match="human_eval.study migrate"):
        open_database(pg_url)
    db = open_database(pg_url, migrate=True)
    db.dispose()
    _check_migrated(pg_url)


def test_a_failing_migration_changes_nothing(tmp_path: Path, monkeypatch) -> None:
    """All revisions run in one transaction: a revision after 0002 that fails half-way leaves
    the database at schema 1, plain-text columns and all."""
    scripts = tmp_path / "db_migrations"
    shutil.copytree(migrations.SCRIPT_LOCATION, scripts)
    (scripts / "versions" / "0003_broken.py").write_text(
        "from alembic import op\n"
        "revision = '0003'\ndown_revision = '0002'\nbranch_labels = None\ndepends_on = None\n"
        "def upgrade():\n"
        "    op.add_column('raters', __import__('sqlalchemy').Column('note', "
        "__import__('sqlalchemy').Text))\n"
        "    raise RuntimeError('migration failed half-way')\n"
    )
    monkeypatch.setattr(migrations, "SCRIPT_LOCATION", scripts)
    monkeypatch.setattr(schema, "ALEMBIC_HEAD", "0003")
    path = tmp_path / "votes.db"
    shutil.copy(FIXTURE, path)
    with pytest.raises(RuntimeError, match="half-way"):
        open_database(f"sqlite:///{path}", migrate=True)
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        assert _diff_against(conn, v1_metadata()) == []
        assert not sa.inspect(conn).has_table("alembic_version")
        assert conn.exec_driver_sql("SELECT count(*) FROM votes").scalar() == 24
        assert conn.exec_driver_sql("PRAGMA foreign_key_check").all() == []
    engine.dispose()


def test_a_fresh_database_is_exactly_the_schema(tmp_path: Path) -> None:
    db = open_database(f"sqlite:///{tmp_path / 'v.db'}", create=True)
    with db.read() as conn:
        assert _diff(conn) == []
    db.dispose()
