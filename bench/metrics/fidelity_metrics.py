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

Intervals (95%; each note in the results table names the unit, the method and the target). The
reference set is fixed (its features are computed once and shared by every run of a sweep), so
every interval is conditional on it: it answers "how much would this number move if the
generator drew another set of n images", which is what a comparison of runs against the same
reference needs. The unit of resampling is always the generated image.

- FID (:func:`fid_interval`): delete-d jackknife over generated images in g equal groups, t
  quantile with g - 1 degrees of freedom. Target: the expected FID of n generated images against
  this reference set. FID is biased upwards at small n (it falls as n grows), so that is not the
  infinite-sample value, and FIDs at different n are not comparable; the bias is left in the
  number, never "corrected" (at n below the feature dimension it dominates).
- KID (:func:`kid_interval`): delete-1 jackknife over generated images of the all-pairs MMD^2
  (closed form from kernel row sums), plus the variance of torch-fidelity's random subsets.
  Target: the MMD^2 between the generator and this reference set; KID is unbiased, so that is
  both the expectation at this n and the infinite-sample value.
- Precision (:func:`precision_interval`): given the reference, each generated image is in or out
  of the reference manifold independently of the others: Wilson over generated images. Target:
  the chance that a generated image falls in this reference set's k-NN manifold.
- Recall (:func:`recall_interval`): half-sampling (delete-n/2 jackknife) over generated images,
  recomputing the generated k-NN radii in each half. Target: the expected recall of n generated
  images against this reference set (recall changes with n). The old interval (Wilson over the
  reference images) treated the wrong set as random and was about 3.5 times too narrow.
- IS (:func:`inception_score_interval`): splits of a fixed size s (see
  :func:`isc_split_size`); t interval over the split scores. Target: the expected IS of s
  generated images. No value where fewer than s images exist.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from bench.metrics.families import FIDELITY
from bench.metrics.fidelity import _torch_fidelity
from bench.metrics.registry import MetricResult, register_metric
from bench.metrics.uncertainty import (
    Z95,
    Interval,
    grouped_jackknife_se,
    half_sampling_se,
    proportion_interval,
    t_quantile,
)

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


# -- FID ---------------------------------------------------------------------------------------


def psd_sqrt(sigma: np.ndarray) -> np.ndarray:
    """Symmetric square root of a covariance matrix (negative rounding dust clipped to 0)."""
    w, v = np.linalg.eigh((sigma + sigma.T) / 2)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


class FrechetSubsets:
    """FID of subsets of one generated set against fixed reference statistics, fast.

    ``trace sqrt(sigma_g sigma_r)`` is the sum of the square roots of the eigenvalues of
    ``S sigma_g S`` with ``S = sigma_r^(1/2)`` (the same eigenvalues as torch-fidelity's
    ``eigvals(sigma_g @ sigma_r)``, from a symmetric matrix). With ``Z = X S`` that matrix is
    ``Zc^T Zc / (m - 1)``, whose non-zero eigenvalues are those of the m x m Gram matrix
    ``Zc Zc^T / (m - 1)``: a subset costs one m x m eigendecomposition when n <= D, and a D x D
    one (a downdate of ``Z^T Z``) otherwise. Float64 throughout; ``ref_root`` (``psd_sqrt`` of
    the reference covariance) may be given when many sets share a reference. Used for the
    jackknife replicates only; the reported FID is torch-fidelity's (:func:`frechet_distance`),
    and a test checks that both agree.
    """

    def __init__(
        self,
        gen: np.ndarray,
        ref_stats: tuple[np.ndarray, np.ndarray],
        ref_root: np.ndarray | None = None,
    ) -> None:
        x = np.asarray(gen, dtype=np.float64)
        self.n, self.dim = x.shape
        centre = x.mean(axis=0)  # FID is unchanged by a common shift; centring avoids cancellation
        x = x - centre
        mu_r, sigma_r = (np.asarray(a, dtype=np.float64) for a in ref_stats)
        self.ref_offset = mu_r - centre
        self.trace_ref = float(np.trace(sigma_r))
        root = psd_sqrt(sigma_r) if ref_root is None else ref_root
        self.x = x
        self.z = x @ root
        self.sq = np.einsum("ij,ij->i", x, x)
        self.x_sum, self.z_sum, self.sq_sum = x.sum(axis=0), self.z.sum(axis=0), self.sq.sum()
        self.gram = self.z @ self.z.T if self.n <= self.dim else None
        self.ztz = None if self.gram is not None else self.z.T @ self.z

    def fid(self, keep: np.ndarray | None = None) -> float:
        """FID of the generated rows where ``keep`` is True (all rows by default)."""
        keep = np.ones(self.n, dtype=bool) if keep is None else np.asarray(keep, dtype=bool)
        drop = np.flatnonzero(~keep)
        m = self.n - drop.size
        if m < 2:
            return NAN
        mu = (self.x_sum - self.x[drop].sum(axis=0)) / m
        trace_gen = (self.sq_sum - self.sq[drop].sum() - m * float(mu @ mu)) / (m - 1)
        if self.gram is not None:
            idx = np.flatnonzero(keep)
            g = self.gram[np.ix_(idx, idx)]
            row = g.mean(axis=1)
            centred = g - row[:, None] - row[None, :] + row.mean()
            eig = np.linalg.eigvalsh(centred / (m - 1))
        else:
            zd = self.z[drop]
            zs = self.z_sum - zd.sum(axis=0)
            scatter = self.ztz - zd.T @ zd - np.outer(zs, zs) / m
            eig = np.linalg.eigvalsh(scatter / (m - 1))
        trace_sqrt = float(np.sqrt(np.clip(eig, 0.0, None)).sum())
        diff = mu - self.ref_offset
        return float(diff @ diff) + trace_gen + self.trace_ref - 2.0 * trace_sqrt


