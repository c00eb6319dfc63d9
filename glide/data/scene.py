"""Scenes of the synthetic captioned dataset: the vocabulary, the attribute record, sampling.

A :class:`Scene` holds exactly what a caption says and nothing else (no pixel geometry), so
``parse_caption(caption) == scene`` is a meaningful round trip. Three kinds of scene exist:

- ``single``: one object at a named position ("a small red circle on the left, white
  background");
- ``count``: two or three identical objects placed anywhere ("three big blue stars on a gray
  background");
- ``relation``: two different objects, the first ``above`` / ``below`` / ``left of`` /
  ``right of`` the second ("a small red circle above a large blue square ...").

Splits (:data:`SPLITS`): ``train`` (what the models learn from), ``val`` (what model selection,
checkpoint choice and tuning look at) and ``test`` (touched by none of these: only the final
evaluation reads it, see :func:`check_development_split`). Each split's
items come from their own random streams (``glide.data.synthetic``), so adding ``test`` left
every ``train`` and ``val`` item unchanged.

Held-out compositions: the (shape, colour) pairs in :data:`HELDOUT_PAIRS` never occur, in any
object of any scene, in the ``train`` split; ``val`` and ``test`` sample every combination, so
their images that contain such a pair (``scene.heldout``) test zero-shot composition of
attributes seen only separately during training.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from glide.errors import GlideError

SHAPES = ("circle", "square", "triangle", "star", "cross")
PLURALS = {
    "circle": "circles",
    "square": "squares",
    "triangle": "triangles",
    "star": "stars",
    "cross": "crosses",
}
# Object colours: clearly distinct hues, none of them close to a background.
COLOURS = {
    "red": (215, 35, 35),
    "orange": (245, 135, 20),
    "yellow": (240, 215, 30),
    "green": (40, 165, 60),
    "cyan": (30, 200, 215),
    "blue": (35, 75, 215),
    "purple": (140, 50, 185),
}
BACKGROUNDS = {"white": (245, 245, 245), "black": (15, 15, 15), "gray": (128, 128, 128)}
SIZES = ("small", "large")
POSITIONS = ("left", "right", "top", "bottom", "center")
RELATIONS = ("above", "below", "left of", "right of")
COUNTS = (2, 3)
KINDS = ("single", "count", "relation")
KIND_PROBS = (0.5, 0.2, 0.3)
SPLITS = ("train", "val", "test")
# What training (``train``), model selection and tuning (``val``) may read; ``test`` is for the
# final evaluation only.
DEVELOPMENT_SPLITS = ("train", "val")

# One held-out colour per shape (shape i gets colour (3i + 1) mod 7): 5 of the 35 pairs.
HELDOUT_PAIRS = frozenset(
    (shape, tuple(COLOURS)[(3 * i + 1) % len(COLOURS)]) for i, shape in enumerate(SHAPES)
)


@dataclass(frozen=True)
class Obj:
    """One described object: its shape, colour and size words (canonical spellings)."""

    shape: str
    colour: str
    size: str

    def __post_init__(self) -> None:
        _check("shape", self.shape, SHAPES)
        _check("colour", self.colour, tuple(COLOURS))
        _check("size", self.size, SIZES)

    @property
    def heldout(self) -> bool:
        return (self.shape, self.colour) in HELDOUT_PAIRS


@dataclass(frozen=True)
class Scene:
    """The ground-truth attributes of one image, as its caption states them.

    ``objects`` holds the described objects: one for ``single`` and ``count`` scenes (the
    ``count`` copies are identical), two for ``relation`` scenes (``objects[0]`` is
    ``relation`` ``objects[1]``). ``count`` is the number of objects in the image.
    ``position`` is set only for ``single`` scenes, ``relation`` only for ``relation`` scenes.
    """

    kind: str
    background: str
    objects: tuple[Obj, ...]
    count: int = 1
    position: str | None = None
    relation: str | None = None

    def __post_init__(self) -> None:
        _check("kind", self.kind, KINDS)
        _check("background", self.background, tuple(BACKGROUNDS))
        n_obj = {"single": 1, "count": 1, "relation": 2}[self.kind]
        if len(self.objects) != n_obj or not all(isinstance(o, Obj) for o in self.objects):
            raise GlideError(
                f"objects: a {self.kind} scene describes {n_obj} Obj, got {self.objects!r}"
            )
        counts = {"single": (1,), "count": COUNTS, "relation": (2,)}[self.kind]
        _check("count", self.count, counts)
        if self.kind == "single":
            _check("position", self.position, POSITIONS)
        elif self.position is not None:
            raise GlideError(f"position: only single scenes have one, got {self.position!r}")
        if self.kind == "relation":
            _check("relation", self.relation, RELATIONS)
            a, b = self.objects
            if (a.shape, a.colour) == (b.shape, b.colour):
                raise GlideError(
                    f"objects: the two objects of a relation scene must differ in shape or "
                    f"colour, got two {a.colour} {a.shape}s"
                )
        elif self.relation is not None:
            raise GlideError(f"relation: only relation scenes have one, got {self.relation!r}")

    @property
    def heldout(self) -> bool:
        """True when some object is a held-out (shape, colour) pair (val and test only)."""
        return any(o.heldout for o in self.objects)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "background": self.background,
            "objects": [
                {"shape": o.shape, "colour": o.colour, "size": o.size} for o in self.objects
            ],
            "count": self.count,
            "position": self.position,
            "relation": self.relation,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Scene:
        try:
            objects = tuple(Obj(**o) for o in data["objects"])
            return cls(
                kind=data["kind"],
                background=data["background"],
                objects=objects,
                count=data["count"],
                position=data.get("position"),
                relation=data.get("relation"),
            )
        except (KeyError, TypeError) as exc:
            raise GlideError(
                f"scene dict {data!r} is malformed ({exc}); use Scene.to_dict()"
            ) from None


def _check(name: str, value: Any, allowed: tuple) -> None:
    if value not in allowed:
        raise GlideError(f"{name}: {value!r} is not one of {list(allowed)}")


def check_split(split: str) -> str:
    if split not in SPLITS:
        raise GlideError(f"split: {split!r} is not one of {list(SPLITS)}")
    return split


def check_development_split(split: str) -> str:
    """``split`` if training, checkpoint choice or tuning may read it (``train``, ``val``), else
    a GlideError: the ``test`` split is read only by the final evaluation, so that the figures
    measured on it are not optimistic."""
    check_split(split)
    if split not in DEVELOPMENT_SPLITS:
        raise GlideError(
            f"split: {split!r} is for the final evaluation only (bench.model_eval --split "
            f"test, the benchmark's default captions); training, checkpoint choice and tuning "
            f"read {' or '.join(DEVELOPMENT_SPLITS)}"
        )
    return split


def _sample_obj(rng: np.random.Generator, allow_heldout: bool) -> Obj:
    while True:
        obj = Obj(
            shape=SHAPES[rng.integers(len(SHAPES))],
            colour=tuple(COLOURS)[rng.integers(len(COLOURS))],
            size=SIZES[rng.integers(len(SIZES))],
        )
        if allow_heldout or not obj.heldout:
            return obj


def sample_scene(rng: np.random.Generator, split: str) -> Scene:
    """Draw a scene; ``train`` never contains a held-out (shape, colour) pair (``val`` and
    ``test`` may)."""
    allow = check_split(split) != "train"
    kind = KINDS[rng.choice(len(KINDS), p=KIND_PROBS)]
    background = tuple(BACKGROUNDS)[rng.integers(len(BACKGROUNDS))]
    if kind == "single":
        return Scene(
            kind,
            background,
            (_sample_obj(rng, allow),),
            position=POSITIONS[rng.integers(len(POSITIONS))],
        )
    if kind == "count":
        return Scene(
            kind, background, (_sample_obj(rng, allow),), count=COUNTS[rng.integers(len(COUNTS))]
        )
    a = _sample_obj(rng, allow)
    while True:
        b = _sample_obj(rng, allow)
        if (b.shape, b.colour) != (a.shape, a.colour):
            break
    return Scene(
        kind, background, (a, b), count=2, relation=RELATIONS[rng.integers(len(RELATIONS))]
    )
