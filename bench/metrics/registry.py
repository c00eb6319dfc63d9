"""The metric registry: a dict of :class:`Metric` filled by a decorator that refuses duplicates.

Each metric declares its display name, whether lower is better, and its family (a registered
:class:`bench.metrics.family.Family`: the judge network it needs and how the evaluator prepares
it). Its compute function takes an :class:`bench.metrics.context.EvalContext` (which computes
and caches features once per run) and returns a :class:`MetricResult`.

This module knows nothing of the built-in metrics: they register themselves in their own
modules, which ``bench.metrics`` (the package) imports once, so any import of ``bench.metrics``
or one of its modules sees them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from bench.errors import BenchError
from bench.metrics.family import FAMILIES, Family, get_family

if TYPE_CHECKING:
    from bench.metrics.context import EvalContext


@dataclass(frozen=True)
class MetricResult:
    """One number with its interval; NaN only together with a note saying why."""

    value: float
    ci_low: float
    ci_high: float
    n: int
    extractor: str
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if math.isnan(self.value) and not self.notes:
            raise AssertionError("a NaN metric value needs a note saying why")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Metric:
    name: str
    display_name: str
    lower_is_better: bool
    family: str
    description: str
    compute: Callable[[EvalContext], MetricResult]

    @property
    def family_spec(self) -> Family:
        """The registered family named by :attr:`family`."""
        return get_family(self.family)


METRICS: dict[str, Metric] = {}


def register_metric(
    name: str, *, display_name: str, lower_is_better: bool, family: str, description: str
) -> Callable[[Callable[[EvalContext], MetricResult]], Callable[[EvalContext], MetricResult]]:
    """Decorator adding ``fn(ctx) -> MetricResult`` to :data:`METRICS` under ``name``."""
    if family not in FAMILIES:
        raise ValueError(f"metric {name!r}: family {family!r} not in {tuple(FAMILIES)}")

    def decorate(fn: Callable[[EvalContext], MetricResult]) -> Callable:
        if name in METRICS:
            raise KeyError(f"metric {name!r} is already registered")
        METRICS[name] = Metric(name, display_name, lower_is_better, family, description, fn)
        return fn

    return decorate


def get_metric(name: str) -> Metric:
    if name not in METRICS:
        raise BenchError(f"--metrics: unknown metric {name!r}; choose from {', '.join(METRICS)}")
    return METRICS[name]


def metric_names() -> list[str]:
    return list(METRICS)


def parse_metrics(text: str) -> tuple[str, ...]:
    """Parse ``--metrics`` ("fid,is,clip_score") into known names, in the order given."""
    names: list[str] = []
    for item in str(text).split(","):
        item = item.strip()
        if not item:
            raise BenchError(f"--metrics: empty item in {text!r}; list names separated by commas")
        get_metric(item)
        if item not in names:
            names.append(item)
    return tuple(names)
