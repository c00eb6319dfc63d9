"""Caption-match accuracy on the synthetic caption set.

The attribute classifier shipped in bench/assets (never the guiding model) reads each generated
image; an image counts as a match when every attribute its caption states is recognised
(``bench.embedded.caption_match``). The number is the fraction of exact matches with a Wilson
95% interval. Only defined for captions of the synthetic grammar.
"""

from __future__ import annotations

import numpy as np

from bench.metrics.registry import MetricResult, register_metric
from bench.metrics.uncertainty import wilson_interval


@register_metric(
    "caption_match",
    display_name="Caption match",
    lower_is_better=False,
    family="caption_match",
    description="attribute classifier's exact caption-match accuracy (synthetic set); Wilson 95%",
)
def caption_match(ctx) -> MetricResult:
    matches = np.asarray(ctx.caption_matches(), dtype=bool)
    n, k = int(matches.size), int(matches.sum())
    low, high = wilson_interval(k, n)
    return MetricResult(
        k / n,
        low,
        high,
        n,
        ctx.classifier_label(),
        notes="fraction of images whose every captioned attribute is recognised; Wilson 95%",
    )
