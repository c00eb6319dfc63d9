"""Database schema of the vote store (SQLAlchemy Core tables).

A *study* has *conditions* (one per run folder: method and guidance scale), *images* (files in
the run folders, or degraded copies stored in the database for gold pairs) and *comparisons*
(two images of the same caption from two conditions, or a gold pair). A *rater* is shown
*assignments* (one comparison, one question, a recorded left/right order) and answers each with
one *vote*. The unique constraints make a vote idempotent: a double click or a reload can never
record a second vote for the same rater, comparison, question and showing (``repeat`` 0 is the
first showing, 1 the rater's own repeat of it for intra-rater consistency).

Secrets are stored as SHA-256 hashes only: the admin token, each rater's personal key (the
``?r=`` part of their page address) and each invite token. A rater's ``name_key`` (the name
case-folded with its white space collapsed) is unique per study, so 'Alice' and ' alice ' are
one rater.

The tables' version is kept by Alembic (``human_eval/db_migrations``, revision
``ALEMBIC_HEAD``). ``schema_migrations`` is the version table of the releases before Alembic
(version 1); it is stamped ``SCHEMA_VERSION`` = 2 as well, so that an older glide-bench refuses
a database it can no longer read instead of misreading it.
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
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)

SCHEMA_VERSION = 2  # the pre-Alembic version marker (see above)
ALEMBIC_HEAD = "0002"  # revision of human_eval/db_migrations/versions these tables describe

QUESTIONS: tuple[str, ...] = ("photorealism", "caption")
QUESTION_TEXT: dict[str, str] = {
    "photorealism": "Which image is more photorealistic?",
    "caption": "Which image better matches the caption?",
}
CHOICES: tuple[str, ...] = ("left", "right", "tie")
OUTCOMES: tuple[str, ...] = ("a", "b", "tie")
# Why an assignment was made: a first showing of an item nobody has judged yet ("new"), an item
# others have judged ("overlap", for inter-rater agreement), the rater's own repeat of an item
# ("repeat", for intra-rater consistency) or a gold pair ("gold").
ASSIGNMENT_KINDS: tuple[str, ...] = ("new", "overlap", "repeat", "gold")

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
    Column("name", String(200), nullable=False),  # as typed, white space collapsed
    Column("name_key", String(200), nullable=False),  # case-folded: one rater per spelling
    Column("key_sha256", String(64), nullable=False),  # hash of the key that resumes a session
    Column("invite_sha256", String(64), nullable=True),  # hash of the invite token used to join
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("excluded", Boolean, nullable=False, default=False),
    Column("excluded_reason", Text, nullable=True),
    UniqueConstraint("study_id", "name", name="uq_rater_name"),
    UniqueConstraint("study_id", "name_key", name="uq_rater_name_key"),
    UniqueConstraint("key_sha256", name="uq_rater_key"),
    UniqueConstraint("invite_sha256", name="uq_rater_invite"),
)

invites = Table(
    "invites",
    metadata,
    Column("token_sha256", String(64), nullable=False),
    Column("study_id", ForeignKey("studies.id"), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("token_sha256", name="pk_invites"),
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
    Column("repeat", Integer, nullable=False, server_default="0"),
    Column("kind", String(8), nullable=False, server_default="new"),
    UniqueConstraint("rater_id", "comparison_id", "question", "repeat", name="uq_assignment"),
    CheckConstraint("repeat IN (0, 1)", name="ck_assignment_repeat"),
    CheckConstraint("kind IN ('new', 'overlap', 'repeat', 'gold')", name="ck_assignment_kind"),
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
    Column("repeat", Integer, nullable=False, server_default="0"),
    UniqueConstraint("rater_id", "comparison_id", "question", "repeat", name="uq_vote"),
    CheckConstraint("choice IN ('left', 'right', 'tie')", name="ck_vote_choice"),
    CheckConstraint("outcome IN ('a', 'b', 'tie')", name="ck_vote_outcome"),
    CheckConstraint("question IN ('photorealism', 'caption')", name="ck_vote_question"),
    Index("ix_votes_study_question", "study_id", "question"),
)
