"""Pareto plots from a results table, including intervals that are NaN."""

from __future__ import annotations

import math

import pandas as pd

from bench.plots import plot_all
from bench.results import COLUMNS


def _row(method, scale, metric, value, lower, low=math.nan, high=math.nan):
    return dict(
        run_id=f"{method}{scale}", method=method, scale=scale, label=f"{method}@{scale:g}",
        metric=metric, display_name=metric.upper(), value=value, ci_low=low, ci_high=high, n=8,
        lower_is_better=lower, extractor="x", resize="",
        notes="no interval" if math.isnan(low) else "",
    )  # fmt: skip


def test_plots_with_missing_intervals_and_metrics(tmp_path):
    rows = []
    for method in ("cfg", "clip"):
        for scale in (1.0, 2.0, 3.0):
            rows.append(_row(method, scale, "fid", 10 + scale, True))  # no interval at all
            rows.append(_row(method, scale, "is", 2 * scale, False, 2 * scale - 1, 2 * scale + 1))
    table = pd.DataFrame(rows, columns=COLUMNS)
    written = plot_all(table, tmp_path, "subtitle")
    assert [p.suffix for p in written["pareto_is_fid"]] == [".png", ".svg"]
    assert all(p.stat().st_size > 1000 for p in written["pareto_is_fid"])
    assert written["pareto_pr"] == [] and written["pareto_clip_fid"] == []
