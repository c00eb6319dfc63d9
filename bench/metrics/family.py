"""The registry of metric families: what a group of metrics needs from the evaluator.

A family is the judge network a metric is computed with and everything that goes with it: which
captions it can judge, its availability check, what it loads and prepares once per sweep, what
goes into the key of its stored numbers, and what it adds to sweep.json. Every metric names one
family (``register_metric(..., family=NAME)``); :class:`bench.metrics.context.Evaluator` iterates
over the families its metrics use and never branches on their names.

This module knows nothing of the built-in families; they register themselves in
:mod:`bench.metrics.families`, which ``bench.metrics`` imports once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bench.errors import BenchError

if TYPE_CHECKING:
    from bench.metrics.context import Evaluator
    from bench.metrics.registry import MetricResult

# The judges a family can need; bench.judges.choice.choose_judges resolves the first two.
FEATURE_EXTRACTOR = "feature extractor"
EVAL_CLIP = "evaluation CLIP"
ATTRIBUTE_CLASSIFIER = "attribute classifier"
JUDGES = (FEATURE_EXTRACTOR, EVAL_CLIP, ATTRIBUTE_CLASSIFIER)


def _nothing(evaluator: Evaluator) -> None:
    return None


def _no_record(evaluator: Evaluator) -> dict[str, Any]:
    return {}


def _no_annotation(evaluator: Evaluator, result: MetricResult) -> None:
    return None


def _independent(evaluator: Evaluator, generator_description: Any) -> None:
    return None


@dataclass(frozen=True)
class Family:
    """One family of metrics and the evaluator's work for it (each hook takes the evaluator).

    - ``judge``: the network that scores it (one of :data:`JUDGES`);
    - ``caption_kinds``: the caption sources it can judge (``None``: any);
    - ``key``: what changes its numbers (hashed into the key of each stored number);
    - ``check``: the cheap availability check (files present; nothing loaded), raises BenchError;
    - ``load``: load its judge network (a wrong weights file fails here);
    - ``prepare``: the slow shared work done once per sweep (reference features);
    - ``describe``: its entries in sweep.json's evaluation metadata;
    - ``record``: what it adds to the judges' record (the judge that actually runs);
    - ``annotate``: fill a computed or stored result's ``extra`` (the same either way);
    - ``independent_of``: refuse a judge that is part of the generator (its description given);
    - ``one_extractor_per_table``: its numbers compare only under one judge, so a results
      table that mixes judges is refused.
    """

    name: str
    judge: str
    key: Callable[[Evaluator], dict[str, Any]]
    check: Callable[[Evaluator], None]
    describe: Callable[[Evaluator], dict[str, Any]]
    caption_kinds: tuple[str, ...] | None = None
    load: Callable[[Evaluator], None] = _nothing
    prepare: Callable[[Evaluator], None] = _nothing
    record: Callable[[Evaluator], dict[str, Any]] = _no_record
    annotate: Callable[[Evaluator, MetricResult], None] = _no_annotation
    independent_of: Callable[[Evaluator, Any], None] = _independent
    one_extractor_per_table: bool = False

    def __post_init__(self) -> None:
        if self.judge not in JUDGES:
            raise ValueError(f"family {self.name!r}: judge {self.judge!r} not in {JUDGES}")

    def fits_captions(self, caption_kind: str) -> bool:
        """Can this family's judge score images of ``caption_kind`` captions?"""
        return self.caption_kinds is None or caption_kind in self.caption_kinds


FAMILIES: dict[str, Family] = {}


def register_family(family: Family) -> Family:
    """Add ``family`` to :data:`FAMILIES`; a second family of the same name is refused."""
    if family.name in FAMILIES:
        raise KeyError(f"metric family {family.name!r} is already registered")
    FAMILIES[family.name] = family
    return family


def get_family(name: str) -> Family:
    if name not in FAMILIES:
        raise BenchError(f"metric family {name!r} is unknown; choose from {', '.join(FAMILIES)}")
    return FAMILIES[name]
