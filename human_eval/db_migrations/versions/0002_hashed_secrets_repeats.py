"""Hashed rater keys and invite tokens, case-insensitive rater names, repeated showings.

- ``raters.key`` -> ``key_sha256`` and ``raters.invite_token`` -> ``invite_sha256`` (SHA-256 hex
  of the old values, so every rater's ``?r=`` link and every invite link keeps working);
  ``name_key`` (the name case-folded, white space collapsed) unique per study. Two raters whose
  names differ only in case or spaces ('Alice', 'alice') both stay, with their votes: the
  later one's ``name_key`` gets a ``#<n>`` suffix.
- ``invites.token`` -> ``invites.token_sha256`` (the primary key).
- ``assignments.repeat`` / ``votes.repeat`` (0 = first showing, 1 = the rater's own repeat) in
  the unique constraints, and ``assignments.kind`` (``gold`` for gold pairs, ``new`` otherwise
  for the existing rows).
- ``schema_migrations`` gets version 2, so that older releases refuse the database.

SQLite cannot alter constraints: the batch blocks rebuild those tables (copy, drop, rename)
inside the one migration transaction; ``human_eval.migrations`` turns foreign-key enforcement off
around it and checks every foreign key before committing.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06
"""

from __future__ import annotations

import datetime as dt
import hashlib
import unicodedata

import sqlalchemy as sa
from alembic import op

from human_eval.db_migrations.frozen_v1 import v1_metadata

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _name_key(name: str) -> str:
    """Frozen copy of ``human_eval.store.name_key`` as of this revision."""
    return " ".join(unicodedata.normalize("NFKC", name).split()).casefold()


def _with_columns(table: sa.Table, *columns: sa.Column) -> sa.Table:
    """A copy of a frozen table plus columns added with ADD COLUMN (for batch ``copy_from``)."""
    m = sa.MetaData()
    for other in table.metadata.tables.values():  # foreign keys need their targets
        if other.name != table.name:
            other.to_metadata(m)
    copy = table.to_metadata(m)
    for column in columns:
        copy.append_column(column)
    return copy


def upgrade() -> None:
    conn = op.get_bind()
    v1 = v1_metadata()

    # -- raters: hashed key and invite token, case-insensitive name key ----------------------
    def new_cols() -> list[sa.Column]:
        return [
            sa.Column("name_key", sa.String(200), nullable=True),
            sa.Column("key_sha256", sa.String(64), nullable=True),
            sa.Column("invite_sha256", sa.String(64), nullable=True),
        ]

    for col in new_cols():
        op.add_column("raters", col)
    r = sa.table(
        "raters",
        sa.column("id"),
        sa.column("study_id"),
        sa.column("name"),
        sa.column("key"),
        sa.column("invite_token"),
        sa.column("name_key"),
        sa.column("key_sha256"),
        sa.column("invite_sha256"),
    )
    rows = conn.execute(
        sa.select(r.c.id, r.c.study_id, r.c.name, r.c.key, r.c.invite_token).order_by(r.c.id)
    ).all()
    taken: set[tuple[int, str]] = set()
    updates = []
    for row in rows:
        base = _name_key(row.name) or f"rater {row.id}"
        key, n = base, 1
        while (row.study_id, key) in taken:
            n += 1
            key = f"{base}#{n}"
        taken.add((row.study_id, key))
        updates.append(
            dict(
                rid=row.id,
                nk=key,
                ks=_sha256(row.key),
                inv=None if row.invite_token is None else _sha256(row.invite_token),
            )
        )
    if updates:
        conn.execute(
            sa.update(r)
            .where(r.c.id == sa.bindparam("rid"))
            .values(
                name_key=sa.bindparam("nk"),
                key_sha256=sa.bindparam("ks"),
                invite_sha256=sa.bindparam("inv"),
            ),
            updates,
        )
    raters_now = _with_columns(v1.tables["raters"], *new_cols())
    with op.batch_alter_table("raters", copy_from=raters_now, recreate="auto") as b:
        b.alter_column("name_key", existing_type=sa.String(200), nullable=False)
        b.alter_column("key_sha256", existing_type=sa.String(64), nullable=False)
        b.drop_column("key")
        b.drop_column("invite_token")
        b.create_unique_constraint("uq_rater_name_key", ["study_id", "name_key"])
        b.create_unique_constraint("uq_rater_key", ["key_sha256"])
        b.create_unique_constraint("uq_rater_invite", ["invite_sha256"])

    # -- invites: the hash is the primary key --------------------------------------------------
    op.create_table(
        "invites_v2",
        sa.Column("token_sha256", sa.String(64), nullable=False),
        sa.Column("study_id", sa.Integer, sa.ForeignKey("studies.id"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("token_sha256", name="pk_invites"),
    )
    inv_old = v1.tables["invites"]
    inv_new = sa.table(
        "invites_v2", sa.column("token_sha256"), sa.column("study_id"), sa.column("created_at")
    )
    invites = conn.execute(sa.select(inv_old.c.token, inv_old.c.study_id, inv_old.c.created_at))
    rows = [dict(token_sha256=_sha256(t), study_id=s, created_at=c) for t, s, c in invites.all()]
    if rows:
        conn.execute(sa.insert(inv_new), rows)
    op.drop_table("invites")
    op.rename_table("invites_v2", "invites")

    # -- assignments and votes: repeated showings ----------------------------------------------
    def repeat() -> sa.Column:
        return sa.Column("repeat", sa.Integer, nullable=False, server_default="0")

    def kind() -> sa.Column:
        return sa.Column("kind", sa.String(8), nullable=False, server_default="new")

    op.add_column("assignments", repeat())
    op.add_column("assignments", kind())
    a = sa.table("assignments", sa.column("comparison_id"), sa.column("kind"))
    c = sa.table("comparisons", sa.column("id"), sa.column("is_gold"))
    conn.execute(
        sa.update(a)
        .where(a.c.comparison_id.in_(sa.select(c.c.id).where(c.c.is_gold.is_(True))))
        .values(kind="gold")
    )
    assignments_now = _with_columns(v1.tables["assignments"], repeat(), kind())
    with op.batch_alter_table("assignments", copy_from=assignments_now, recreate="auto") as b:
        b.drop_constraint("uq_assignment", type_="unique")
        b.create_unique_constraint(
            "uq_assignment", ["rater_id", "comparison_id", "question", "repeat"]
        )
        b.create_check_constraint("ck_assignment_repeat", sa.text("repeat IN (0, 1)"))
        b.create_check_constraint(
            "ck_assignment_kind", sa.text("kind IN ('new', 'overlap', 'repeat', 'gold')")
        )

    # SQLite's rebuild drops the index that ``index=True`` made on the old table
    if "ix_assignments_study_id" not in {
        i["name"] for i in sa.inspect(conn).get_indexes("assignments")
    }:
        op.create_index("ix_assignments_study_id", "assignments", ["study_id"])

    op.add_column("votes", repeat())
    votes_now = _with_columns(v1.tables["votes"], repeat())
    with op.batch_alter_table("votes", copy_from=votes_now, recreate="auto") as b:
        b.drop_constraint("uq_vote", type_="unique")
        b.create_unique_constraint("uq_vote", ["rater_id", "comparison_id", "question", "repeat"])

    conn.execute(
        sa.insert(v1.tables["schema_migrations"]).values(
            version=2,
            name="alembic 0002: hashed secrets, name keys, repeats",
            applied_at=dt.datetime.now(dt.timezone.utc),
        )
    )


def downgrade() -> None:
    raise NotImplementedError("vote databases are upgraded only; restore a backup to go back")
