"""Caption-match accuracy (and its partial-credit companion) on the synthetic caption set.

The attribute classifier shipped in bench/assets (never the guiding model) reads each generated
image; an image counts as a match when every attribute its caption states is recognised
(``bench.embedded.caption_match``). The number is the fraction of exact matches with a Wilson
95% interval. ``attribute_match`` gives partial credit: the mean over images of the fraction of
the stated attributes that are recognised, with a bootstrap 95% interval; it separates models
that get some attributes right from models that get none, where exact match is 0 for both.
Only defined for captions of the synthetic grammar.
"""

from __future__ import annotations

import numpy as np

from bench.metrics.registry import MetricResult, register_metric
from bench.metrics.uncertainty import bootstrap_mean_interval, wilson_interval


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


@register_metric(
    "attribute_match",
    display_name="Attribute match",
    lower_is_better=False,
    family="caption_match",
    description="mean fraction of each caption's attributes that the attribute classifier "
    "recognises (synthetic set); bootstrap 95%",
)
def attribute_match(ctx) -> MetricResult:
    scores = np.asarray(ctx.attribute_scores(), dtype=np.float64)
    low, high = bootstrap_mean_interval(scores)
    return MetricResult(
        float(scores.mean()),
        low,
        high,
        int(scores.size),
        ctx.classifier_label(),
        notes="mean over images of the fraction of captioned attributes recognised "
        "(background, arrangement, shape/colour/size of each object); percentile bootstrap 95%",
    )
