"""Scenes that differ from a given one in exactly one attribute (hard negatives for CLIP).

``layout`` changes where things are: another position (single), the opposite relation (a pair;
the two objects swap places in the picture), or the other count (2 <-> 3). ``colour`` and
``shape`` change the first object's colour or shape. Used to train the evaluation CLIP with
hard negatives in each batch and to measure whether it prefers a true caption over a caption
with one attribute changed.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from glide.data.scene import COLOURS, POSITIONS, SHAPES, Scene
from glide.errors import GlideError

CHANGES = ("layout", "colour", "shape")
OPPOSITE = {"above": "below", "below": "above", "left of": "right of", "right of": "left of"}


def _other(rng: np.random.Generator, options, current):
    choices = [o for o in options if o != current]
    return choices[rng.integers(len(choices))]


def one_change(scene: Scene, rng: np.random.Generator, change: str) -> Scene:
    """``scene`` with one attribute of kind ``change`` (see CHANGES) replaced."""
    if change == "layout":
        if scene.kind == "single":
            return dataclasses.replace(scene, position=_other(rng, POSITIONS, scene.position))
        if scene.kind == "count":
            return dataclasses.replace(scene, count=5 - scene.count)
        return dataclasses.replace(scene, relation=OPPOSITE[scene.relation])
    if change not in CHANGES:
        raise GlideError(f"change: {change!r} is not one of {list(CHANGES)}")
    first, rest = scene.objects[0], scene.objects[1:]
    while True:
        if change == "colour":
            obj = dataclasses.replace(first, colour=_other(rng, tuple(COLOURS), first.colour))
        else:
            obj = dataclasses.replace(first, shape=_other(rng, SHAPES, first.shape))
        if not rest or (obj.shape, obj.colour) != (rest[0].shape, rest[0].colour):
            return dataclasses.replace(scene, objects=(obj, *rest))
