"""The embedded benchmark's evaluation networks (trained separately from the GLIDE models).

- :func:`load_attribute_classifier` / :func:`caption_match`: exact caption-match accuracy of
  images against captions of the synthetic grammar (``glide.data.grammar``);
- :func:`load_eval_clip`: the evaluation CLIP through open_clip (custom small architecture);
- :func:`register_fidelity_extractor`: ``glide-bench-synth`` for torch-fidelity.

Weights, configs and model cards are in ``bench/judges/assets``; ``python -m bench.judges.train``
retrains them.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
import torch

from bench.errors import BenchError
from bench.judges.attributes import (
    HEAD_NAMES,
    IGNORE,
    attribute_fractions,
    matches,
    predict_labels,
    scene_labels,
)
from bench.judges.classifier import AttributeNet, load_classifier_file
from bench.judges.eval_clip import load_eval_clip
from bench.judges.feature_extractor import register_fidelity_extractor
from glide.data.grammar import parse_caption
from glide.errors import GlideError

__all__ = [
    "attribute_scores",
    "attribute_summary",
    "caption_match",
    "load_attribute_classifier",
    "load_eval_clip",
    "predicted_and_stated_labels",
    "register_fidelity_extractor",
    "predict_attributes",
]


@functools.lru_cache(maxsize=1)
def load_attribute_classifier() -> AttributeNet:
    """The shipped attribute classifier (float32, eval mode; cached)."""
    return load_classifier_file()


def _check_images(images) -> torch.Tensor:
    if isinstance(images, np.ndarray):
        if images.dtype != np.uint8:
            raise BenchError(f"images: dtype {images.dtype}; give uint8 [N, H, W, 3] in 0..255")
        images = torch.from_numpy(np.ascontiguousarray(images))
    if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8:
        raise BenchError(f"images: {type(images).__name__}; give a uint8 array [N, H, W, 3]")
    if images.ndim != 4 or images.shape[-1] != 3 or images.shape[0] == 0:
        raise BenchError(f"images: shape {tuple(images.shape)}; give [N, H, W, 3] with N >= 1")
    return images.permute(0, 3, 1, 2)


@torch.inference_mode()
def predict_attributes(images, *, batch_size: int = 256) -> np.ndarray:
    """uint8 ``[N, H, W, 3]`` -> int64 ``[N, 8]`` predicted labels (see bench.judges.attributes)."""
    x = _check_images(images)
    model = load_attribute_classifier()
    logits = [model(x[s : s + batch_size]) for s in range(0, len(x), batch_size)]
    return predict_labels(torch.cat(logits).numpy())


def predicted_and_stated_labels(images, captions: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """int64 ``[N, len(HEADS)]`` twice: the classifier's labels of image i, and the labels
    caption i states (``IGNORE`` where it states nothing); see :mod:`bench.judges.attributes`."""
    captions = list(captions)
    x = _check_images(images)
    if len(captions) != len(x):
        raise BenchError(f"captions: {len(captions)} captions for {len(x)} images; give one each")
    targets = []
    for i, caption in enumerate(captions):
        try:
            targets.append(scene_labels(parse_caption(caption)))
        except GlideError as exc:
            raise BenchError(f"captions[{i}]: {exc}") from None
    return predict_attributes(images), np.stack(targets)


def caption_match(images, captions: Sequence[str]) -> np.ndarray:
    """bool ``[N]``: does image i show every attribute caption i states (exact match)?

    ``images``: uint8 ``[N, H, W, 3]`` (any H = W; resized to 64x64). ``captions``: N captions
    of the synthetic grammar; other text raises ``GlideError``.
    """
    return matches(*predicted_and_stated_labels(images, captions))


def attribute_scores(images, captions: Sequence[str]) -> np.ndarray:
    """float ``[N]``: the fraction of the attributes caption i states that image i shows.

    The partial-credit companion of :func:`caption_match` (which is 1 only when this is 1):
    each constrained head of the classifier (background, arrangement, and shape / colour / size
    of each described object) counts once.
    """
    return attribute_fractions(*predicted_and_stated_labels(images, captions))


def attribute_summary(images, captions: Sequence[str]) -> dict:
    """Partial credit of a set of images: the mean of :func:`attribute_scores`, and per head
    the accuracy over the images whose caption constrains it (``None`` where none does)."""
    predicted, target = predicted_and_stated_labels(images, captions)
    constrained = target != IGNORE
    right = (predicted == target) & constrained
    per_head = {}
    for j, head in enumerate(HEAD_NAMES):
        n = int(constrained[:, j].sum())
        per_head[head] = float(right[:, j].sum() / n) if n else None
    scores = attribute_fractions(predicted, target)
    return {"attribute_match": float(scores.mean()), "head_accuracy": per_head}
