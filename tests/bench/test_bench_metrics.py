"""Metrics: FID against torch-fidelity, precision/recall orientation, intervals, registry."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
import torch

from bench.errors import BenchError
from bench.images import write_png
from bench.metrics import METRICS, get_metric, metric_names, register_metric
from bench.metrics.context import EvalConfig, Evaluator
from bench.metrics.fidelity import FeatureExtractor, resolve_extractor
from bench.metrics.fidelity_metrics import feature_statistics, frechet_distance, precision_recall
from bench.metrics.uncertainty import (
    bootstrap_mean_interval,
    delete_d_variance,
    grouped_jackknife_se,
    half_sampling_se,
    paired_comparison,
    wilson_interval,
)


def _images(seed: int, n: int, size: int = 32, shift: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 200, size=(n, size, size, 3)).astype(np.int64) + shift
    return np.clip(x, 0, 255).astype(np.uint8)


class _Set(torch.utils.data.Dataset):
    def __init__(self, images: np.ndarray):
        self.images = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return self.images[i]


def test_fid_matches_torch_fidelity_and_self_is_zero(test_extractor):
    import torch_fidelity

    a, b = _images(0, 40), _images(1, 40, shift=40)
    spec = resolve_extractor(test_extractor)
    extractor = FeatureExtractor(spec)
    fa = extractor.features(iter([a[:16], a[16:]]), total=40)  # batch split must not matter
    fb = extractor.features(iter([b]), total=40)
    layer = spec.layer("fid")
    ours = frechet_distance(feature_statistics(fa[layer]), feature_statistics(fb[layer]))
    direct = torch_fidelity.calculate_metrics(
        input1=_Set(a),
        input2=_Set(b),
        fid=True,
        isc=True,
        kid=True,
        prc=True,
        feature_extractor=test_extractor,
        cuda=False,
        verbose=False,
        cache=False,
        save_cpu_ram=True,
        batch_size=7,
        kid_subset_size=20,
        isc_splits=4,
    )
    assert ours > 0.01
    assert ours == pytest.approx(direct["frechet_inception_distance"], rel=1e-4, abs=1e-6)
    self_fid = frechet_distance(feature_statistics(fa[layer]), feature_statistics(fa[layer]))
    assert abs(self_fid) < 1e-5
    p, r = precision_recall(generated=fa[layer], reference=fb[layer])
    assert (p, r) == pytest.approx((direct["precision"], direct["recall"]))


def test_precision_recall_orientation():
    """A mode-collapsed generator: all its samples are realistic (precision ~1) but it covers
    little of the real distribution (recall low). Swapping the inputs would swap the two."""
    rng = np.random.default_rng(0)
    real = rng.normal(size=(400, 8)).astype(np.float32)
    collapsed = (0.15 * rng.normal(size=(200, 8))).astype(np.float32)
    p, r = precision_recall(generated=collapsed, reference=real)
    assert p > 0.9 and r < 0.3
    p_swapped, r_swapped = precision_recall(generated=real, reference=collapsed)
    assert p_swapped < 0.3 and r_swapped > 0.9


def test_wilson_interval_known_values():
    low, high = wilson_interval(5, 10)
    assert (low, high) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    low, high = wilson_interval(0, 10)
    assert low == 0.0 and high == pytest.approx(0.2775, abs=1e-4)
    assert wilson_interval(10, 10)[1] == pytest.approx(1.0)
    for n in (7, 24, 48, 1000):  # exact bounds at the ends, no rounding dust (0/48 gave 7e-18)
        assert wilson_interval(0, n)[0] == 0.0 and wilson_interval(n, n)[1] == 1.0
    assert all(math.isnan(v) for v in wilson_interval(0, 0))


def test_paired_comparison_mcnemar_exact_and_pairing():
    # 10 discordant pairs, 8 for `other`: p = 2 * (C(10,0) + C(10,1) + C(10,2)) / 2**10
    base = np.array([0] * 8 + [1] * 2 + [1] * 20 + [0] * 10, dtype=bool)
    other = np.array([1] * 8 + [0] * 2 + [1] * 20 + [0] * 10, dtype=bool)
    out = paired_comparison(base, other)
    assert (out["better"], out["worse"], out["n"]) == (8, 2, 40)
    assert out["mcnemar_p"] == pytest.approx(2 * (1 + 10 + 45) / 1024)
    assert out["difference"] == pytest.approx(6 / 40)
    assert out["difference_low"] <= out["difference"] <= out["difference_high"]
    # the interval is of the paired difference: identical outcomes give exactly 0, p = 1
    same = paired_comparison(base, base)
    assert same["difference_low"] == same["difference_high"] == 0.0 and same["mcnemar_p"] == 1.0
    # swapping the roles mirrors the difference, keeps the p-value
    back = paired_comparison(other, base)
    assert back["difference"] == -out["difference"] and back["mcnemar_p"] == out["mcnemar_p"]
    with pytest.raises(ValueError, match="same non-zero length"):
        paired_comparison(base, other[:-1])
    with pytest.raises(ValueError, match="0/1"):
        paired_comparison(base, other * 2)


def test_bootstrap_interval_covers_mean_and_is_seeded():
    x = np.random.default_rng(1).normal(30.0, 2.0, size=200)
    low, high = bootstrap_mean_interval(x, seed=3)
    assert low < x.mean() < high and high - low < 1.0
    assert (low, high) == bootstrap_mean_interval(x, seed=3)
    with pytest.raises(ValueError, match="NaN"):
        bootstrap_mean_interval([1.0, float("nan")])


def test_jackknife_variances_of_a_mean_are_the_textbook_ones():
    """For the mean, the delete-1 jackknife variance is s^2 / n exactly; delete-d over equal
    groups and half-sampling estimate the same thing (the FID, KID and recall intervals)."""
    x = np.random.default_rng(2).normal(5.0, 2.0, size=60)
    textbook = x.var(ddof=1) / x.size
    leave_one_out = [np.delete(x, i).mean() for i in range(x.size)]
    assert delete_d_variance(leave_one_out, x.size, 1) == pytest.approx(textbook)
    se, g, d = grouped_jackknife_se(lambda keep: x[keep].mean(), x.size, groups=20, seed=0)
    assert (g, d) == (20, 3) and se**2 == pytest.approx(textbook, rel=0.5)
    se, r = half_sampling_se(lambda keep: x[keep].mean(), x.size, resamples=400, seed=0)
    assert r == 30 and se**2 == pytest.approx(textbook, rel=0.25)
    assert math.isnan(grouped_jackknife_se(np.mean, 1, groups=20, seed=0)[0])


def test_registry_declares_and_refuses_duplicates():
    names = metric_names()
    assert {"fid", "is", "kid", "precision", "recall", "clip_score", "caption_match"} <= set(names)
    for name in names:
        metric = METRICS[name]
        assert metric.display_name and isinstance(metric.lower_is_better, bool)
    assert METRICS["fid"].lower_is_better and not METRICS["clip_score"].lower_is_better
    with pytest.raises(KeyError, match="already registered"):
        register_metric(
            "fid", display_name="x", lower_is_better=True, family="fidelity", description="x"
        )(lambda ctx: None)
    with pytest.raises(BenchError, match="unknown metric 'fdi'.*fid"):
        get_metric("fdi")


def test_families_are_registered_and_refuse_duplicates():
    from bench.metrics import FAMILIES, Family, get_family, register_family

    assert list(FAMILIES) == ["fidelity", "clip", "caption_match"]
    for name in metric_names():
        assert METRICS[name].family_spec is FAMILIES[METRICS[name].family]
    assert get_metric("caption_match").family_spec.fits_captions("synthetic")
    assert not get_metric("caption_match").family_spec.fits_captions("coco")
    assert get_metric("fid").family_spec.one_extractor_per_table
    with pytest.raises(KeyError, match="already registered"):
        register_family(FAMILIES["clip"])
    with pytest.raises(BenchError, match="'nope'.*fidelity"):
        get_family("nope")
    with pytest.raises(ValueError, match="judge 'eyes'"):
        Family("x", "eyes", key=dict, check=print, describe=dict)
    with pytest.raises(ValueError, match="family 'nope'"):
        register_metric(
            "new", display_name="x", lower_is_better=True, family="nope", description="x"
        )


def test_unknown_extractor_is_refused():
    with pytest.raises(BenchError, match="--extractor: 'nope'"):
        resolve_extractor("nope")
    with pytest.raises(BenchError, match="--inception-weights"):
        resolve_extractor("auto", inception_weights="/no/such/file.pth")


def test_reference_features_are_cached_by_content(tmp_path, test_extractor, monkeypatch):
    paths = []
    for i, image in enumerate(_images(2, 12)):
        paths.append(tmp_path / "ref" / f"{i}.png")
        write_png(paths[-1], image)
    config = EvalConfig(metrics=("fid",), extractor=test_extractor, cache_dir=tmp_path / "cache")

    def evaluator(resolution=32):
        return Evaluator(config, reference_paths=paths, resolution=resolution, caption_kind="coco")

    first = evaluator().reference_features()
    key = evaluator().reference_key()
    assert (tmp_path / "cache" / "reference" / f"{key}.npz").is_file()

    def fail(*args, **kwargs):
        raise AssertionError("recomputed a cached reference")

    monkeypatch.setattr(FeatureExtractor, "features", fail)
    again = evaluator().reference_features()
    assert all(np.array_equal(first[k], again[k]) for k in first)
    assert evaluator(resolution=64).reference_key() != key
    write_png(paths[0], _images(9, 1)[0])
    os.utime(paths[0], ns=(1, 1))
    assert evaluator().reference_key() != key


def test_caption_match_needs_synthetic_captions(tmp_path):
    with pytest.raises(BenchError, match="caption_match.*synthetic"):
        Evaluator(
            EvalConfig(metrics=("caption_match",)),
            reference_paths=[],
            resolution=64,
            caption_kind="coco",
        )
