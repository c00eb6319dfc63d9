"""The tables of schema version 1 (the releases before Alembic), frozen for the migrations.

Exactly as ``human_eval/schema.py`` defined them at commit a0a2584; independent of today's
schema, so the revisions that start from them never change meaning.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)


def v1_metadata() -> MetaData:
    """The version-1 tables, exactly as ``human_eval/schema.py`` defined them at commit a0a2584."""
    m = MetaData()
    Table(
        "schema_migrations",
        m,
        Column("version", Integer, primary_key=True, autoincrement=False),
        Column("name", String(200), nullable=False),
        Column("applied_at", DateTime(timezone=True), nullable=False),
    )
    Table(
        "studies",
        m,
        Column("id", Integer, primary_key=True),
        Column("name", String(200), nullable=False, unique=True),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("admin_token_sha256", String(64), nullable=False),
        Column("reference", String(200), nullable=False),
        Column("config", JSON, nullable=False),
    )
    Table(
        "conditions",
        m,
        Column("id", Integer, primary_key=True),
        Column("study_id", ForeignKey("studies.id"), nullable=False),
        Column("name", String(200), nullable=False),
        Column("method", String(100), nullable=False),
        Column("scale", Float, nullable=True),
        Column("run_id", String(200), nullable=False),
        Column("run_dir", Text, nullable=False),
        Column("spec", JSON, nullable=False),
        UniqueConstraint("study_id", "name", name="uq_condition_name"),
    )
    Table(
        "images",
        m,
        Column("id", Integer, primary_key=True),
        Column("study_id", ForeignKey("studies.id"), nullable=False),
        Column("condition_id", ForeignKey("conditions.id"), nullable=True),
        Column("kind", String(20), nullable=False),
        Column("caption_id", String(200), nullable=False),
        Column("caption", Text, nullable=False),
        Column("seed", BigInteger, nullable=True),
        Column("path", Text, nullable=True),
        Column("png", LargeBinary, nullable=True),
        CheckConstraint("kind IN ('sample', 'gold_degraded')", name="ck_image_kind"),
        CheckConstraint("(path IS NULL) <> (png IS NULL)", name="ck_image_source"),
    )
    Table(
        "comparisons",
        m,
        Column("id", Integer, primary_key=True),
        Column("study_id", ForeignKey("studies.id"), nullable=False, index=True),
        Column("caption_id", String(200), nullable=False),
        Column("caption", Text, nullable=False),
        Column("image_a_id", ForeignKey("images.id"), nullable=False),
        Column("image_b_id", ForeignKey("images.id"), nullable=False),
        Column("condition_a_id", ForeignKey("conditions.id"), nullable=True),
        Column("condition_b_id", ForeignKey("conditions.id"), nullable=True),
        Column("is_gold", Boolean, nullable=False),
        Column("gold_answer", String(4), nullable=True),
    )
    Table(
        "raters",
        m,
        Column("id", Integer, primary_key=True),
        Column("study_id", ForeignKey("studies.id"), nullable=False),
        Column("name", String(200), nullable=False),
        Column("key", String(64), nullable=False, unique=True),
        Column("invite_token", String(64), nullable=True, unique=True),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("excluded", Boolean, nullable=False, default=False),
        Column("excluded_reason", Text, nullable=True),
        UniqueConstraint("study_id", "name", name="uq_rater_name"),
    )
    Table(
        "invites",
        m,
        Column("token", String(64), primary_key=True),
        Column("study_id", ForeignKey("studies.id"), nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
    )
    Table(
        "assignments",
        m,
        Column("id", Integer, primary_key=True),
        Column("study_id", ForeignKey("studies.id"), nullable=False, index=True),
        Column("rater_id", ForeignKey("raters.id"), nullable=False),
        Column("comparison_id", ForeignKey("comparisons.id"), nullable=False),
        Column("question", String(20), nullable=False),
        Column("left_is_a", Boolean, nullable=False),
        Column("shown_at", DateTime(timezone=True), nullable=False),
        UniqueConstraint("rater_id", "comparison_id", "question", name="uq_assignment"),
    )
    Table(
        "votes",
        m,
        Column("id", Integer, primary_key=True),
        Column("study_id", ForeignKey("studies.id"), nullable=False),
        Column("rater_id", ForeignKey("raters.id"), nullable=False),
        Column("comparison_id", ForeignKey("comparisons.id"), nullable=False),
        Column("question", String(20), nullable=False),
        Column("assignment_id", ForeignKey("assignments.id"), nullable=False, unique=True),
        Column("choice", String(5), nullable=False),
        Column("outcome", String(3), nullable=False),
        Column("left_is_a", Boolean, nullable=False),
        Column("is_gold", Boolean, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("response_ms", Integer, nullable=True),
        UniqueConstraint("rater_id", "comparison_id", "question", name="uq_vote"),
        CheckConstraint("choice IN ('left', 'right', 'tie')", name="ck_vote_choice"),
        CheckConstraint("outcome IN ('a', 'b', 'tie')", name="ck_vote_outcome"),
        CheckConstraint("question IN ('photorealism', 'caption')", name="ck_vote_question"),
        Index("ix_votes_study_question", "study_id", "question"),
    )
    return m
