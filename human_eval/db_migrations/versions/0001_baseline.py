"""Baseline: the schema of the releases before Alembic (their ``schema_migrations`` version 1).

Databases made by those releases are stamped with this revision when first migrated (nothing
runs); ``upgrade`` builds the same tables in an empty database, which the migration tests use to
put a version-1 database on PostgreSQL. The tables are frozen in ``frozen_v1`` as they were,
independent of today's ``human_eval.schema``.

Revision ID: 0001
Revises:
Create Date: 2026-12-06
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic import op

from human_eval.db_migrations.frozen_v1 import v1_metadata

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    conn = op.get_bind()
    m = v1_metadata()
    m.create_all(conn)
    conn.execute(
        sa.insert(m.tables["schema_migrations"]).values(
            version=1, name="create", applied_at=dt.datetime.now(dt.timezone.utc)
        )
    )


def downgrade() -> None:
    raise NotImplementedError("vote databases are upgraded only; restore a backup to go back")
