"""The metric registry: a dict of :class:`Metric` filled by a decorator that refuses duplicates.

Each metric declares its display name, whether lower is better, and which evaluation network
family it needs ("fidelity": the torch-fidelity feature extractor; "clip": the evaluation
CLIP; "caption_match": the attribute classifier of the synthetic set). Its compute function
takes an :class:`bench.metrics.context.EvalContext` (which computes and caches features once
per run) and returns a :class:`MetricResult`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from bench.errors import BenchError

if TYPE_CHECKING:
    from bench.metrics.context import EvalContext

FAMILIES = ("fidelity", "clip", "caption_match")


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


METRICS: dict[str, Metric] = {}


def register_metric(
    name: str, *, display_name: str, lower_is_better: bool, family: str, description: str
) -> Callable[[Callable[[EvalContext], MetricResult]], Callable[[EvalContext], MetricResult]]:
    """Decorator adding ``fn(ctx) -> MetricResult`` to :data:`METRICS` under ``name``."""
    if family not in FAMILIES:
        raise ValueError(f"metric family {family!r} not in {FAMILIES}")

    def decorate(fn: Callable[[EvalContext], MetricResult]) -> Callable:
        if name in METRICS:
            raise KeyError(f"metric {name!r} is already registered")
        METRICS[name] = Metric(name, display_name, lower_is_better, family, description, fn)
        return fn

    return decorate


def get_metric(name: str) -> Metric:
    _load_builtin()
    if name not in METRICS:
        raise BenchError(f"--metrics: unknown metric {name!r}; choose from {', '.join(METRICS)}")
    return METRICS[name]


def metric_names() -> list[str]:
    _load_builtin()
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


def _load_builtin() -> None:
    # Importing the modules runs their @register_metric decorators (once).
    import bench.metrics.caption_match  # noqa: F401
    import bench.metrics.clip_score  # noqa: F401
    import bench.metrics.fidelity_metrics  # noqa: F401
