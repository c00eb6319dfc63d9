"""The tidy results table: one row per (run, metric), written as CSV and Parquet.

Columns (CONTRACTS.md "Results table"): run_id, method, scale, label, metric, display_name,
value, ci_low, ci_high, n, lower_is_better, extractor, resize, notes (``resize``: how the fidelity
extractor's inputs were resized, empty for the other metrics), then the run's guidance interval
and cost (:data:`RUN_COLUMNS`, CONTRACTS.md "Results table": ``guidance_interval``, network
evaluations and seconds per image from :mod:`bench.cost`; NaN where a run has no cost record,
e.g. the real-images run). ``value`` may be NaN only with a note saying why. All fidelity
metrics in one table come from one feature extractor
(checked here).
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from bench.cost import RunCost
from bench.metrics.registry import METRICS, MetricResult
from bench.spec import RunSpec, format_interval
from glide.io import atomic_write_bytes

COLUMNS = [
    "run_id",
    "method",
    "scale",
    "label",
    "metric",
    "display_name",
    "value",
    "ci_low",
    "ci_high",
    "n",
    "lower_is_better",
    "extractor",
    "resize",
    "notes",
]
#: Per-run columns after :data:`COLUMNS` (issue 24): written by :func:`build_table`; readers of
#: older tables, which lack them, need only COLUMNS.
RUN_COLUMNS = [
    "guidance_interval",
    "evaluations_per_image",
    "clip_gradients_per_image",
    "seconds_per_image",
    "images_per_second",
    "cost_device",
    "cost_dtype",
]


def _run_values(spec: RunSpec, cost: RunCost | None) -> dict[str, object]:
    nan = float("nan")
    interval = getattr(spec, "guidance_interval", None)  # the real-images run has none
    return {
        "guidance_interval": format_interval(interval),
        "evaluations_per_image": nan if cost is None else float(cost.evaluations_per_image),
        "clip_gradients_per_image": nan if cost is None else float(cost.clip_gradients_per_image),
        "seconds_per_image": nan if cost is None else float(cost.seconds_per_image),
        "images_per_second": nan if cost is None else float(cost.images_per_second),
        "cost_device": "" if cost is None else cost.device,
        "cost_dtype": "" if cost is None else cost.dtype,
    }


def build_table(
    runs: Sequence[tuple[RunSpec, Mapping[str, MetricResult]]],
    costs: Mapping[str, RunCost | None] | None = None,
) -> pd.DataFrame:
    """Rows for every run and metric, sorted by method, scale, guidance interval and metric
    order; ``costs`` (run id -> its ``cost.json``) fills the cost columns (NaN without)."""
    rows = []
    for spec, results in runs:
        per_run = _run_values(spec, (costs or {}).get(spec.run_id))
        for name, result in results.items():
            metric = METRICS[name]
            if math.isnan(result.value) and not result.notes:
                raise AssertionError(f"{spec.label} {name}: NaN without a note")
            rows.append(
                {
                    "run_id": spec.run_id,
                    "method": spec.method,
                    "scale": spec.scale,
                    "label": spec.label,
                    "metric": name,
                    "display_name": metric.display_name,
                    "value": float(result.value),
                    "ci_low": float(result.ci_low),
                    "ci_high": float(result.ci_high),
                    "n": int(result.n),
                    "lower_is_better": bool(metric.lower_is_better),
                    "extractor": result.extractor,
                    "resize": str(result.extra.get("resize", "")),
                    "notes": result.notes,
                    **per_run,
                }
            )
    table = pd.DataFrame(rows, columns=COLUMNS + RUN_COLUMNS)
    fidelity = table[table["metric"].map(lambda m: METRICS[m].family_spec.one_extractor_per_table)]
    extractors = sorted(set(fidelity["extractor"]))
    if len(extractors) > 1:
        raise AssertionError(f"one table mixes feature extractors {extractors}")
    order = {name: i for i, name in enumerate(METRICS)}
    table = table.assign(_order=table["metric"].map(order))
    table = table.sort_values(
        ["method", "scale", "guidance_interval", "_order"], kind="stable"
    ).drop(columns="_order")
    return table.reset_index(drop=True).astype(
        {
            "scale": "float64",
            "value": "float64",
            "ci_low": "float64",
            "ci_high": "float64",
            "n": "int64",
            "lower_is_better": "bool",
            "evaluations_per_image": "float64",
            "clip_gradients_per_image": "float64",
            "seconds_per_image": "float64",
            "images_per_second": "float64",
        }
    )


def write_table(table: pd.DataFrame, out_dir: Path) -> tuple[Path, Path]:
    """Write ``results.csv`` and ``results.parquet`` atomically; returns their paths."""
    out_dir = Path(out_dir)
    csv_path, parquet_path = out_dir / "results.csv", out_dir / "results.parquet"
    atomic_write_bytes(csv_path, table.to_csv(index=False).encode("utf-8"))
    buffer = io.BytesIO()
    table.to_parquet(buffer, index=False)
    atomic_write_bytes(parquet_path, buffer.getvalue())
    return csv_path, parquet_path


def wide(table: pd.DataFrame) -> pd.DataFrame:
    """One row per run (method, scale, label) with a column per metric value (the label
    tells guidance intervals apart)."""
    return (
        table.pivot_table(
            index=["method", "scale", "label"], columns="metric", values="value", dropna=False
        )
        .reset_index()
        .rename_axis(columns=None)
    )
