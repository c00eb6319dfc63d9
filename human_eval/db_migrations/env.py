"""Alembic environment: migrations run on the connection (and inside the transaction) that
``human_eval.migrations.upgrade`` hands over; there is no engine or URL here."""

from __future__ import annotations

from alembic import context

from human_eval import schema

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=schema.metadata,
    render_as_batch=True,  # SQLite: ALTERs it cannot do become copy-and-move of the table
    compare_type=True,
)
with context.begin_transaction():  # the caller's transaction: all revisions or none
    context.run_migrations()
