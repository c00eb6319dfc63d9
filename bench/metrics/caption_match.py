"""Caption-match accuracy (and its partial-credit companion) on the synthetic caption set.

The attribute classifier shipped in bench/judges/assets (never the guiding model) reads each
generated image; an image counts as a match when every attribute its caption states is recognised
(``bench.judges.embedded.caption_match``). The number is the fraction of exact matches with a Wilson
95% interval over images (independent 0/1 outcomes; Wilson rather than a bootstrap because it
is defined at 0 or n matches, where every bootstrap resample is the same). ``attribute_match``
gives partial credit: the mean over images of the fraction of the stated attributes that are
recognised, with a BCa bootstrap 95% interval over images (``--bootstrap`` resamples, seeded by
``--seed``); it separates models that get some attributes right from models that get none,
where exact match is 0 for both. Only defined for captions of the synthetic grammar.
"""

from __future__ import annotations

import numpy as np

from bench.metrics.families import CAPTION_MATCH
from bench.metrics.registry import MetricResult, register_metric
from bench.metrics.uncertainty import bca_mean_interval, proportion_interval


@register_metric(
    "caption_match",
    display_name="Caption match",
    lower_is_better=False,
    family=CAPTION_MATCH.name,
    description="attribute classifier's exact caption-match accuracy (synthetic set); "
    "Wilson 95% over images",
)
def caption_match(ctx) -> MetricResult:
    matches = np.asarray(ctx.caption_matches(), dtype=bool)
    n, k = int(matches.size), int(matches.sum())
    out = proportion_interval(
        k, n, unit="images", target="the chance that an image of a caption like these matches it"
    )
    return MetricResult(
        out.value,
        out.low,
        out.high,
        n,
        ctx.classifier_label(),
        notes="fraction of images whose every captioned attribute is recognised; " + out.note,
    )


@register_metric(
    "attribute_match",
    display_name="Attribute match",
    lower_is_better=False,
    family=CAPTION_MATCH.name,
    description="mean fraction of each caption's attributes that the attribute classifier "
    "recognises (synthetic set); BCa bootstrap 95% over images",
)
def attribute_match(ctx) -> MetricResult:
    scores = np.asarray(ctx.attribute_scores(), dtype=np.float64)
    out = bca_mean_interval(
        scores, num_resamples=ctx.config.bootstrap, seed=ctx.config.seed, unit="images"
    )
    return MetricResult(
        out.value,
        out.low,
        out.high,
        int(scores.size),
        ctx.classifier_label(),
        notes="mean over images of the fraction of captioned attributes recognised "
        "(background, arrangement, shape/colour/size of each object); " + out.note,
    )
