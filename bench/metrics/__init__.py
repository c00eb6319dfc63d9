"""Metrics for generated images: a registry of FID, IS, KID, precision/recall, CLIP score and
caption-match accuracy, each declaring ``lower_is_better``, a display name and its family (the
judge network it needs).

``from bench.metrics import METRICS, get_metric, metric_names``. Importing this package (or any
module in it) registers the built-ins, here and only here: the metric modules' ``@register_metric``
decorators fill :data:`METRICS` in the order imported below; each metric module imports the
registries (:mod:`~bench.metrics.family`, :mod:`~bench.metrics.registry`, which know nothing of
the built-ins) and its family from :mod:`~bench.metrics.families`.
"""

# The built-in metric modules (each imports its family from bench.metrics.families); this
# order is the order of metric_names() and of the results table.
from bench.metrics import caption_match, clip_score, fidelity_metrics  # noqa: F401
from bench.metrics.family import FAMILIES, Family, get_family, register_family
from bench.metrics.registry import (
    METRICS,
    Metric,
    MetricResult,
    get_metric,
    metric_names,
    parse_metrics,
    register_metric,
)

__all__ = [
    "FAMILIES",
    "METRICS",
    "Family",
    "Metric",
    "MetricResult",
    "get_family",
    "get_metric",
    "metric_names",
    "parse_metrics",
    "register_family",
    "register_metric",
]
