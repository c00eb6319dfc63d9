"""Database URLs, SQLite settings, schema version and migrations."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from human_eval import migrations, schema
from human_eval.database import db_url_from, describe_url, open_database, parse_db_url
from human_eval.errors import HumanEvalError


@pytest.mark.parametrize(
    "text, driver",
    [
        ("sqlite:///votes.db", "sqlite"),
        ("sqlite:////tmp/x/votes.db", "sqlite"),
        ("postgresql://u:p@localhost:5432/db", "postgresql+psycopg"),
        ("postgres://u@localhost/db", "postgresql+psycopg"),
        ("postgresql+psycopg://u@localhost/db", "postgresql+psycopg"),
    ],
)
def test_parse_good_urls(text: str, driver: str) -> None:
    assert parse_db_url(text).drivername == driver


@pytest.mark.parametrize(
    "text, words",
    [
        ("", "empty"),
        ("votes.db", "malformed"),
        ("not a url at all", "malformed"),
        ("sqlite://", "names no database file"),
        ("sqlite:///:memory:", "in-memory"),
        ("mysql://u@h/db", "unsupported database"),
        ("postgresql+psycopg2://u@h/db", "psycopg 3"),
        ("postgresql://u@h", "names no database"),
    ],
)
def test_parse_bad_urls(text: str, words: str) -> None:
    with pytest.raises(HumanEvalError, match=words) as err:
        parse_db_url(text)
    assert "--db" in str(err.value)


def test_passwords_never_shown() -> None:
    url = parse_db_url("postgresql://alice:s3cret@db.example:5432/votes")
    assert "s3cret" not in describe_url(url) and "alice" in describe_url(url)


def test_missing_sqlite_file_is_not_created(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'nope.db'}"
    with pytest.raises(HumanEvalError, match="does not exist"):
        open_database(url)
    with pytest.raises(HumanEvalError, match="folder"):
        open_database(f"sqlite:///{tmp_path / 'no_dir' / 'votes.db'}", create=True)
    assert list(tmp_path.iterdir()) == []


def test_sqlite_is_wal_with_full_sync_and_versioned(tmp_path: Path) -> None:
    db = open_database(f"sqlite:///{tmp_path / 'v.db'}", create=True)
    with db.read() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        state = migrations.read_state(conn)
    assert state.revision == schema.ALEMBIC_HEAD == migrations.head_revision()
    assert state.legacy_version == schema.SCHEMA_VERSION == 2  # older releases refuse it
    db.dispose()


def test_sqlite_file_is_owner_only(tmp_path: Path) -> None:
    db = open_database(f"sqlite:///{tmp_path / 'v.db'}", create=True)
    with db.write() as conn:  # a write, so the -wal and -shm files exist
        conn.execute(
            sa.insert(schema.schema_migrations).values(
                version=99, name="x", applied_at=sa.func.now()
            )
        )
    files = sorted(tmp_path.iterdir())
    assert [f.name for f in files] == ["v.db", "v.db-shm", "v.db-wal"]
    assert all(f.stat().st_mode & 0o777 == 0o600 for f in files), [
        oct(f.stat().st_mode) for f in files
    ]
    db.dispose()


def test_postgres_schema_created(pg_url: str) -> None:
    db = open_database(pg_url, create=True)
    with db.read() as conn:
        assert migrations.read_state(conn).revision == schema.ALEMBIC_HEAD
        assert set(schema.metadata.tables) <= set(sa.inspect(conn).get_table_names())
    db.dispose()


def test_empty_database_without_schema_is_refused(pg_url: str) -> None:
    with pytest.raises(HumanEvalError, match="no human_eval schema"):
        open_database(pg_url)


def test_newer_schema_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'v.db'}"
    db = open_database(url, create=True)
    with db.write() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '9999'")
    db.dispose()
    with pytest.raises(HumanEvalError, match="newer than this glide-bench"):
        open_database(url)
    with pytest.raises(HumanEvalError, match="newer than this glide-bench"):
        open_database(url, migrate=True)


def test_db_url_from_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("HUMAN_EVAL_DB", " sqlite:///x.db ")
    assert (
        db_url_from(None) == "sqlite:///x.db" and db_url_from("sqlite:///y.db") == "sqlite:///y.db"
    )
    monkeypatch.delenv("HUMAN_EVAL_DB")
    with pytest.raises(HumanEvalError, match="HUMAN_EVAL_DB"):
        db_url_from(None)
