"""The built-in metric families (see :mod:`bench.metrics.family`), registered on import.

- ``fidelity``: FID / IS / KID / precision / recall, from the torch-fidelity feature extractor
  and the reference set's features (computed once per sweep and cached);
- ``clip``: CLIP score, from the evaluation CLIP (never the generator's guiding CLIP);
- ``caption_match``: caption-match and attribute-match accuracy, from the attribute classifier
  of the synthetic set (synthetic captions only).

The per-sweep state (the loaded networks, the reference features) lives in the
:class:`bench.metrics.context.Evaluator`; these hooks say what each family asks of it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.errors import BenchError
from bench.images import REFERENCE_PREPROCESS
from bench.metrics.family import (
    ATTRIBUTE_CLASSIFIER,
    EVAL_CLIP,
    FEATURE_EXTRACTOR,
    Family,
    register_family,
)
from bench.metrics.store import assets_sha256

if TYPE_CHECKING:
    from bench.metrics.context import Evaluator
    from bench.metrics.registry import MetricResult

# -- fidelity ---------------------------------------------------------------------------------


def _fidelity_key(ev: Evaluator) -> dict[str, Any]:
    return {
        "extractor": ev.extractor_spec().identity(),
        "reference": ev.reference_key(),
        "params": ev.config.fidelity_params(),
    }


def _fidelity_check(ev: Evaluator) -> None:
    ev.extractor_spec()  # an unknown extractor or a missing weights file fails here


def _fidelity_load(ev: Evaluator) -> None:
    ev.extractor()  # a wrong Inception file fails here


def _fidelity_prepare(ev: Evaluator) -> None:
    ev.reference_features()  # the slow part: every reference image read and cached


def _fidelity_describe(ev: Evaluator) -> dict[str, Any]:
    return {
        "extractor": ev.extractor_spec().identity(),
        "reference": {
            "num_images": len(ev.reference_paths),
            "preprocess": REFERENCE_PREPROCESS,
            "resolution": ev.resolution,
            "cache_key": ev.reference_key(),
        },
        "fidelity_params": ev.config.fidelity_params(),
    }


def _fidelity_annotate(ev: Evaluator, result: MetricResult) -> None:
    # every fidelity number carries its resize, also one stored before the column existed
    # (the key holds the extractor's identity, so the resize is the same)
    result.extra.setdefault("resize", ev.extractor_spec().resize)


FIDELITY = register_family(
    Family(
        name="fidelity",
        judge=FEATURE_EXTRACTOR,
        key=_fidelity_key,
        check=_fidelity_check,
        load=_fidelity_load,
        prepare=_fidelity_prepare,
        describe=_fidelity_describe,
        annotate=_fidelity_annotate,
        one_extractor_per_table=True,
    )
)

# -- clip -------------------------------------------------------------------------------------


def _clip_key(ev: Evaluator) -> dict[str, Any]:
    return {
        "clip": ev.clip_choice().identity(),
        "bootstrap": ev.config.bootstrap,
        "seed": ev.config.seed,
    }


def _clip_check(ev: Evaluator) -> None:
    ev.clip_choice()  # a missing weights file or a wrong activation fails here


def _clip_load(ev: Evaluator) -> None:
    ev.clip()  # a weights file of another architecture fails here


def _clip_describe(ev: Evaluator) -> dict[str, Any]:
    return {"clip": ev.clip_choice().identity()}


def _clip_record(ev: Evaluator) -> dict[str, Any]:
    return {"clip_run": ev.clip_choice().label}  # the CLIP that actually runs (activation)


def _hashes_in(description: Any) -> set[str]:
    """Every sha256 (a 64-character string) anywhere in a nested dict / list description."""
    found: set[str] = set()
    if isinstance(description, dict):
        for value in description.values():
            found |= _hashes_in(value)
    elif isinstance(description, (list, tuple)):
        for value in description:
            found |= _hashes_in(value)
    elif isinstance(description, str) and len(description) == 64:
        found.add(description.lower())
    return found


def _clip_independent_of(ev: Evaluator, generator_description: Any) -> None:
    """Refuse an evaluation CLIP whose weights are a checkpoint of the generator."""
    choice = ev.clip_choice()
    if choice.pretrained is not None and choice.weights_sha256 in _hashes_in(generator_description):
        raise BenchError(
            f"--clip-pretrained: {choice.pretrained} is a checkpoint of the generator (the "
            "guiding CLIP); the evaluating CLIP must be a different model"
        )


CLIP = register_family(
    Family(
        name="clip",
        judge=EVAL_CLIP,
        key=_clip_key,
        check=_clip_check,
        load=_clip_load,
        describe=_clip_describe,
        record=_clip_record,
        independent_of=_clip_independent_of,
    )
)

# -- caption match ----------------------------------------------------------------------------


def _classifier_sha256() -> str:
    return assets_sha256("attribute_classifier*")


def _caption_match_key(ev: Evaluator) -> dict[str, Any]:
    return {
        "classifier": _classifier_sha256(),
        "bootstrap": ev.config.bootstrap,
        "seed": ev.config.seed,
        "version": 1,
    }


def _caption_match_check(ev: Evaluator) -> None:
    try:
        from bench.judges.classifier import CLASSIFIER_FILE
        from bench.judges.embedded import caption_match  # noqa: F401
    except ImportError as exc:
        raise BenchError(
            f"--metrics caption_match: the attribute classifier is not available ({exc}); "
            "drop caption_match from --metrics"
        ) from exc
    if not Path(CLASSIFIER_FILE).is_file():
        raise BenchError(
            f"--metrics caption_match: the attribute classifier's weights are not "
            f"installed ({CLASSIFIER_FILE}); drop caption_match from --metrics"
        )


def _caption_match_describe(ev: Evaluator) -> dict[str, Any]:
    return {"caption_match": {"classifier_sha256": _classifier_sha256()}}


CAPTION_MATCH = register_family(
    Family(
        name="caption_match",
        judge=ATTRIBUTE_CLASSIFIER,
        caption_kinds=("synthetic",),
        key=_caption_match_key,
        check=_caption_match_check,
        describe=_caption_match_describe,
    )
)
