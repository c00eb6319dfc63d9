"""Alembic migrations of the vote database (driven by ``human_eval.migrations``; no alembic.ini).

To change the schema: edit ``human_eval/schema.py``, add a revision under ``versions/`` whose
``down_revision`` is the current head (``render_as_batch`` is on, so write table changes inside
``op.batch_alter_table``: SQLite rebuilds the table, PostgreSQL alters it), set
``schema.ALEMBIC_HEAD`` to it, and extend ``tests/human_eval/test_he_migration.py``.
"""