def fid_interval(
    gen: np.ndarray, ref_stats: tuple[np.ndarray, np.ndarray], *, groups: int, seed: int
) -> Interval:
    """torch-fidelity's FID of ``gen`` against ``ref_stats`` with a 95% jackknife interval.

    Unit: generated images, in ``g = min(groups, n)`` seeded groups of ``d = n // g`` (equal
    sizes, so every replicate's FID has the same small-n bias). Method: delete-a-group jackknife
    standard error (Shao and Wu 1989), ``FID +/- t_{g-1} * se``. Target: the expected FID of n
    generated images against this (fixed) reference set, the quantity two runs with the same n
    and reference can be compared on; not the infinite-sample FID, which lies below it by the
    small-n bias. A bootstrap is wrong here: resamples hold about 0.63 n distinct images, and the
    bias (of order 1/n) moves with that count, so the bootstrap spread is several times the real
    one (see tests/bench/test_intervals_fid_kid.py).
    """
    n = gen.shape[0]
    value = frechet_distance(feature_statistics(gen), ref_stats)
    if n < 3 or groups < 2:
        why = "fewer than 3 images" if n < 3 else f"{groups} jackknife group(s) asked for"
        return Interval(value, NAN, NAN, f"no interval: {why}")
    engine = FrechetSubsets(gen, ref_stats)
    se, g, d = grouped_jackknife_se(engine.fid, n, groups=groups, seed=seed)
    half = t_quantile(g - 1) * se
    note = (
        f"interval: delete-{d} jackknife over generated images ({g} groups of {d}), "
        f"FID +/- t_{g - 1} * se; target: the expected FID of {n} generated images against "
        "this reference set (FID falls as n grows: compare only at equal n)"
    )
    return Interval(value, value - half, value + half, note)


# -- KID ---------------------------------------------------------------------------------------


def _poly_kernel_row_sums(x: np.ndarray, y: np.ndarray, *, skip_diagonal: bool) -> np.ndarray:
    """Row sums of torch-fidelity's KID kernel ``(x . y / D + 1)^3`` (its defaults: degree 3,
    gamma 1/D, coef0 1), in row chunks; ``skip_diagonal`` leaves out ``k(x_i, x_i)`` (x is y)."""
    xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float64))
    yt = xt if skip_diagonal else torch.from_numpy(np.ascontiguousarray(y, dtype=np.float64))
    gamma = 1.0 / xt.shape[1]
    sums = torch.empty(xt.shape[0], dtype=torch.float64)
    for start in range(0, xt.shape[0], 1024):
        k = (xt[start : start + 1024] @ yt.T * gamma + 1.0) ** 3
        if skip_diagonal:
            rows = torch.arange(k.shape[0])
            k[rows, rows + start] = 0.0
        sums[start : start + 1024] = k.sum(dim=1)
    return sums.numpy()


