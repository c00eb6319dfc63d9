"""Canonical attribute labels of a synthetic scene, as the attribute classifier predicts them.

A caption may state one picture several ways ("A above B" is "B below A"), so the classifier
predicts a canonical form read off the picture:

- ``background`` (3 classes);
- ``arrangement`` (9): the single object's position (left/right/top/bottom/center), two or three
  identical objects, or two different objects stacked vertically / side by side;
- ``a_shape``/``a_colour``/``a_size``: the object of single and count scenes, or the top (left)
  object of a vertical (horizontal) pair;
- ``b_shape``/``b_colour``/``b_size``: the bottom (right) object of a pair; unused otherwise.

A caption matches an image when every head the caption constrains agrees (:func:`matches`).
"""

from __future__ import annotations

import numpy as np

from glide.data.scene import BACKGROUNDS, COLOURS, POSITIONS, SHAPES, SIZES, Scene

ARRANGEMENTS = (
    *(f"single-{p}" for p in POSITIONS),
    "count-2",
    "count-3",
    "pair-vertical",
    "pair-horizontal",
)
HEADS: dict[str, tuple[str, ...]] = {
    "background": tuple(BACKGROUNDS),
    "arrangement": ARRANGEMENTS,
    "a_shape": SHAPES,
    "a_colour": tuple(COLOURS),
    "a_size": SIZES,
    "b_shape": SHAPES,
    "b_colour": tuple(COLOURS),
    "b_size": SIZES,
}
HEAD_NAMES = tuple(HEADS)
HEAD_SIZES = tuple(len(v) for v in HEADS.values())
NUM_LOGITS = sum(HEAD_SIZES)
IGNORE = -1  # label of a head the scene does not constrain


def scene_labels(scene: Scene) -> np.ndarray:
    """int64 ``[len(HEADS)]`` class indices (``IGNORE`` for unconstrained heads)."""
    labels = dict.fromkeys(HEAD_NAMES, IGNORE)
    labels["background"] = HEADS["background"].index(scene.background)
    if scene.kind == "single":
        arrangement = f"single-{scene.position}"
        first, second = scene.objects[0], None
    elif scene.kind == "count":
        arrangement = f"count-{scene.count}"
        first, second = scene.objects[0], None
    else:
        vertical = scene.relation in ("above", "below")
        arrangement = "pair-vertical" if vertical else "pair-horizontal"
        first, second = scene.objects
        if scene.relation in ("below", "right of"):
            first, second = second, first
    labels["arrangement"] = ARRANGEMENTS.index(arrangement)
    for prefix, obj in (("a", first), ("b", second)):
        if obj is not None:
            labels[f"{prefix}_shape"] = SHAPES.index(obj.shape)
            labels[f"{prefix}_colour"] = HEADS["a_colour"].index(obj.colour)
            labels[f"{prefix}_size"] = SIZES.index(obj.size)
    return np.array([labels[h] for h in HEAD_NAMES], dtype=np.int64)


def split_logits(logits):
    """``[N, NUM_LOGITS]`` -> list of per-head ``[N, classes]`` views (torch or numpy)."""
    out, start = [], 0
    for size in HEAD_SIZES:
        out.append(logits[:, start : start + size])
        start += size
    return out


def predict_labels(logits) -> np.ndarray:
    """``[N, NUM_LOGITS]`` logits -> int64 ``[N, len(HEADS)]`` argmax per head."""
    return np.stack(
        [np.asarray(h).argmax(axis=1) for h in split_logits(np.asarray(logits))], axis=1
    ).astype(np.int64)


def matches(predicted: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Exact match over the constrained heads: bool ``[N]`` from two ``[N, len(HEADS)]``."""
    predicted, target = np.asarray(predicted), np.asarray(target)
    return np.all((target == IGNORE) | (predicted == target), axis=1)


def attribute_fractions(predicted: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Partial credit: float ``[N]``, the fraction of each row's constrained heads that agree
    (1.0 exactly where :func:`matches` is True)."""
    predicted, target = np.asarray(predicted), np.asarray(target)
    constrained = target != IGNORE
    return ((predicted == target) & constrained).sum(axis=1) / constrained.sum(axis=1)
