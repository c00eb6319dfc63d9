"""Creating a study from run folders: conditions, the comparison plan, gold pairs, tokens.

Everything is read and checked before the database is opened, and all rows are inserted in one
transaction, so a bad run folder or a taken study name leaves the database as it was.

Comparisons (the paired design of the paper's human evaluation): the study uses up to
``max_captions`` caption slots that every condition has an image for (a slot is a caption and
its k-th image in each run, so images that share a per-sample seed meet); every pair of
conditions is compared on every slot. Gold pairs set a clean sample against a noised copy.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass, field
from urllib.parse import urlencode

import numpy as np
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from human_eval import schema
from human_eval.database import Database, utcnow
from human_eval.errors import HumanEvalError
from human_eval.gold import degrade_image
from human_eval.study_conditions import Condition, RunImage
from human_eval.tokens import hash_token, new_token

__all__ = ["hash_token"]  # re-exported: older code imports it from here

STRATEGIES: tuple[str, ...] = ("fewest", "uncertain")
SlotKey = tuple[str, str, int]  # (caption_id, caption, k-th image of that caption in a run)


@dataclass(frozen=True)
class StudyConfig:
    """Settings of a study, stored with it (``studies.config``).

    Quality control: a rater who has answered at least ``gold_min_answered`` gold pairs with an
    accuracy below ``gold_min_accuracy`` is *flagged* (``store.rater_quality``); flagged raters
    are left out of the ratings by default. Agreement: ``overlap_rate`` of each rater's votes go
    to items (comparison and question) that other raters have already judged and that this
    rater has not seen, ``repeat_rate`` to the rater's own earlier items shown again (left and
    right swapped, at least ``REPEAT_MIN_GAP`` tasks later). ``public``: the app's bare address
    lists the study (otherwise raters need its link).
    """

    questions: tuple[str, ...] = schema.QUESTIONS
    max_captions: int = 50
    votes_per_rater: int = 100
    gold_pairs: int = 10
    gold_rate: float = 0.1
    gold_noise: float = 0.75
    gold_min_answered: int = 3
    gold_min_accuracy: float = 0.8
    strategy: str = "fewest"
    allow_named_join: bool = True
    seed: int = 0
    overlap_rate: float = 0.25
    repeat_rate: float = 0.1
    public: bool = False

    def __post_init__(self) -> None:
        bad = [q for q in self.questions if q not in schema.QUESTIONS]
        if not self.questions or bad or len(set(self.questions)) != len(self.questions):
            raise HumanEvalError(
                f"--questions: {list(self.questions)!r}; choose one or both of {schema.QUESTIONS}"
            )
        for name in ("max_captions", "votes_per_rater"):
            if getattr(self, name) < 1:
                raise HumanEvalError(f"--{name.replace('_', '-')}: must be >= 1")
        if self.gold_pairs < 0 or self.gold_min_answered < 1:
            raise HumanEvalError("--gold-pairs must be >= 0 and --gold-min-answered >= 1")
        if not (0.0 <= self.gold_rate < 1.0) or not math.isfinite(self.gold_rate):
            raise HumanEvalError(f"--gold-rate: {self.gold_rate!r}; give a fraction in [0, 1)")
        if not (0.0 < self.gold_noise <= 1.0):
            raise HumanEvalError(f"--gold-noise: {self.gold_noise!r}; give a value in (0, 1]")
        if not (0.0 <= self.gold_min_accuracy <= 1.0):
            raise HumanEvalError(f"--gold-min-accuracy: {self.gold_min_accuracy!r}; in [0, 1]")
        for name in ("overlap_rate", "repeat_rate"):
            value = getattr(self, name)
            if not (0.0 <= value < 1.0) or not math.isfinite(value):
                raise HumanEvalError(
                    f"--{name.replace('_', '-')}: {value!r}; give a fraction in [0, 1)"
                )
        if self.gold_rate + self.overlap_rate + self.repeat_rate >= 1.0:
            raise HumanEvalError(
                f"--gold-rate + --overlap-rate + --repeat-rate = "
                f"{self.gold_rate + self.overlap_rate + self.repeat_rate:g}; must stay below 1 "
                "(the rest of the votes go to items nobody has judged yet)"
            )
        if self.strategy not in STRATEGIES:
            raise HumanEvalError(f"--strategy: {self.strategy!r}; choose from {STRATEGIES}")

    def to_json(self) -> dict:
        out = asdict(self)
        out["questions"] = list(self.questions)
        return out

    @classmethod
    def from_json(cls, data: dict) -> StudyConfig:
        data = dict(data)
        data["questions"] = tuple(data.get("questions", schema.QUESTIONS))
        return cls(**data)


@dataclass
class CreatedStudy:
    name: str
    admin_token: str
    invite_tokens: list[str]
    n_conditions: int
    n_comparisons: int
    n_gold: int
    reference: str
    conditions: list[str] = field(default_factory=list)


def slot_images(run: Condition) -> dict[SlotKey, RunImage]:
    counts: dict[tuple[str, str], int] = {}
    out: dict[SlotKey, RunImage] = {}
    for image in run.images:
        base = (image.caption_id, image.caption)
        k = counts.get(base, 0)
        counts[base] = k + 1
        out[(*base, k)] = image
    return out


def plan_slots(runs: list[Condition], max_captions: int, seed: int) -> list[SlotKey]:
    """The caption slots every run has, a seeded random subset of at most ``max_captions``."""
    per_run = [slot_images(run) for run in runs]
    shared = set(per_run[0])
    for slots in per_run[1:]:
        shared &= set(slots)
    if not shared:
        raise HumanEvalError(
            "runs: the run folders share no caption (a comparison shows two images of the same "
            "caption); use runs generated from the same caption set"
        )
    ordered = sorted(shared, key=lambda s: (s[0], s[1], s[2]))
    rng = np.random.default_rng(seed)
    if len(ordered) > max_captions:
        picks = sorted(rng.choice(len(ordered), size=max_captions, replace=False).tolist())
        ordered = [ordered[i] for i in picks]
    return ordered


def is_unguided(run: Condition) -> bool:
    """The model without guidance: classifier-free scale 1 or CLIP-guidance scale 0 (in a study
    of several generators the method reads ``<generator>/cfg``)."""
    method = run.method.rpartition("/")[2]
    return (method == "cfg" and run.scale == 1.0) or (method == "clip" and run.scale == 0.0)


def choose_reference(runs: list[Condition], reference: str | None) -> str:
    """The condition rated 0 by default: the one named, else the unguided model (a choice of
    anchor; the paper's Table 1 uses another), else the lowest guidance scale, else the first
    run."""
    names = [r.name for r in runs]
    if reference is not None:
        if reference not in names:
            raise HumanEvalError(
                f"--reference: {reference!r} is not a condition; choose from {names}"
            )
        return reference
    unguided = [r for r in runs if is_unguided(r)]
    if unguided:
        return unguided[0].name
    scaled = [r for r in runs if r.scale is not None]
    if scaled:
        return min(scaled, key=lambda r: (r.scale, r.name)).name
    return names[0]


@dataclass(frozen=True)
class StudyPlan:
    """Everything a study needs, read and checked before the database is touched."""

    runs: list[Condition]
    config: StudyConfig
    reference: str
    slots: list[SlotKey]
    gold: list[tuple[int, SlotKey, bytes]]  # (run index, slot, PNG of the noised copy)


def plan_study(
    runs: list[Condition], config: StudyConfig, reference: str | None = None
) -> StudyPlan:
    """Choose the reference, the caption slots and the gold pairs (reads only run folders)."""
    reference = choose_reference(runs, reference)
    slots = plan_slots(runs, config.max_captions, config.seed)
    per_run = [slot_images(run) for run in runs]
    rng = np.random.default_rng(config.seed + 1)
    picks = [
        (int(rng.integers(len(runs))), slots[int(rng.integers(len(slots)))])
        for _ in range(config.gold_pairs)
    ]
    gold = [
        (
            r,
            slot,
            degrade_image(
                per_run[r][slot].path, strength=config.gold_noise, seed=config.seed + 7 * i
            ),
        )
        for i, (r, slot) in enumerate(picks)
    ]
    return StudyPlan(runs, config, reference, slots, gold)


def check_create_args(name: str, admin_token: str | None, invites: int) -> None:
    if not name or not name.strip() or len(name) > 200:
        raise HumanEvalError(f"--name: {name!r}; give a study name of 1-200 characters")
    if invites < 0:
        raise HumanEvalError(f"--invites: {invites}; must be >= 0")
    if admin_token is not None and len(admin_token) < 8:
        raise HumanEvalError(
            "--admin-token: use at least 8 characters (or omit it to generate one)"
        )


def create_study(
    db: Database,
    name: str,
    plan: StudyPlan | list[Condition],
    config: StudyConfig | None = None,
    *,
    reference: str | None = None,
    admin_token: str | None = None,
    invites: int = 0,
) -> CreatedStudy:
    """Insert a study, from a plan or from checked run folders
    (``study_conditions.load_conditions``) + config."""
    check_create_args(name, admin_token, invites)
    if not isinstance(plan, StudyPlan):
        plan = plan_study(plan, config or StudyConfig(), reference)
    runs, config, reference, slots = plan.runs, plan.config, plan.reference, plan.slots
    per_run = [slot_images(run) for run in runs]
    n_gold = len(plan.gold)
    admin_token = admin_token or new_token(18)
    invite_tokens = [new_token(12) for _ in range(invites)]
    now = utcnow()
    try:
        with db.write() as conn:
            taken = conn.execute(
                sa.select(schema.studies.c.id).where(schema.studies.c.name == name)
            ).first()
            if taken is not None:
                raise HumanEvalError(
                    f"--name: a study named {name!r} already exists in this database; choose "
                    "another name"
                )
            study_id = conn.execute(
                sa.insert(schema.studies).returning(schema.studies.c.id),
                dict(
                    name=name,
                    created_at=now,
                    admin_token_sha256=hash_token(admin_token),
                    reference=reference,
                    config=config.to_json(),
                ),
            ).scalar_one()
            cond_ids = []
            for run in runs:
                cond_ids.append(
                    conn.execute(
                        sa.insert(schema.conditions).returning(schema.conditions.c.id),
                        dict(
                            study_id=study_id,
                            name=run.name,
                            method=run.method,
                            scale=run.scale,
                            run_id=run.run_id,
                            run_dir=str(run.path),
                            spec=run.spec,
                        ),
                    ).scalar_one()
                )
            image_rows = [
                dict(
                    study_id=study_id,
                    condition_id=cond_ids[r],
                    kind="sample",
                    caption_id=slot[0],
                    caption=slot[1],
                    seed=per_run[r][slot].seed,
                    path=str(per_run[r][slot].path),
                    png=None,
                )
                for r in range(len(runs))
                for slot in slots
            ]
            ids = (
                conn.execute(
                    sa.insert(schema.images).returning(
                        schema.images.c.id, sort_by_parameter_order=True
                    ),
                    image_rows,
                )
                .scalars()
                .all()
            )
            image_id = {
                (r, slot): ids[r * len(slots) + s]
                for r in range(len(runs))
                for s, slot in enumerate(slots)
            }
            comp_rows = [
                dict(
                    study_id=study_id,
                    caption_id=slot[0],
                    caption=slot[1],
                    image_a_id=image_id[(i, slot)],
                    image_b_id=image_id[(j, slot)],
                    condition_a_id=cond_ids[i],
                    condition_b_id=cond_ids[j],
                    is_gold=False,
                    gold_answer=None,
                )
                for i, j in itertools.combinations(range(len(runs)), 2)
                for slot in slots
            ]
            for r, slot, png in plan.gold:
                degraded = conn.execute(
                    sa.insert(schema.images).returning(schema.images.c.id),
                    dict(
                        study_id=study_id,
                        condition_id=None,
                        kind="gold_degraded",
                        caption_id=slot[0],
                        caption=slot[1],
                        seed=None,
                        path=None,
                        png=png,
                    ),
                ).scalar_one()
                comp_rows.append(
                    dict(
                        study_id=study_id,
                        caption_id=slot[0],
                        caption=slot[1],
                        image_a_id=image_id[(r, slot)],
                        image_b_id=degraded,
                        condition_a_id=None,
                        condition_b_id=None,
                        is_gold=True,
                        gold_answer="a",
                    )
                )
            conn.execute(sa.insert(schema.comparisons), comp_rows)
            if invite_tokens:
                conn.execute(
                    sa.insert(schema.invites),
                    [
                        dict(token_sha256=hash_token(t), study_id=study_id, created_at=now)
                        for t in invite_tokens
                    ],
                )
    except IntegrityError:
        raise HumanEvalError(
            f"--name: a study named {name!r} was created at the same time; choose another name"
        ) from None
    return CreatedStudy(
        name=name,
        admin_token=admin_token,
        invite_tokens=invite_tokens,
        n_conditions=len(runs),
        n_comparisons=len(comp_rows) - n_gold,
        n_gold=n_gold,
        reference=reference,
        conditions=[r.name for r in runs],
    )


def add_invites(db: Database, study_id: int, n: int) -> list[str]:
    if n < 1:
        raise HumanEvalError(f"--n: {n}; give the number of invite tokens to create (>= 1)")
    tokens = [new_token(12) for _ in range(n)]
    now = utcnow()
    with db.write() as conn:
        conn.execute(
            sa.insert(schema.invites),
            [dict(token_sha256=hash_token(t), study_id=study_id, created_at=now) for t in tokens],
        )
    return tokens


def invite_link(study: str, token: str) -> str:
    """The query part of an invite link (URL-encoded: study names may hold any character)."""
    return "?" + urlencode({"study": study, "invite": token})


def study_link(study: str) -> str:
    return "?" + urlencode({"study": study})