def kid_jackknife_variance(gen: np.ndarray, ref: np.ndarray) -> float:
    """Delete-1 jackknife variance, over generated images, of the all-pairs unbiased MMD^2
    between ``gen`` and the fixed ``ref`` (torch-fidelity's estimator on whole sets).

    Leaving out image i changes the statistic by ``-2 (r_i - mean r) / ((n-1)(n-2))`` from the
    generated-pairs term and ``+2 (t_i - mean t) / ((n-1) N)`` from the cross term, where
    ``r_i`` and ``t_i`` are image i's kernel row sums over the other generated images and over
    the reference; the reference-pairs term does not move.
    """
    n, big_n = gen.shape[0], ref.shape[0]
    r = _poly_kernel_row_sums(gen, gen, skip_diagonal=True)
    t = _poly_kernel_row_sums(gen, ref, skip_diagonal=False)
    dev = -2.0 * (r - r.mean()) / ((n - 1) * (n - 2)) + 2.0 * (t - t.mean()) / ((n - 1) * big_n)
    return float((n - 1) / n * np.sum(dev**2))


def kid_interval(
    gen: np.ndarray, ref: np.ndarray, *, subsets: int, subset_size: int, seed: int
) -> Interval:
    """torch-fidelity's KID (mean over ``subsets`` random subsets of ``subset_size`` from each
    set) with a 95% interval.

    Unit: generated images. Method: the delete-1 jackknife variance of the all-pairs MMD^2
    (:func:`kid_jackknife_variance`; the subset mean's expectation given the data) plus the
    variance that the random subsets add (torch-fidelity's subset spread / (subsets - 1));
    ``KID +/- 1.96 * se``. Target: the MMD^2 between the generator and this (fixed) reference
    set, which KID estimates without bias at any n. The old interval, ``+/- 1.96 *`` the spread
    of one subset, was the uncertainty of a single subset of half the images, not of the mean.
    """
    _torch_fidelity()
    from torch_fidelity.metric_kid import (
        KEY_METRIC_KID_MEAN,
        KEY_METRIC_KID_STD,
        kid_features_to_metric,
    )

    out = kid_features_to_metric(
        torch.from_numpy(np.ascontiguousarray(gen)),
        torch.from_numpy(np.ascontiguousarray(ref)),
        kid_subsets=subsets,
        kid_subset_size=subset_size,
        rng_seed=seed,
        verbose=False,
    )
    value, sd = float(out[KEY_METRIC_KID_MEAN]), float(out[KEY_METRIC_KID_STD])
    n = gen.shape[0]
    if n < 3:
        return Interval(value, NAN, NAN, "no interval: fewer than 3 generated images")
    var = kid_jackknife_variance(gen, ref) + (sd * sd / (subsets - 1) if subsets > 1 else 0.0)
    half = Z95 * math.sqrt(var)
    note = (
        f"{subsets} subsets of {subset_size} (subset sd {sd:.4g}); interval: delete-1 "
        f"jackknife over {n} generated "
        "images of the all-pairs MMD^2 plus the subset-sampling variance, KID +/- 1.96 * se; "
        "target: MMD^2 of the generator to this reference set (KID is unbiased at any n)"
    )
    return Interval(value, value - half, value + half, note)


# -- precision and recall ----------------------------------------------------------------------


def precision_interval(precision_value: float, n_generated: int, neighborhood: int) -> Interval:
    """Wilson 95% interval of precision over the generated images.

    Given the fixed reference set (its k-NN radii are fixed), whether a generated image lies in
    the reference manifold depends on that image alone, so the n outcomes are independent 0/1
    draws. Target: the chance that a generated image lies in this reference set's manifold
    (the same at every n).
    """
    count = int(round(precision_value * n_generated))  # torch-fidelity: a float32 mean of 0/1
    out = proportion_interval(
        count,
        n_generated,
        unit="generated images",
        target="the chance that a generated image lies in this reference set's "
        f"k={neighborhood} NN manifold",
    )
    return out._replace(note=f"k={neighborhood} nearest neighbours; interval: " + out.note)


