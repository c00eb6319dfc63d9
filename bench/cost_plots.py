"""Quality against cost: frontier plots with seconds per image on the x axis (issue 24).

From a results table (its cost columns, :mod:`bench.results`): one point per run, x its measured
seconds per image, y a quality metric with its interval; one line per method and guidance
interval (points labelled with the scale), the runs on the quality-vs-cost Pareto front ringed.
``bench.sampler_quality`` draws the same plot over samplers, steps and intervals
(:func:`plot_quality_vs_cost`). Runs without a cost (the real-images run, tables of older
sweeps) are left out. Written as PNG and SVG with matplotlib's Agg backend.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from bench.pareto import pareto_front
from bench.plots import OTHER_COLORS, OTHER_MARKERS, REAL_METHOD, STYLE, _err, save_figure
from bench.spec import format_scale

#: (plot name, metric): each drawn when the table has the metric and costs.
COST_PLOTS = (
    ("frontier_fid_cost", "fid"),
    ("frontier_caption_match_cost", "caption_match"),
    ("frontier_clip_score_cost", "clip_score"),
)
COST_AXIS = "seconds_per_image"


def cost_points(table: pd.DataFrame, metric: str) -> pd.DataFrame:
    """``series, point, x, y, y_low, y_high`` per run with a cost and a value of ``metric``:
    series = method (with its guidance interval), point = the scale."""
    if COST_AXIS not in table.columns:
        return pd.DataFrame(columns=["series", "point", "x", "y", "y_low", "y_high"])
    rows = table[(table["metric"] == metric) & (table["method"].astype(str) != REAL_METHOD)]
    rows = rows[rows["value"].notna() & rows[COST_AXIS].notna()]
    interval = (
        rows["guidance_interval"].fillna("").astype(str)
        if "guidance_interval" in rows.columns
        else pd.Series("", index=rows.index)
    )
    series = rows["method"].astype(str) + interval.map(lambda i: f" sigma[{i}]" if i else "")
    return pd.DataFrame(
        {
            "series": series,
            "point": rows["scale"].map(format_scale),
            "x": rows[COST_AXIS].astype(float),
            "y": rows["value"].astype(float),
            "y_low": rows["ci_low"].astype(float),
            "y_high": rows["ci_high"].astype(float),
        }
    ).reset_index(drop=True)


def plot_quality_vs_cost(
    points: pd.DataFrame,
    *,
    y_label: str,
    lower_is_better: bool,
    title: str,
    path_stem: Path,
    x_label: str = "seconds per image (measured; lower is better)",
) -> list[Path]:
    """Draw ``points`` (:func:`cost_points`' columns) to ``path_stem``.png/.svg; [] if empty."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    if points.empty:
        return []
    front = pareto_front(
        points[["x", "y"]].to_numpy(), ["min", "min" if lower_is_better else "max"]
    )
    fig, ax = plt.subplots(figsize=(6.4, 4.8), dpi=150)
    for k, (series, group) in enumerate(points.groupby("series", sort=True)):
        base = str(series).split(" ")[0]
        color, marker, name = STYLE.get(base, (None, None, None))
        if color is None or base != series:
            color, marker = (
                OTHER_COLORS[k % len(OTHER_COLORS)],
                OTHER_MARKERS[k % len(OTHER_MARKERS)],
            )
            name = str(series)
        group = group.sort_values("x")
        x, y = group["x"].to_numpy(), group["y"].to_numpy()
        ax.errorbar(
            x, y, yerr=_err(y, group["y_low"].to_numpy(), group["y_high"].to_numpy()),
            color=color, marker=marker, linestyle="-", linewidth=1.0, markersize=6,
            elinewidth=0.7, capsize=2, alpha=0.9, label=name,
        )  # fmt: skip
        for xi, yi, label in zip(x, y, group["point"], strict=True):
            ax.annotate(str(label), (xi, yi), textcoords="offset points", xytext=(5, 4),
                        fontsize=7, color=color)  # fmt: skip
    on_front = points[front]
    ax.scatter(on_front["x"], on_front["y"], s=180, facecolors="none", edgecolors="black",
               linewidths=1.3, label="non-dominated", zorder=5)  # fmt: skip
    ax.set_xlabel(x_label)
    ax.set_ylabel(y_label)
    ax.set_title(title, fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    return save_figure(fig, Path(path_stem))


def plot_cost_frontiers(
    table: pd.DataFrame, out_dir: Path, subtitle: str = ""
) -> dict[str, list[Path]]:
    """The quality-vs-cost plots of a sweep's table into ``out_dir``; a plot whose metric or
    costs are absent maps to []."""
    out: dict[str, list[Path]] = {}
    for name, metric in COST_PLOTS:
        points = cost_points(table, metric)
        if points.empty:
            out[name] = []
            continue
        row = table[table["metric"] == metric].iloc[0]
        lower = bool(row["lower_is_better"])
        better = "lower is better" if lower else "higher is better"
        out[name] = plot_quality_vs_cost(
            points,
            y_label=f"{row['display_name']} ({better})",
            lower_is_better=lower,
            title=f"{row['display_name']} vs cost" + (f"\n{subtitle}" if subtitle else ""),
            path_stem=Path(out_dir) / name,
        )
    return out


__all__ = ["COST_PLOTS", "cost_points", "plot_cost_frontiers", "plot_quality_vs_cost"]
