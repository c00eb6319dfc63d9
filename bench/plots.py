"""Pareto-frontier plots like the paper's figure 6, from the results table only.

Three plots: precision vs recall, IS vs FID, CLIP score vs FID. Both guidance methods are
overlaid (a line through each method's points in scale order; in a table of several
generators, its ``generator`` column names the legend entries "<generator> <method>"), every
point is labelled with its scale, error bars show the intervals, and points on the joint
Pareto front (across methods) are ringed. Written as PNG and SVG with matplotlib's Agg backend.

The real-data floor (rows of ``method == "real"``: held-out real images scored like a run, see
:data:`REAL_METHOD`) is drawn as one black star with its intervals, never joined by a line and
never part of the Pareto front: it is the yardstick, not a competitor.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bench.pareto import pareto_front
from bench.spec import format_scale
from glide.io import atomic_write_bytes


@dataclass(frozen=True)
class PlotSpec:
    name: str
    x: str
    y: str
    title: str


PLOTS = (
    PlotSpec("pareto_pr", "recall", "precision", "Precision vs recall"),
    PlotSpec("pareto_is_fid", "fid", "is", "Inception Score vs FID"),
    PlotSpec("pareto_clip_fid", "fid", "clip_score", "CLIP score vs FID"),
)
STYLE = {"cfg": ("tab:blue", "o", "classifier-free"), "clip": ("tab:orange", "s", "CLIP guidance")}
#: Colours and markers for other methods (e.g. "<sweep>/cfg" in a comparison), in sorted order.
OTHER_COLORS = ("tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink", "tab:olive")
OTHER_MARKERS = ("^", "D", "v", "P", "X", "<")
#: The method of the real-images run (the floor a perfect generator would score at this n).
REAL_METHOD = "real"
REAL_LABEL = "real images"


def method_styles(
    methods: list[str], generators: Mapping[str, str] | None = None
) -> dict[str, tuple[str, str, str]]:
    """(colour, marker, legend name) per method: the fixed ones for cfg/clip, others in turn.

    ``generators`` (method -> generator name, for tables of several generators) names each
    legend entry ``"<generator> <method name>"`` (``tiny-sd classifier-free``), with the
    method's prefix (a compared sweep's name) in brackets where it is not the generator's."""
    out: dict[str, tuple[str, str, str]] = {}
    others = [m for m in sorted(methods) if m not in STYLE or generators]
    for method in methods:
        prefix, _, base = method.rpartition("/")
        base_name = STYLE[base][2] if base in STYLE else base
        if generators and method in generators:
            gen = generators[method]
            name = f"{gen} {base_name}" if prefix in ("", gen) else f"{gen} ({prefix}) {base_name}"
        elif method in STYLE:
            out[method] = STYLE[method]
            continue
        else:
            name = f"{prefix}: {base_name}" if prefix else method
        k = others.index(method)
        out[method] = (
            OTHER_COLORS[k % len(OTHER_COLORS)],
            OTHER_MARKERS[k % len(OTHER_MARKERS)],
            name,
        )
    return out


def generators_of(table: pd.DataFrame) -> dict[str, str] | None:
    """method -> generator name where the table holds runs of several generators (its
    ``generator`` column, written by comparisons of sweeps); None for one generator."""
    if "generator" not in table.columns:
        return None
    generated, _ = split_real(table)
    pairs = generated[["method", "generator"]].drop_duplicates()
    if pairs["generator"].nunique() < 2:
        return None
    return {str(m): str(g) for m, g in zip(pairs["method"], pairs["generator"], strict=True)}


