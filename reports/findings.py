"""Findings computed from the numbers: Pareto dominance, saturation, best scales.

Every sentence here is produced from the results (and ratings) tables by a stated rule; nothing
is hand-written about a particular sweep. Rules:

- Dominance (per plot): point ``a`` dominates ``b`` when it is at least as good on both axes
  and strictly better on one. Method A is *Pareto-better* than B on a plot when every point of
  B is dominated by some point of A. Point estimates only; the intervals are in the table.
- Saturation (caption match, CLIP score): the smallest scale whose value reaches
  ``SATURATION_FRACTION`` of the metric's total gain over the swept scales (best value minus the
  value at the lowest scale). When that is the largest scale swept, the metric has not
  saturated within the sweep.
- Best scale (FID, ratings): the best point estimate; other scales whose intervals overlap its
  interval are named, as the data cannot tell them apart.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from reports.numbers import decimals_for, fmt, interval_text, is_number, scale_text
from reports.results_view import MetricInfo, ResultsView, RunKey, method_name

SATURATION_FRACTION = 0.95


@dataclass(frozen=True)
class PlotAxes:
    name: str
    title: str
    x: str
    y: str


PLOTS = (
    PlotAxes("pareto_pr", "Precision vs recall", "recall", "precision"),
    PlotAxes("pareto_is_fid", "Inception Score vs FID", "fid", "is"),
    PlotAxes("pareto_clip_fid", "CLIP score vs FID", "fid", "clip_score"),
)


def dominates(a: tuple[float, float], b: tuple[float, float], lower: tuple[bool, bool]) -> bool:
    """True when ``a`` is at least as good as ``b`` on both axes and better on one."""
    sign = np.array([-1.0 if lo else 1.0 for lo in lower])
    ga, gb = np.asarray(a) * sign, np.asarray(b) * sign
    return bool((ga >= gb).all() and (ga > gb).any())


@dataclass(frozen=True)
class Dominance:
    """Dominance between the methods on one plot."""

    plot: PlotAxes
    points: dict[str, list[tuple[RunKey, tuple[float, float]]]]  # method -> points
    dominated: dict[tuple[str, str], int]  # (better, worse) -> points of worse dominated
    better: str | None  # the Pareto-better method, if one is
    front: tuple[RunKey, ...]  # the joint non-dominated set
    left_out: tuple[RunKey, ...]  # runs missing a coordinate


def compare_methods(view: ResultsView, plot: PlotAxes) -> Dominance | None:
    """Dominance on one plot; None when a metric is unknown or fewer than 2 methods have points."""
    mx, my = view.metric(plot.x), view.metric(plot.y)
    if mx is None or my is None:
        return None
    lower = (mx.lower_is_better, my.lower_is_better)
    points: dict[str, list[tuple[RunKey, tuple[float, float]]]] = {}
    left_out = []
    for run in view.runs:
        ex, ey = view.get(run, plot.x), view.get(run, plot.y)
        if ex.ok and ey.ok:
            points.setdefault(run.method, []).append((run, (ex.value, ey.value)))
        else:
            left_out.append(run)
    if len(points) < 2:
        return None
    dominated = {}
    for a in points:
        for b in points:
            if a != b:
                dominated[(a, b)] = sum(
                    any(dominates(pa, pb, lower) for _, pa in points[a]) for _, pb in points[b]
                )
    better = [
        a for a in points if all(dominated[(a, b)] == len(points[b]) for b in points if b != a)
    ]
    everything = [p for pts in points.values() for p in pts]
    front = tuple(
        run for run, p in everything if not any(dominates(q, p, lower) for _, q in everything)
    )
    return Dominance(plot, points, dominated, better[0] if better else None, front, tuple(left_out))


def dominance_sentence(view: ResultsView, plot: PlotAxes) -> str:
    result = compare_methods(view, plot)
    if result is None:
        missing = [
            m.display_name
            for m in (view.metric(plot.x), view.metric(plot.y))
            if m is not None and not view.computed(m.name)
        ]
        if missing:
            return f"{plot.title}: not compared: {' and '.join(missing)} not computed."
        return f"{plot.title}: not compared: fewer than two methods have both numbers."
    methods = sorted(result.points)
    counts = "; ".join(
        f"{result.dominated[(a, b)]} of {len(result.points[b])} {method_name(b)} points are "
        f"dominated by a {method_name(a)} point"
        for a in methods
        for b in methods
        if a != b
    )
    front = ", ".join(r.label for r in result.front)
    if result.better is not None:
        verdict = f"{method_name(result.better)} is Pareto-better"
    else:
        verdict = "neither method is Pareto-better"
    text = f"{plot.title}: {verdict} ({counts}). Joint Pareto front: {front}."
    if result.left_out:
        labels = ", ".join(r.label for r in result.left_out)
        text += f" Left out, a coordinate not computed: {labels}."
    return text


def _scales(scales: list[str]) -> str:
    return ("scale " if len(scales) == 1 else "scales ") + ", ".join(scales)


@dataclass(frozen=True)
class Saturation:
    scale: float | None  # None: not saturated within the sweep / no gain / too few points
    verdict: str  # "saturates", "rising", "no_gain", "too_few"
    best_scale: float
    best_value: float
    value: float


def saturation(series: list[tuple[float, float]], lower_is_better: bool = False) -> Saturation:
    """Where a metric stops improving with scale (see the module docstring for the rule)."""
    pts = sorted((s, v) for s, v in series if is_number(v) and is_number(s))
    nan = float("nan")
    if len(pts) < 3:
        return Saturation(None, "too_few", nan, nan, nan)
    sign = -1.0 if lower_is_better else 1.0
    base = pts[0][1] * sign
    best_i = max(range(len(pts)), key=lambda i: pts[i][1] * sign)
    best_s, best_v = pts[best_i]
    gain = best_v * sign - base
    if gain <= 0:
        return Saturation(None, "no_gain", best_s, best_v, pts[0][1])
    target = base + SATURATION_FRACTION * gain
    s, v = next((s, v) for s, v in pts if v * sign >= target - 1e-12 * abs(target))
    if s == pts[-1][0]:
        return Saturation(None, "rising", best_s, best_v, v)
    return Saturation(s, "saturates", best_s, best_v, v)


def saturation_sentence(view: ResultsView, metric: MetricInfo, method: str) -> str:
    series = [(s, e.value) for s, e in view.series(method, metric.name)]
    result = saturation(series, metric.lower_is_better)
    d = decimals_for(v for _, v in series)
    who = f"{metric.display_name}, {method_name(method)}"
    if result.verdict == "too_few":
        return f"{who}: saturation not judged: fewer than 3 scales have a value."
    if result.verdict == "no_gain":
        return (
            f"{who}: no gain from guidance over the lowest scale swept; best at scale "
            f"{scale_text(result.best_scale)} ({fmt(result.best_value, d)})."
        )
    if result.verdict == "rising":
        return (
            f"{who}: not saturated within the sweep: only the largest scale "
            f"({scale_text(result.best_scale)}, {fmt(result.best_value, d)}) reaches "
            f"{SATURATION_FRACTION:.0%} of the total gain."
        )
    return (
        f"{who}: saturates at scale {scale_text(result.scale)} ({fmt(result.value, d)} reaches "
        f"{SATURATION_FRACTION:.0%} of the total gain; best {fmt(result.best_value, d)} at scale "
        f"{scale_text(result.best_scale)})."
    )


def _overlaps(a: tuple[float, float], b: tuple[float, float]) -> bool:
    if not all(is_number(x) for x in (*a, *b)):
        return False
    return a[0] <= b[1] and b[0] <= a[1]


def best_scale_sentence(view: ResultsView, metric: MetricInfo, method: str) -> str:
    series = [(s, e) for s, e in view.series(method, metric.name) if e.ok]
    who = f"{metric.display_name}, {method_name(method)}"
    if not series:
        return f"{who}: no computed values."
    best_s, best = series[0]
    for s, e in series[1:]:
        if metric.better(e.value, best.value):
            best_s, best = s, e
    d = decimals_for(e.value for _, e in series)
    close = [
        scale_text(s)
        for s, e in series
        if s != best_s and _overlaps((best.low, best.high), (e.low, e.high))
    ]
    text = (
        f"{who}: best at scale {scale_text(best_s)} ({fmt(best.value, d)} "
        f"{interval_text(best.low, best.high, d)})"
    )
    if close:
        pronoun = "that" if len(close) == 1 else "those"
        return text + f"; its interval overlaps {pronoun} of {_scales(close)}."
    if not (is_number(best.low) and is_number(best.high)):
        return text + "; no interval to compare with the other scales."
    return text + "; its interval overlaps no other scale's."


def sweep_findings(view: ResultsView) -> list[str]:
    """The findings about automated metrics, as sentences."""
    out = [dominance_sentence(view, plot) for plot in PLOTS]
    for name in ("caption_match", "attribute_match", "clip_score"):
        metric = view.metric(name)
        if metric is not None and view.computed(name):
            out += [saturation_sentence(view, metric, m) for m in view.methods]
    fid = view.metric("fid")
    if fid is not None and view.computed("fid"):
        out += [best_scale_sentence(view, fid, m) for m in view.methods]
    elif fid is not None:
        out.append("FID: not computed for any run, so no best scale.")
    return out


def ratings_findings(ratings: pd.DataFrame, system: str = "elo") -> list[str]:
    """Per question: the highest-rated condition and which others its interval cannot exclude."""
    out = []
    rows = ratings[ratings["system"] == system]
    for question, group in rows.groupby("question", sort=True):
        rated = group[group["rating"].map(is_number)]
        if rated.empty:
            out.append(f"{question}: no condition has a rating.")
            continue
        top = rated.loc[rated["rating"].idxmax()]
        d = decimals_for(rated["rating"], significant=3)
        close = [
            str(r.condition)
            for r in rated.itertuples(index=False)
            if r.condition != top["condition"]
            and _overlaps((top["ci_low"], top["ci_high"]), (r.ci_low, r.ci_high))
        ]
        text = (
            f"{question} ({system}): highest rated {top['condition']} "
            f"({fmt(top['rating'], d)} {interval_text(top['ci_low'], top['ci_high'], d)})"
        )
        if close:
            pronoun = "that" if len(close) == 1 else "those"
            text += f"; its interval overlaps {pronoun} of {', '.join(close)}."
        elif not (is_number(top["ci_low"]) and is_number(top["ci_high"])):
            text += "; no interval to compare with the others."
        else:
            text += "; its interval overlaps no other condition's."
        out.append(text)
    return out
