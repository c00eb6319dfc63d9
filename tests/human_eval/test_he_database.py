"""Database URLs, SQLite settings, schema version and migrations."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from human_eval import migrations, schema
from human_eval.database import describe_url, open_database, parse_db_url
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
        assert migrations.read_version(conn) == schema.SCHEMA_VERSION
    db.dispose()


def test_postgres_schema_created(pg_url: str) -> None:
    db = open_database(pg_url, create=True)
    with db.read() as conn:
        assert migrations.read_version(conn) == schema.SCHEMA_VERSION
        assert set(schema.metadata.tables) <= set(sa.inspect(conn).get_table_names())
    db.dispose()


def test_empty_database_without_schema_is_refused(pg_url: str) -> None:
    with pytest.raises(HumanEvalError, match="no human_eval schema"):
        open_database(pg_url)


def test_newer_schema_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'v.db'}"
    db = open_database(url, create=True)
    with db.write() as conn:
        conn.execute(
            sa.insert(schema.schema_migrations).values(
                version=schema.SCHEMA_VERSION + 1, name="future", applied_at=sa.func.now()
            )
        )
    db.dispose()
    with pytest.raises(HumanEvalError, match="newer than this"):
        open_database(url)


def _add_column(conn: sa.Connection) -> None:
    conn.exec_driver_sql("ALTER TABLE raters ADD COLUMN note TEXT")


def _broken(conn: sa.Connection) -> None:
    conn.exec_driver_sql("ALTER TABLE raters ADD COLUMN note2 TEXT")
    raise RuntimeError("migration failed half-way")


def test_migrations_upgrade_in_order_and_atomically(tmp_path: Path, monkeypatch) -> None:
    url = f"sqlite:///{tmp_path / 'v.db'}"
    open_database(url, create=True).dispose()
    base = schema.SCHEMA_VERSION
    monkeypatch.setattr(schema, "SCHEMA_VERSION", base + 1)
    monkeypatch.setitem(
        migrations.MIGRATIONS, base + 1, migrations.Migration(base + 1, "note", _add_column)
    )
    with pytest.raises(HumanEvalError, match="human_eval.study migrate"):
        open_database(url)  # the app and the ratings never migrate behind your back
    db = open_database(url, migrate=True)
    with db.read() as conn:
        assert migrations.read_version(conn) == base + 1
        cols = {c["name"] for c in sa.inspect(conn).get_columns("raters")}
        assert "note" in cols
    db.dispose()
    open_database(url).dispose()  # now current

    # A failing step leaves the schema and its version as they were.
    monkeypatch.setattr(schema, "SCHEMA_VERSION", base + 2)
    monkeypatch.setitem(
        migrations.MIGRATIONS, base + 2, migrations.Migration(base + 2, "broken", _broken)
    )
    with pytest.raises(RuntimeError, match="half-way"):
        open_database(url, migrate=True)
    monkeypatch.setattr(schema, "SCHEMA_VERSION", base + 1)
    db = open_database(url)
    with db.read() as conn:
        assert migrations.read_version(conn) == base + 1
        assert "note2" not in {c["name"] for c in sa.inspect(conn).get_columns("raters")}
    db.dispose()
