"""Shared pieces of the interval coverage simulations (tests/bench/test_intervals_*.py).

A coverage test draws many independent data sets from a known generator, computes the 95%
interval on each exactly as a sweep would (through the registered metric, ``METRICS[name]``,
on a stand-in for :class:`bench.metrics.context.EvalContext`), and counts how often the interval
holds the known answer. It passes when that share is in [0.90, 0.99]: below, the interval is too
narrow (the old recall interval covered about a third of the time); above, it is too wide to be
honest about the precision either. Every draw is seeded, so a run is repeatable. The figures
are printed (``pytest -s``); the fast versions run in CI, the heavy ones under ``-m slow``.
"""

from __future__ import annotations

import contextlib
import ctypes
import math
from dataclasses import replace

import numpy as np
import torch

from bench.metrics import get_metric
from bench.metrics.context import EvalConfig

COVERAGE_RANGE = (0.90, 0.99)


class SimContext:
    """What a metric sees of one run, for simulated features (see EvalContext)."""

    def __init__(self, config: EvalConfig, *, gen=None, ref=None, logits=None, scores=None):
        self.config = config
        self._gen, self._ref, self._logits = gen, ref, logits
        self._scores = scores
        self._memo: dict = {}

    def memo(self, name, fn):
        if name not in self._memo:
            self._memo[name] = fn()
        return self._memo[name]

    def extractor_label(self) -> str:
        return "simulated features"

    def gen_features(self, metric: str) -> np.ndarray:
        return self._logits if metric == "isc" else self._gen

    def ref_features(self, metric: str) -> np.ndarray:
        return self._ref

    def num_reference(self) -> int:
        return 0 if self._ref is None else len(self._ref)

    def ref_stats(self, metric: str):
        from bench.metrics.fidelity_metrics import feature_statistics

        return self.memo("ref_stats", lambda: feature_statistics(self._ref))

    # per-image metrics
    def clip_label(self) -> str:
        return "simulated CLIP"

    def clip_scores(self) -> np.ndarray:
        return self._scores

    def classifier_label(self) -> str:
        return "simulated classifier"

    def attribute_scores(self) -> np.ndarray:
        return self._scores

    def caption_matches(self) -> np.ndarray:
        return self._scores


def config(**fields) -> EvalConfig:
    """An EvalConfig with the given fields (only those this version of EvalConfig has)."""
    base = EvalConfig(metrics=())
    return replace(base, **{k: v for k, v in fields.items() if hasattr(base, k)})


def run_metric(name: str, ctx: SimContext):
    return get_metric(name).compute(ctx)


def coverage(results, truth: float) -> tuple[float, float]:
    """Share of intervals holding ``truth`` and their mean width (NaN intervals count as misses)."""
    hits = [r.ci_low <= truth <= r.ci_high for r in results]
    widths = [r.ci_high - r.ci_low for r in results]
    return float(np.mean(hits)), float(np.mean(widths))


def report(label: str, cov: float, width: float, draws: int, truth: float, sd: float) -> str:
    se = math.sqrt(cov * (1 - cov) / draws) if 0 < cov < 1 else 0.0
    line = (
        f"[coverage] {label}: {cov:.3f} (+/- {se:.3f}) of {draws} draws; target {truth:.4g}, "
        f"estimator sd {sd:.3g}, mean interval width {width:.3g} (ideal {2 * 1.96 * sd:.3g})"
    )
    print(line)
    return line


def assert_coverage(cov: float, line: str) -> None:
    low, high = COVERAGE_RANGE
    assert low <= cov <= high, f"95% interval coverage outside [{low}, {high}]: {line}"


_BLAS_THREADS = (  # (get, set) of the OpenBLAS builds that numpy and scipy load
    ("scipy_openblas_get_num_threads64_", "scipy_openblas_set_num_threads64_"),
    ("scipy_openblas_get_num_threads", "scipy_openblas_set_num_threads"),
    ("openblas_get_num_threads64_", "openblas_set_num_threads64_"),
    ("openblas_get_num_threads", "openblas_set_num_threads"),
)


def _openblas_thread_setters() -> list[tuple]:
    """(set function, current thread count) of each OpenBLAS loaded in this process (Linux;
    elsewhere none): what threadpoolctl does, without the dependency."""
    try:
        with open("/proc/self/maps", encoding="utf-8") as maps:
            paths = {line.split()[-1] for line in maps if "openblas" in line.lower()}
    except OSError:
        return []
    out = []
    for path in sorted(paths):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for get, set_ in _BLAS_THREADS:
            if hasattr(lib, get) and hasattr(lib, set_):
                out.append((getattr(lib, set_), int(getattr(lib, get)())))
                break
    return out


@contextlib.contextmanager
def one_thread():
    """Small matrices: one thread (torch and OpenBLAS) is many times faster than several
    fighting over a busy CPU (a 64 x 64 FID took 40 ms with OpenBLAS's threads, 2 ms without)."""
    before = torch.get_num_threads()
    blas = _openblas_thread_setters()
    torch.set_num_threads(1)
    for set_threads, _ in blas:
        set_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
        for set_threads, count in blas:
            set_threads(count)
