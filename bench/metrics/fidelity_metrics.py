"""FID, Inception Score, KID and precision/recall on torch-fidelity features.

Features come from one torch-fidelity extractor (see :mod:`bench.metrics.fidelity`); the
metric formulas are torch-fidelity's own functions, called on those features:
``fid_statistics_to_metric`` (Heusel et al. 2017), ``isc_features_to_metric`` (Salimans et al.
2016), ``kid_features_to_metric`` (Binkowski et al. 2018, polynomial kernel) and
``prc_features_to_metric`` (Kynkaanniemi et al. 2019, k = 3). The statistics for FID are
computed here in row chunks (float64, two-pass centred covariance).

Precision/recall orientation: torch-fidelity 0.4 documents ``features_1`` as the GENERATED set
and ``features_2`` as the REAL set; precision is the fraction of generated samples inside the
real manifold. :func:`precision_recall` fixes that order by keyword, and a test checks it on a
mode-collapsed set (high precision, low recall), see torch-fidelity issue 58.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from bench.metrics.fidelity import _torch_fidelity
from bench.metrics.registry import MetricResult, register_metric
from bench.metrics.uncertainty import Z95, split_indices, spread_interval, wilson_interval

NAN = float("nan")
_CHUNK = 4096


def feature_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``[D]`` and unbiased covariance ``[D, D]`` (float64) of ``features [N, D]``."""
    n = features.shape[0]
    if n < 2:
        raise ValueError("need at least 2 feature rows for a covariance")
    mu = np.zeros(features.shape[1], dtype=np.float64)
    for start in range(0, n, _CHUNK):
        mu += features[start : start + _CHUNK].astype(np.float64).sum(axis=0)
    mu /= n
    sigma = np.zeros((features.shape[1], features.shape[1]), dtype=np.float64)
    for start in range(0, n, _CHUNK):
        centred = features[start : start + _CHUNK].astype(np.float64) - mu
        sigma += centred.T @ centred
    sigma /= n - 1
    return mu, sigma


def frechet_distance(
    stats_1: tuple[np.ndarray, np.ndarray], stats_2: tuple[np.ndarray, np.ndarray]
) -> float:
    """FID between two (mu, sigma) pairs, by torch-fidelity's ``fid_statistics_to_metric``."""
    from torch_fidelity.metric_fid import KEY_METRIC_FID, fid_statistics_to_metric

    _torch_fidelity()
    out = fid_statistics_to_metric(
        {"mu": stats_1[0], "sigma": stats_1[1]},
        {"mu": stats_2[0], "sigma": stats_2[1]},
        verbose=False,
    )
    return float(out[KEY_METRIC_FID])


def precision_recall(
    *, generated: np.ndarray, reference: np.ndarray, neighborhood: int = 3
) -> tuple[float, float]:
    """Improved precision and recall (k-NN manifolds); keywords fix the orientation."""
    from torch_fidelity.metric_prc import (
        KEY_METRIC_PRECISION,
        KEY_METRIC_RECALL,
        prc_features_to_metric,
    )

    _torch_fidelity()
    out = prc_features_to_metric(
        torch.from_numpy(np.ascontiguousarray(generated, dtype=np.float32)),
        torch.from_numpy(np.ascontiguousarray(reference, dtype=np.float32)),
        prc_neighborhood=neighborhood,
        prc_batch_size=4096,
        save_cpu_ram=True,
        verbose=False,
    )
    return float(out[KEY_METRIC_PRECISION]), float(out[KEY_METRIC_RECALL])


def _too_few(ctx, n: int, need: int, what: str) -> MetricResult:
    return MetricResult(
        NAN,
        NAN,
        NAN,
        n,
        ctx.extractor_label(),
        notes=f"{what} needs at least {need} images in each set (have {n} generated, "
        f"{ctx.num_reference()} reference)",
    )


@register_metric(
    "fid",
    display_name="FID",
    lower_is_better=True,
    family="fidelity",
    description="Frechet distance of feature statistics to the reference set; "
    "interval from disjoint-subset spread",
)
def fid(ctx) -> MetricResult:
    gen = ctx.gen_features("fid")
    n, k = gen.shape[0], ctx.config.fid_splits
    if n < 2 or ctx.num_reference() < 2:
        return _too_few(ctx, n, 2, "FID")
    ref_stats = ctx.ref_stats("fid")
    value = frechet_distance(feature_statistics(gen), ref_stats)
    subsets: list[float] = []
    if k >= 2 and n // k >= 2:
        subsets = [
            frechet_distance(feature_statistics(gen[idx]), ref_stats) for idx in split_indices(n, k)
        ]
    low, high = spread_interval(value, subsets)
    notes = (
        f"interval: full-set FID +/- 1.96*sd/sqrt({k}) over {k} disjoint subsets "
        f"of ~{n // max(k, 1)}"
        if subsets
        else "no interval: too few images for subsets"
    )
    if n < gen.shape[1]:
        notes += f"; n={n} < feature dim {gen.shape[1]}: FID is biased high and noisy at this size"
    return MetricResult(
        value,
        low,
        high,
        n,
        ctx.extractor_label(),
        notes=notes,
        extra={"subset_fids": subsets, "num_reference": ctx.num_reference()},
    )


