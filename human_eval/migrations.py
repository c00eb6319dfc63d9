"""Schema migrations: a version table of our own and an ordered list of upgrade steps.

A fresh database is created from ``human_eval.schema`` and stamped with ``SCHEMA_VERSION``. An
older database is upgraded by running every step ``MIGRATIONS[v]`` for ``v`` from its version + 1
up to ``SCHEMA_VERSION``, in one transaction (all steps or none), each recorded in
``schema_migrations``. To change the schema: edit ``schema.py``, bump ``SCHEMA_VERSION`` and add
the step that turns version ``SCHEMA_VERSION - 1`` into it (e.g. an ``ALTER TABLE``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from human_eval import schema


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    upgrade: Callable[[Connection], None]


# version -> step that upgrades version - 1 to version. Version 1 is the initial schema, created
# whole by ``metadata.create_all``; no upgrade steps exist yet.
MIGRATIONS: dict[int, Migration] = {}


def read_version(conn: Connection) -> int | None:
    """The schema version recorded in the database, or None for a database without our schema."""
    if not sa.inspect(conn).has_table("schema_migrations"):
        return None
    value = conn.execute(sa.select(sa.func.max(schema.schema_migrations.c.version))).scalar()
    return None if value is None else int(value)


def apply_migrations(conn: Connection, current: int, target: int | None = None) -> list[int]:
    """Run the steps from ``current`` to ``target`` (default: SCHEMA_VERSION) inside ``conn``'s
    transaction; returns the versions applied."""
    target = schema.SCHEMA_VERSION if target is None else target
    applied = []
    for version in range(current + 1, target + 1):
        step = MIGRATIONS.get(version)
        assert step is not None, f"no migration step to schema version {version}"
        step.upgrade(conn)
        conn.execute(
            sa.insert(schema.schema_migrations).values(
                version=version, name=step.name, applied_at=dt.datetime.now(dt.timezone.utc)
            )
        )
        applied.append(version)
    return applied