class RecallSubsets:
    """Recall of subsets of the generated set against a fixed reference set, as torch-fidelity
    computes it: a reference image counts when it lies within the k-NN radius of some generated
    image, the radii (distance to the k-th nearest other image, counting the image itself as
    the first) recomputed among the subset.

    Stores the reference-to-generated distances (N x n float32: 3.6 GB at 30,000 x 30,000) and,
    for each generated image, its L nearest generated images, from which a subset's radius is
    read (the k+1-th of them that is in the subset); an image with fewer than k+1 subset members
    among its L nearest is computed from all distances instead, so the result is exact.
    """

    def __init__(self, gen: np.ndarray, ref: np.ndarray, neighborhood: int) -> None:
        self.k = neighborhood
        self.gen = torch.from_numpy(np.ascontiguousarray(gen, dtype=np.float32))
        ref_t = torch.from_numpy(np.ascontiguousarray(ref, dtype=np.float32))
        self.n = self.gen.shape[0]
        self.num_ref = ref_t.shape[0]
        self.width = min(self.n, 8 * (neighborhood + 1))
        dists, idx = [], []
        for start in range(0, self.n, _CHUNK):
            d = torch.cdist(self.gen[start : start + _CHUNK], self.gen)
            top = torch.topk(d, self.width, dim=1, largest=False, sorted=True)
            dists.append(top.values)
            idx.append(top.indices)
        self.nbr_dist = torch.cat(dists)
        self.nbr_idx = torch.cat(idx)
        self.ref_to_gen = torch.cat(
            [torch.cdist(ref_t[s : s + _CHUNK], self.gen) for s in range(0, self.num_ref, _CHUNK)]
        )

    def radii(self, keep: torch.Tensor) -> torch.Tensor:
        """k-NN radius of every generated image among the ``keep`` subset (inf outside it)."""
        kept = keep[self.nbr_idx]
        count = kept.cumsum(dim=1)
        need = self.k + 1
        pos = (count < need).sum(dim=1).clamp(max=self.width - 1)
        rad = self.nbr_dist.gather(1, pos[:, None]).squeeze(1)
        short = torch.nonzero(keep & (count[:, -1] < need)).flatten()
        members = self.gen[keep]
        for i in short.tolist():  # rare: fewer than k+1 subset members among its L nearest
            rad[i] = torch.cdist(self.gen[i : i + 1], members)[0].kthvalue(need).values
        return torch.where(keep, rad, torch.full_like(rad, math.inf))

    def recall(self, keep: np.ndarray | None = None) -> float:
        keep_t = (
            torch.ones(self.n, dtype=torch.bool)
            if keep is None
            else torch.from_numpy(np.asarray(keep, dtype=bool))
        )
        if int(keep_t.sum()) <= self.k:
            return NAN
        cols = torch.nonzero(keep_t).flatten()
        rad = self.radii(keep_t)[cols]
        covered = 0
        rows = max(1, (1 << 24) // max(1, cols.numel()))
        for start in range(0, self.num_ref, rows):
            block = self.ref_to_gen[start : start + rows][:, cols]
            covered += int((block <= rad).any(dim=1).sum())
        return covered / self.num_ref


def recall_interval(
    recall_value: float,
    gen: np.ndarray,
    ref: np.ndarray,
    *,
    neighborhood: int,
    resamples: int,
    seed: int,
) -> Interval:
    """Recall (torch-fidelity's ``recall_value``) with a 95% half-sampling interval.

    Unit: generated images, whose k-NN radii make the generated manifold; the reference set is
    fixed. Method: ``resamples`` random halves of the generated images (without replacement),
    recall recomputed on each with the radii recomputed among the half (:class:`RecallSubsets`);
    se from :func:`bench.metrics.uncertainty.half_sampling_se`; ``recall +/- 1.96 * se``,
    clipped to [0, 1]. Target: the expected recall of n generated images against this reference
    set. The bootstrap (with duplicates, which shrink the radii) and a Wilson interval over the
    reference images both miss it (tests/bench/test_intervals_precision_recall.py).
    """
    n = gen.shape[0]
    if n // 2 <= neighborhood or resamples < 2:
        return Interval(
            recall_value,
            NAN,
            NAN,
            f"no interval: half of the {n} generated images must exceed k={neighborhood}"
            if resamples >= 2
            else "no interval: fewer than 2 resamples asked for",
        )
    engine = RecallSubsets(gen, ref, neighborhood)
    se, r = half_sampling_se(engine.recall, n, resamples=resamples, seed=seed)
    low = max(0.0, recall_value - Z95 * se)
    high = min(1.0, recall_value + Z95 * se)
    note = (
        f"k={neighborhood} nearest neighbours; interval: half-sampling over generated images "
        f"({resamples} random halves of {r}, radii recomputed in each; delete-d jackknife), "
        f"recall +/- 1.96 * se; target: the expected recall of {n} generated images against "
        "this reference set (recall changes with n: compare only at equal n)"
    )
    return Interval(recall_value, low, high, note)


# -- Inception Score ---------------------------------------------------------------------------

# A split's IS uses that split's own estimate of the marginal p(y); with s images the plug-in
# entropy of that estimate is low by about (C_eff - 1) / (2 s) nats (Miller 1955), C_eff being
# the number of classes the generator really uses, and IS = exp(...) is low by that factor.
# IS_BIAS_BOUND caps it for a generator spread over all C classes of the extractor (C_eff <= C).
IS_BIAS_BOUND = 0.10  # at most 10% low for any generator


def isc_min_split_size(num_classes: int) -> int:
    """Smallest split for which IS is at most ``IS_BIAS_BOUND`` low (``(C - 1) / (2 s) <=
    -log(1 - bound)``): 4,779 images for Inception's 1,008 classes, 162 for the embedded
    extractor's 35, 43 for 10. Below it a split's IS measures the split size more than the
    generator (a split of s images can never score above s)."""
    return math.ceil((num_classes - 1) / (2 * -math.log1p(-IS_BIAS_BOUND)))


def isc_split_size(num_classes: int, configured: int = 0) -> int:
    """The split size for IS: ``configured`` if given, else the smallest 1-2-5 number at or
    above :func:`isc_min_split_size` (5,000 for Inception: Salimans et al.'s 10 splits of 5,000
    from 50,000 images, so the numbers compare with the literature; 200 for 35 classes)."""
    if configured:
        return int(configured)
    floor = isc_min_split_size(num_classes)
    scale = 10 ** max(0, math.floor(math.log10(max(floor, 1))))
    for step in (1, 2, 5, 10):
        if step * scale >= floor:
            return step * scale
    return 10 * scale  # pragma: no cover


def inception_score_interval(logits: np.ndarray, *, split_size: int, seed: int) -> Interval:
    """torch-fidelity's IS over ``k = n // s`` disjoint splits of exactly ``s`` generated images
    (a seeded random choice of ``k s`` of them), with a t interval over the split scores.

    Unit: splits (independent: disjoint sets of independently generated images). Method: mean
    of the k split scores ``+/- t_{k-1} * sd / sqrt(k)``. Target: the expected IS of s generated
    images (IS depends on the split size; s is fixed per extractor so runs of any n compare).
    NaN with a note when fewer than s images exist or s is below :func:`isc_min_split_size`.
    """
    _torch_fidelity()
    from torch_fidelity.metric_isc import (
        KEY_METRIC_ISC_MEAN,
        KEY_METRIC_ISC_STD,
        isc_features_to_metric,
    )

    n, num_classes = logits.shape
    s, floor = int(split_size), isc_min_split_size(num_classes)
    if s < floor:
        return Interval(
            NAN,
            NAN,
            NAN,
            f"no value: split size {s} is below the floor of {floor} images for "
            f"{num_classes} classes (a split that small measures its size, not the generator)",
        )
    k = n // s
    if k < 1:
        return Interval(
            NAN,
            NAN,
            NAN,
            f"no value: IS needs splits of {s} images ({num_classes} classes; fewer make IS "
            f"measure the split size, not the generator) and there are {n}",
        )
    chosen = np.random.default_rng(seed).permutation(n)[: k * s]  # random split membership
    out = isc_features_to_metric(
        torch.from_numpy(np.ascontiguousarray(logits[chosen])), splits=k, shuffle=False
    )
    mean, std = float(out[KEY_METRIC_ISC_MEAN]), float(out[KEY_METRIC_ISC_STD])
    unused = f", {n - k * s} images unused" if n > k * s else ""
    if k < 2:
        return Interval(
            mean,
            NAN,
            NAN,
            f"one split of {s} images{unused}; no interval (needs 2 splits, {2 * s} images); "
            f"target: the expected IS of {s} generated images",
        )
    half = t_quantile(k - 1) * std / math.sqrt(k - 1)  # numpy's std is ddof=0
    note = (
        f"mean over {k} disjoint splits of {s} images{unused}; interval: t_{k - 1} over the "
        f"split scores (split sd {std * math.sqrt(k / (k - 1)):.4g}); target: the expected IS "
        f"of {s} generated images (s fixed for {num_classes} classes)"
    )
    return Interval(mean, mean - half, mean + half, note)


# -- the registered metrics --------------------------------------------------------------------


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


def _result(ctx, interval: Interval, n: int, **extra) -> MetricResult:
    return MetricResult(
        interval.value,
        interval.low,
        interval.high,
        n,
        ctx.extractor_label(),
        notes=interval.note,
        extra=extra,
    )


@register_metric(
    "fid",
    display_name="FID",
    lower_is_better=True,
    family=FIDELITY.name,
    description="Frechet distance of feature statistics to the reference set; interval: "
    "delete-d jackknife over generated images (t), for the expected FID at this n",
)
def fid(ctx) -> MetricResult:
    gen = ctx.gen_features("fid")
    n = gen.shape[0]
    if n < 2 or ctx.num_reference() < 2:
        return _too_few(ctx, n, 2, "FID")
    out = fid_interval(
        gen, ctx.ref_stats("fid"), groups=ctx.config.fid_splits, seed=ctx.config.seed
    )
    if n < gen.shape[1]:
        out = out._replace(
            note=out.note + f"; n={n} < feature dim {gen.shape[1]}: FID is far above its "
            "large-n value at this size"
        )
    return _result(ctx, out, n, num_reference=ctx.num_reference())


@register_metric(
    "is",
    display_name="Inception Score",
    lower_is_better=False,
    family=FIDELITY.name,
    description="exp E[KL(p(y|x) || p(y))] over splits of a fixed size; interval: t over splits",
)
def inception_score(ctx) -> MetricResult:
    logits = ctx.gen_features("isc")
    s = isc_split_size(logits.shape[1], ctx.config.isc_split_size)
    out = inception_score_interval(logits, split_size=s, seed=ctx.config.seed)
    return _result(ctx, out, logits.shape[0], split_size=s, num_classes=logits.shape[1])


@register_metric(
    "kid",
    display_name="KID",
    lower_is_better=True,
    family=FIDELITY.name,
    description="unbiased MMD^2 with a cubic polynomial kernel, mean over random subsets; "
    "interval: jackknife over generated images",
)
def kid(ctx) -> MetricResult:
    gen, ref = ctx.gen_features("kid"), ctx.ref_features("kid")
    # Subsets of at most half of each set, so that they differ (KID is unbiased for any subset
    # size; only its variance depends on it).
    m = min(ctx.config.kid_subset_size, gen.shape[0] // 2, ref.shape[0] // 2)
    if m < 2:
        return _too_few(ctx, gen.shape[0], 4, "KID")
    out = kid_interval(
        gen, ref, subsets=ctx.config.kid_subsets, subset_size=m, seed=ctx.config.seed
    )
    return _result(ctx, out, gen.shape[0])


def _prc(ctx) -> tuple[float, float] | None:
    gen, ref = ctx.gen_features("prc"), ctx.ref_features("prc")
    k = ctx.config.pr_neighborhood
    if gen.shape[0] <= k or ref.shape[0] <= k:
        return None
    return ctx.memo("prc", lambda: precision_recall(generated=gen, reference=ref, neighborhood=k))


@register_metric(
    "precision",
    display_name="Precision",
    lower_is_better=False,
    family=FIDELITY.name,
    description="fraction of generated images inside the reference k-NN manifold; Wilson over "
    "generated images",
)
def precision(ctx) -> MetricResult:
    pr = _prc(ctx)
    n = ctx.gen_features("prc").shape[0]
    if pr is None:
        return _too_few(ctx, n, ctx.config.pr_neighborhood + 1, "precision")
    return _result(ctx, precision_interval(pr[0], n, ctx.config.pr_neighborhood), n)


@register_metric(
    "recall",
    display_name="Recall",
    lower_is_better=False,
    family=FIDELITY.name,
    description="fraction of reference images inside the generated k-NN manifold; "
    "half-sampling over generated images",
)
def recall(ctx) -> MetricResult:
    pr = _prc(ctx)
    gen = ctx.gen_features("prc")
    if pr is None:
        return _too_few(ctx, gen.shape[0], ctx.config.pr_neighborhood + 1, "recall")
    out = recall_interval(
        pr[1],
        gen,
        ctx.ref_features("prc"),
        neighborhood=ctx.config.pr_neighborhood,
        resamples=ctx.config.half_samples,
        seed=ctx.config.seed,
    )
    return _result(ctx, out, gen.shape[0], num_reference=ctx.num_reference())
