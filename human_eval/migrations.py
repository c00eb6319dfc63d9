"""Schema versions and upgrades of the vote database, with Alembic.

The revisions live in ``human_eval/db_migrations/versions`` (no alembic.ini: the configuration
is built here). Revision ``0001`` is the schema of the releases before Alembic, which kept their
own version table ``schema_migrations`` (version 1); such a database has no ``alembic_version``
table and is treated as being at ``0001``. A fresh database is created from
``human_eval.schema`` and stamped with the head revision.

An upgrade runs every revision from the database's to the head in one transaction (all or
none). On SQLite, where changing a constraint means rebuilding the table, foreign-key
enforcement is switched off on that connection for the upgrade (a table referenced by others
cannot be dropped and renamed otherwise) and ``PRAGMA foreign_key_check`` must come back empty
before it commits.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from human_eval import schema

SCRIPT_LOCATION = Path(__file__).resolve().parent / "db_migrations"
LEGACY_REVISION = "0001"  # what a database with schema_migrations version 1 and no Alembic is


def alembic_config(conn: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(SCRIPT_LOCATION))
    cfg.attributes["connection"] = conn
    return cfg


def script_directory() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    head = script_directory().get_current_head()
    assert head == schema.ALEMBIC_HEAD, (head, schema.ALEMBIC_HEAD)
    return head


def known_revisions() -> list[str]:
    """Every revision this release knows, oldest first."""
    return [s.revision for s in reversed(list(script_directory().walk_revisions()))]


def read_legacy_version(conn: Connection) -> int | None:
    """The pre-Alembic version (``schema_migrations``), or None without that table."""
    if not sa.inspect(conn).has_table("schema_migrations"):
        return None
    value = conn.execute(sa.select(sa.func.max(schema.schema_migrations.c.version))).scalar()
    return None if value is None else int(value)


@dataclass(frozen=True)
class SchemaState:
    revision: str | None  # Alembic revision, or LEGACY_REVISION for a pre-Alembic database
    legacy_version: int | None  # schema_migrations' highest version, if the table exists

    @property
    def empty(self) -> bool:
        return self.revision is None and self.legacy_version is None


def read_state(conn: Connection) -> SchemaState:
    legacy = read_legacy_version(conn)
    revision = MigrationContext.configure(conn).get_current_revision()
    if revision is None and legacy == 1:
        revision = LEGACY_REVISION
    return SchemaState(revision, legacy)


def stamp_new(conn: Connection) -> None:
    """Mark a database just created from ``schema.metadata`` as being at the head revision."""
    command.stamp(alembic_config(conn), "head")
    conn.execute(
        sa.insert(schema.schema_migrations).values(
            version=schema.SCHEMA_VERSION,
            name="create",
            applied_at=dt.datetime.now(dt.timezone.utc),
        )
    )


def upgrade(conn: Connection, target: str = "head") -> list[str]:
    """Run the revisions from the database's to ``target`` inside ``conn``'s transaction;
    returns the revisions applied (oldest first)."""
    state = read_state(conn)
    if state.revision == LEGACY_REVISION and not sa.inspect(conn).has_table("alembic_version"):
        command.stamp(alembic_config(conn), LEGACY_REVISION)
    before = state.revision
    command.upgrade(alembic_config(conn), target)
    after = MigrationContext.configure(conn).get_current_revision()
    order = known_revisions()
    start = order.index(before) + 1 if before in order else 0
    return order[start : order.index(after) + 1] if after in order else []
