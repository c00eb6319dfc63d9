"""Database schema of the vote store (SQLAlchemy Core tables).

A *study* has *conditions* (one per run folder: method and guidance scale), *images* (files in
the run folders, or degraded copies stored in the database for gold pairs) and *comparisons*
(two images of the same caption from two conditions, or a gold pair). A *rater* is shown
*assignments* (one comparison, one question, a recorded left/right order) and answers each with
one *vote*. The unique constraints make a vote idempotent: a double click or a reload can never
record a second vote for the same rater, comparison and question.

``SCHEMA_VERSION`` is the version these tables describe; ``human_eval.migrations`` upgrades older
databases to it.
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

SCHEMA_VERSION = 1

QUESTIONS: tuple[str, ...] = ("photorealism", "caption")
QUESTION_TEXT: dict[str, str] = {
    "photorealism": "Which image is more photorealistic?",
    "caption": "Which image better matches the caption?",
}
CHOICES: tuple[str, ...] = ("left", "right", "tie")
OUTCOMES: tuple[str, ...] = ("a", "b", "tie")

metadata = MetaData()

schema_migrations = Table(
    "schema_migrations",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("name", String(200), nullable=False),
    Column("applied_at", DateTime(timezone=True), nullable=False),
)

studies = Table(
    "studies",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("admin_token_sha256", String(64), nullable=False),
    Column("reference", String(200), nullable=False),
    Column("config", JSON, nullable=False),
)

conditions = Table(
    "conditions",
    metadata,
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

images = Table(
    "images",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("study_id", ForeignKey("studies.id"), nullable=False),
    Column("condition_id", ForeignKey("conditions.id"), nullable=True),
    Column("kind", String(20), nullable=False),  # "sample" | "gold_degraded"
    Column("caption_id", String(200), nullable=False),
    Column("caption", Text, nullable=False),
    Column("seed", BigInteger, nullable=True),
    Column("path", Text, nullable=True),  # absolute path of a run-folder PNG
    Column("png", LargeBinary, nullable=True),  # PNG bytes of a degraded gold image
    CheckConstraint("kind IN ('sample', 'gold_degraded')", name="ck_image_kind"),
    CheckConstraint("(path IS NULL) <> (png IS NULL)", name="ck_image_source"),
)

comparisons = Table(
    "comparisons",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("study_id", ForeignKey("studies.id"), nullable=False, index=True),
    Column("caption_id", String(200), nullable=False),
    Column("caption", Text, nullable=False),
    Column("image_a_id", ForeignKey("images.id"), nullable=False),
    Column("image_b_id", ForeignKey("images.id"), nullable=False),
    Column("condition_a_id", ForeignKey("conditions.id"), nullable=True),
    Column("condition_b_id", ForeignKey("conditions.id"), nullable=True),
    Column("is_gold", Boolean, nullable=False),
    Column("gold_answer", String(4), nullable=True),  # "a" | "b" for gold pairs
)

raters = Table(
    "raters",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("study_id", ForeignKey("studies.id"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("key", String(64), nullable=False, unique=True),  # resumes a session after reload
    Column("invite_token", String(64), nullable=True, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("excluded", Boolean, nullable=False, default=False),
    Column("excluded_reason", Text, nullable=True),
    UniqueConstraint("study_id", "name", name="uq_rater_name"),
)

invites = Table(
    "invites",
    metadata,
    Column("token", String(64), primary_key=True),
    Column("study_id", ForeignKey("studies.id"), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

assignments = Table(
    "assignments",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("study_id", ForeignKey("studies.id"), nullable=False, index=True),
    Column("rater_id", ForeignKey("raters.id"), nullable=False),
    Column("comparison_id", ForeignKey("comparisons.id"), nullable=False),
    Column("question", String(20), nullable=False),
    Column("left_is_a", Boolean, nullable=False),
    Column("shown_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("rater_id", "comparison_id", "question", name="uq_assignment"),
)

votes = Table(
    "votes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("study_id", ForeignKey("studies.id"), nullable=False),
    Column("rater_id", ForeignKey("raters.id"), nullable=False),
    Column("comparison_id", ForeignKey("comparisons.id"), nullable=False),
    Column("question", String(20), nullable=False),
    Column("assignment_id", ForeignKey("assignments.id"), nullable=False, unique=True),
    Column("choice", String(5), nullable=False),  # what was clicked: left | right | tie
    Column("outcome", String(3), nullable=False),  # in comparison terms: a | b | tie
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