def split_real(table: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(generated rows, real-images rows) of a results table."""
    real = table["method"].astype(str) == REAL_METHOD
    return table[~real], table[real]


def _real_point(table: pd.DataFrame, plot: PlotSpec) -> dict[str, float] | None:
    """The real-images run's coordinates and intervals on one plot; None when it lacks one."""
    _, real = split_real(table)
    out: dict[str, float] = {}
    for axis, metric in (("x", plot.x), ("y", plot.y)):
        rows = real[(real["metric"] == metric) & real["value"].notna()]
        if rows.empty:
            return None
        row = rows.iloc[0]
        out[axis] = float(row["value"])
        out[f"{axis}_low"], out[f"{axis}_high"] = float(row["ci_low"]), float(row["ci_high"])
    return out


def _points(table: pd.DataFrame, plot: PlotSpec) -> pd.DataFrame | None:
    """Generated runs only (the real-images run is not a point of any method's line)."""
    table, _ = split_real(table)
    rows = table[table["metric"].isin([plot.x, plot.y])]
    if rows.empty or not {plot.x, plot.y} <= set(rows["metric"]):
        return None

    def pivot(column: str) -> pd.DataFrame:  # keep all-NaN columns (e.g. no FID interval)
        wide = rows.pivot_table(
            index=["method", "scale"], columns="metric", values=column, dropna=False
        )
        return wide.reindex(columns=[plot.x, plot.y])

    value, low, high = pivot("value"), pivot("ci_low"), pivot("ci_high")
    out = pd.DataFrame(
        {
            "x": value[plot.x],
            "y": value[plot.y],
            "x_low": low[plot.x],
            "x_high": high[plot.x],
            "y_low": low[plot.y],
            "y_high": high[plot.y],
        }
    ).reset_index()
    return out.dropna(subset=["x", "y"])


def _axis_label(table: pd.DataFrame, metric: str) -> str:
    row = table[table["metric"] == metric].iloc[0]
    better = "lower is better" if row["lower_is_better"] else "higher is better"
    return f"{row['display_name']} ({better})"


def _err(values: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray | None:
    lo, hi = values - low, high - values
    if not (np.isfinite(lo).any() or np.isfinite(hi).any()):
        return None
    return np.vstack(
        [np.nan_to_num(np.maximum(lo, 0), nan=0.0), np.nan_to_num(np.maximum(hi, 0), nan=0.0)]
    )


def plot_pareto(
    table: pd.DataFrame, plot: PlotSpec, out_dir: Path, subtitle: str = ""
) -> list[Path]:
    """Draw one plot; returns the written files ([] when a metric is missing)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    points = _points(table, plot)
    if points is None or points.empty:
        return []
    lower = dict(zip(table["metric"], table["lower_is_better"], strict=False))
    directions = ["min" if lower[plot.x] else "max", "min" if lower[plot.y] else "max"]
    front = pareto_front(points[["x", "y"]].to_numpy(), directions)

    styles = method_styles(sorted(points["method"].astype(str).unique()), generators_of(table))
    fig, ax = plt.subplots(figsize=(6.4, 4.8), dpi=150)
    for method, group in points.groupby("method", sort=True):
        color, marker, name = styles[str(method)]
        group = group.sort_values("scale")
        x, y = group["x"].to_numpy(), group["y"].to_numpy()
        ax.errorbar(
            x,
            y,
            xerr=_err(x, group["x_low"].to_numpy(), group["x_high"].to_numpy()),
            yerr=_err(y, group["y_low"].to_numpy(), group["y_high"].to_numpy()),
            color=color,
            marker=marker,
            linestyle="-",
            linewidth=1.2,
            markersize=6,
            elinewidth=0.7,
            capsize=2,
            alpha=0.9,
            label=name,
        )
        for xi, yi, scale in zip(x, y, group["scale"], strict=True):
            ax.annotate(
                format_scale(scale),
                (xi, yi),
                textcoords="offset points",
                xytext=(5, 4),
                fontsize=8,
                color=color,
            )
    on_front = points[front]
    ax.scatter(
        on_front["x"],
        on_front["y"],
        s=180,
        facecolors="none",
        edgecolors="black",
        linewidths=1.3,
        label="non-dominated",
        zorder=5,
    )
    real = _real_point(table, plot)
    if real is not None:
        rx, ry = np.array([real["x"]]), np.array([real["y"]])
        ax.errorbar(
            rx,
            ry,
            xerr=_err(rx, np.array([real["x_low"]]), np.array([real["x_high"]])),
            yerr=_err(ry, np.array([real["y_low"]]), np.array([real["y_high"]])),
            color="black",
            marker="*",
            markersize=13,
            linestyle="none",
            elinewidth=0.8,
            capsize=2,
            label=f"{REAL_LABEL} (floor)",
            zorder=6,
        )
    ax.set_xlabel(_axis_label(table, plot.x))
    ax.set_ylabel(_axis_label(table, plot.y))
    ax.set_title(plot.title + (f"\n{subtitle}" if subtitle else ""), fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    return save_figure(fig, Path(out_dir) / plot.name)


def save_figure(fig, stem: Path) -> list[Path]:
    """Write ``fig`` as ``<stem>.png`` and ``<stem>.svg`` (each atomically), close it, and return
    the paths."""
    import matplotlib.pyplot as plt

    written = []
    for ext in ("png", "svg"):
        buffer = io.BytesIO()
        fig.savefig(buffer, format=ext)
        path = Path(f"{stem}.{ext}")
        atomic_write_bytes(path, buffer.getvalue())
        written.append(path)
    plt.close(fig)
    return written


def series_method(method: str, interval: str) -> str:
    """The series of a run: its method, with its guidance interval when it has one
    (``"cfg sigma[0.28,5.42]"``); a method that already names its interval is kept as is."""
    suffix = f" sigma[{interval}]" if interval else ""
    return method if not suffix or method.endswith(suffix) else method + suffix


def with_interval_methods(table: pd.DataFrame) -> pd.DataFrame:
    """Runs with a guidance interval (the results table's ``guidance_interval`` column) as
    methods of their own, ``"cfg sigma[0.28,5.42]"``: their own line and legend entry, never
    averaged with the full-range runs of the same scale. Idempotent."""
    if "guidance_interval" not in table.columns:
        return table
    interval = table["guidance_interval"].fillna("").astype(str)
    if not (interval != "").any():
        return table
    methods = [
        series_method(m, i) for m, i in zip(table["method"].astype(str), interval, strict=True)
    ]
    return table.assign(method=methods)


def plot_all(table: pd.DataFrame, out_dir: Path, subtitle: str = "") -> dict[str, list[Path]]:
    """All three plots into ``out_dir``; a plot whose metrics are absent maps to []. Runs with
    a guidance interval are lines of their own (:func:`with_interval_methods`)."""
    table = with_interval_methods(table)
    return {plot.name: plot_pareto(table, plot, out_dir, subtitle) for plot in PLOTS}
