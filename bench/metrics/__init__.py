"""Metrics for generated images: a registry of FID, IS, KID, precision/recall, CLIP score and
caption-match accuracy, each declaring ``lower_is_better`` and a display name.

``from bench.metrics import METRICS, get_metric, metric_names`` (the built-in metrics register
themselves on first use of :func:`get_metric` / :func:`metric_names`).
"""

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
    "METRICS",
    "Metric",
    "MetricResult",
    "get_metric",
    "metric_names",
    "parse_metrics",
    "register_metric",
]