@register_metric(
    "is",
    display_name="Inception Score",
    lower_is_better=False,
    family="fidelity",
    description="exp E[KL(p(y|x) || p(y))] over splits of the generated set",
)
def inception_score(ctx) -> MetricResult:
    from torch_fidelity.metric_isc import (
        KEY_METRIC_ISC_MEAN,
        KEY_METRIC_ISC_STD,
        isc_features_to_metric,
    )

    logits = ctx.gen_features("isc")
    n = logits.shape[0]
    splits = min(ctx.config.isc_splits, n)
    if splits < 2:
        return _too_few(ctx, n, 2, "Inception Score")
    out = isc_features_to_metric(
        torch.from_numpy(logits), splits=splits, shuffle=True, rng_seed=ctx.config.seed
    )
    mean, std = float(out[KEY_METRIC_ISC_MEAN]), float(out[KEY_METRIC_ISC_STD])
    half = Z95 * std / math.sqrt(splits - 1)  # sd (ddof=1) / sqrt(splits), from numpy's ddof=0 std
    return MetricResult(
        mean,
        mean - half,
        mean + half,
        n,
        ctx.extractor_label(),
        notes=f"mean over {splits} splits; interval mean +/- 1.96*sd/sqrt({splits}); "
        f"split sd {std:.4g}",
    )


@register_metric(
    "kid",
    display_name="KID",
    lower_is_better=True,
    family="fidelity",
    description="unbiased MMD^2 with a cubic polynomial kernel, mean over random subsets",
)
def kid(ctx) -> MetricResult:
    from torch_fidelity.metric_kid import (
        KEY_METRIC_KID_MEAN,
        KEY_METRIC_KID_STD,
        kid_features_to_metric,
    )

    gen, ref = ctx.gen_features("kid"), ctx.ref_features("kid")
    # Subsets of at most half of each set, so that they differ and their spread means something
    # (KID is unbiased for any subset size; only its variance depends on it).
    m = min(ctx.config.kid_subset_size, gen.shape[0] // 2, ref.shape[0] // 2)
    if m < 2:
        return _too_few(ctx, gen.shape[0], 4, "KID")
    out = kid_features_to_metric(
        torch.from_numpy(gen),
        torch.from_numpy(ref),
        kid_subsets=ctx.config.kid_subsets,
        kid_subset_size=m,
        rng_seed=ctx.config.seed,
        verbose=False,
    )
    mean, std = float(out[KEY_METRIC_KID_MEAN]), float(out[KEY_METRIC_KID_STD])
    return MetricResult(
        mean,
        mean - Z95 * std,
        mean + Z95 * std,
        gen.shape[0],
        ctx.extractor_label(),
        notes=f"{ctx.config.kid_subsets} subsets of {m}; interval mean +/- 1.96*sd over subsets "
        "(the spread of a size-m estimate; conservative)",
    )


def _prc(ctx) -> tuple[float, float] | None:
    gen, ref = ctx.gen_features("prc"), ctx.ref_features("prc")
    k = ctx.config.pr_neighborhood
    if gen.shape[0] <= k or ref.shape[0] <= k:
        return None
    return ctx.memo("prc", lambda: precision_recall(generated=gen, reference=ref, neighborhood=k))


def _proportion(ctx, value: float, n: int, what: str) -> MetricResult:
    count = int(round(value * n))  # torch-fidelity returns a float32 mean of 0/1 indicators
    low, high = wilson_interval(count, n)
    return MetricResult(
        count / n,
        low,
        high,
        n,
        ctx.extractor_label(),
        notes=f"k={ctx.config.pr_neighborhood} nearest neighbours; {what}; Wilson 95%",
    )


@register_metric(
    "precision",
    display_name="Precision",
    lower_is_better=False,
    family="fidelity",
    description="fraction of generated images inside the reference k-NN manifold",
)
def precision(ctx) -> MetricResult:
    pr = _prc(ctx)
    n = ctx.gen_features("prc").shape[0]
    if pr is None:
        return _too_few(ctx, n, ctx.config.pr_neighborhood + 1, "precision")
    return _proportion(ctx, pr[0], n, "share of generated images in the reference manifold")


@register_metric(
    "recall",
    display_name="Recall",
    lower_is_better=False,
    family="fidelity",
    description="fraction of reference images inside the generated k-NN manifold",
)
def recall(ctx) -> MetricResult:
    pr = _prc(ctx)
    if pr is None:
        return _too_few(
            ctx, ctx.gen_features("prc").shape[0], ctx.config.pr_neighborhood + 1, "recall"
        )
    return _proportion(
        ctx, pr[1], ctx.num_reference(), "share of reference images in the generated manifold"
    )
