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

from reports.numbers import decimals_for, fmt, interval_text, is_number, missing_text, scale_text
from reports.results_view import Entry, MetricInfo, ResultsView, RunKey, method_name

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
    return out + floor_sentences(view)


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


# -- headline findings (the summary) ------------------------------------------------------------


@dataclass(frozen=True)
class Best:
    """The best run of one method on one metric, and the scales its interval cannot exclude."""

    method: str
    scale: float
    entry: Entry
    close: tuple[float, ...]  # other scales whose intervals overlap the best one's
    others: int  # other scales with a value

    @property
    def key(self) -> RunKey:
        return RunKey(self.method, self.scale)

    @property
    def has_interval(self) -> bool:
        return is_number(self.entry.low) and is_number(self.entry.high)


def best_of(view: ResultsView, metric: MetricInfo, method: str) -> Best | None:
    """The best point estimate of ``method`` on ``metric`` (None: no run has a value)."""
    series = [(s, e) for s, e in view.series(method, metric.name) if e.ok]
    if not series:
        return None
    best_s, best = series[0]
    for s, e in series[1:]:
        if metric.better(e.value, best.value):
            best_s, best = s, e
    close = tuple(
        s for s, e in series if s != best_s and _overlaps((best.low, best.high), (e.low, e.high))
    )
    return Best(method, best_s, best, close, len(series) - 1)


def _value(entry: Entry, d: int) -> str:
    return f"{fmt(entry.value, d)} {interval_text(entry.low, entry.high, d)}"


def text_metric(view: ResultsView) -> MetricInfo | None:
    """The automated measure of caption fidelity: caption match where computed, else CLIP."""
    for name in ("caption_match", "clip_score"):
        metric = view.metric(name)
        if metric is not None and view.computed(name):
            return metric
    return None


def headline_best(view: ResultsView, metric: MetricInfo, method: str) -> str:
    """One method's best scale on one metric, saying when the intervals cannot tell it apart."""
    best = best_of(view, metric, method)
    who = f"{metric.display_name}, {method_name(method)}"
    if best is None:
        return f"{who}: no computed values."
    d = decimals_for(e.value for _, e in view.series(method, metric.name))
    text = f"{who}: best at scale {scale_text(best.scale)} ({_value(best.entry, d)})"
    if best.others == 0:
        return text + "; the only scale with a value."
    if not best.has_interval:
        return text + "; no interval, so not compared with the other scales."
    if len(best.close) == best.others:
        return text + "; no difference within intervals: its interval overlaps every other scale's."
    if best.close:
        return text + f"; not told apart from {_scales([scale_text(s) for s in best.close])}."
    return text + "; its interval overlaps no other scale's."


def method_comparison(view: ResultsView, metric: MetricInfo) -> str:
    """The methods' best runs on one metric: which is better, or no difference within intervals."""
    bests = [b for b in (best_of(view, metric, m) for m in view.methods) if b is not None]
    if len(view.methods) < 2:
        return ""
    if len(bests) < 2:
        return f"{metric.display_name}: methods not compared: fewer than two have a value."
    bests.sort(key=lambda b: b.entry.value, reverse=not metric.lower_is_better)
    first, second = bests[0], bests[1]
    d = decimals_for(b.entry.value for b in bests)
    head = (
        f"{metric.display_name} ({metric.direction}), best run per method: "
        + "; ".join(f"{b.key.label} {_value(b.entry, d)}" for b in bests)
        + ". "
    )
    if first.entry.value == second.entry.value:
        return head + "The two best are equal."
    if not (first.has_interval and second.has_interval):
        return head + (
            f"{_cap(method_name(first.method))} is ahead on the point estimate; no intervals to "
            "tell whether the difference is real."
        )
    if _overlaps((first.entry.low, first.entry.high), (second.entry.low, second.entry.high)):
        return head + (
            f"No difference within intervals: {first.key.label} and {second.key.label} overlap."
        )
    return head + (
        f"{_cap(method_name(first.method))} is better: its best interval does not overlap "
        f"{method_name(second.method)}'s."
    )


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _side(gap: float) -> str:
    return "above" if gap > 0 else "below"


def floor_sentences(view: ResultsView, brief: bool = False) -> list[str]:
    """The real-data floor: what real images score at this n and how far each method's best
    run (and, unless ``brief``, its worst) is from it on FID (KID when FID is absent); unless
    ``brief``, the precision and recall of real images; and how real images match their own
    captions."""
    if view.real is None:
        return [
            "Real-data floor: not measured in this sweep (it has no real-images run), so the "
            "numbers have no yardstick: FID, KID, precision and recall of a perfect generator "
            "are not 0 / 1 at a small sample size."
        ]
    out = []
    fidelity = [m for m in (view.metric("fid"), view.metric("kid")) if m is not None]
    for metric in fidelity:
        floor = view.floor(metric.name)
        if floor is None or not floor.ok:
            note = missing_text(floor.notes if floor else "")
            out.append(f"Real-data floor, {metric.display_name}: {note}.")
            continue
        values = [floor.value, *(view.get(r, metric.name).value for r in view.runs)]
        d = decimals_for(values)
        n = f"n = {floor.n}" if floor.n is not None else "this sample size"
        text = (
            f"At {n}, real images score {metric.display_name} {_value(floor, d)}, what a "
            "perfect generator would get"
        )
        parts = []
        beyond = []  # best runs that score better than real images
        for method in view.methods:
            best = best_of(view, metric, method)
            if best is None:
                continue
            gap = best.entry.value - floor.value
            parts.append(f"{best.key.label} (best) is {fmt(abs(gap), d)} {_side(gap)} it")
            if metric.better(best.entry.value, floor.value):
                beyond.append(best)
            if brief:
                continue
            worst_s, worst = max(
                ((s, e) for s, e in view.series(method, metric.name) if e.ok),
                key=lambda se: se[1].value if metric.lower_is_better else -se[1].value,
            )
            if worst_s != best.scale:
                wgap = worst.value - floor.value
                label = RunKey(method, worst_s).label
                parts.append(f"{label} (worst) {fmt(abs(wgap), d)} {_side(wgap)}")
        out.append(text + ("; " + ", ".join(parts) if parts else "") + ".")
        out.extend(_beyond_floor_sentences(metric, floor, beyond, n))
        break  # one fidelity metric: KID only when FID has no floor value
    if not brief:
        for metric in (view.metric("precision"), view.metric("recall")):
            floor = None if metric is None else view.floor(metric.name)
            if metric is None or floor is None or not floor.ok:
                continue
            out.append(
                f"Real images' {metric.display_name.lower()} is {fmt(floor.value, 3)} "
                f"{interval_text(floor.low, floor.high, 3)}: the most a generator can expect "
                "at this n."
            )
    text = text_metric(view)
    if text is not None:
        floor = view.floor(text.name)
        if floor is not None and floor.ok:
            d = decimals_for([floor.value])
            bests = [b for b in (best_of(view, text, m) for m in view.methods) if b is not None]
            tail = ", ".join(f"{b.key.label} (best) {fmt(b.entry.value, d)}" for b in bests)
            out.append(
                f"Real images score {text.display_name} {_value(floor, d)} with their own "
                f"captions" + (f"; {tail}." if tail else ".")
            )
    return out


def _beyond_floor_sentences(metric: MetricInfo, floor: Entry, beyond: list, n: str) -> list[str]:
    """What it means when a generated run scores better than real images on a fidelity metric:
    within the floor's interval, the metric cannot tell them apart at this n; beyond it, the
    metric rewards something other than realism at this n (FID's small-sample bias grows with
    the spread of the features, so it favours samples less diverse than real ones)."""
    if not beyond:
        return []
    name = metric.display_name
    inside = [b for b in beyond if _overlaps((b.entry.low, b.entry.high), (floor.low, floor.high))]
    outside = [b for b in beyond if b not in inside]
    out = []
    if inside:
        one = len(inside) == 1
        out.append(
            f"{' and '.join(b.key.label for b in inside)} {'is' if one else 'are'} better than "
            f"real images, but within the floor's interval: at {n}, {name} cannot tell "
            f"{'it' if one else 'them'} from real images."
        )
    if outside:
        why = (
            " (its small-sample bias grows with the spread of the features, so less diverse "
            "samples score lower)"
            if metric.name == "fid"
            else ""
        )
        out.append(
            f"{' and '.join(b.key.label for b in outside)} "
            f"{'scores' if len(outside) == 1 else 'score'} better than real images beyond the "
            f"intervals: at {n}, {name} rewards something other than realism{why}; do not read "
            "it as better than real."
        )
    return out


@dataclass(frozen=True)
class OrderAgreement:
    """Do a human rating and an automated metric order the same conditions alike?"""

    pairs: int  # pairs of conditions both rank (no tie in either)
    concordant: int
    conditions: tuple[str, ...]
    best_human: str
    best_metric: str

    @property
    def tau(self) -> float:
        return (2 * self.concordant - self.pairs) / self.pairs if self.pairs else float("nan")


def order_agreement(
    ratings: pd.DataFrame, view: ResultsView, question: str, metric: MetricInfo, system: str = "elo"
) -> OrderAgreement | None:
    """Pairwise order agreement over the conditions that have a rating and a metric value
    (matched by method and scale); ties in either count in neither. None: fewer than 2."""
    rows = ratings[(ratings["question"] == question) & (ratings["system"] == system)]
    matched: list[tuple[str, float, float]] = []
    for r in rows.itertuples(index=False):
        if not (is_number(r.rating) and is_number(r.scale)):
            continue
        key = RunKey(str(r.method), float(r.scale))
        if key not in view.runs:
            continue
        e = view.get(key, metric.name)
        if e.ok:
            good = -e.value if metric.lower_is_better else e.value
            matched.append((key.label, float(r.rating), good))
    if len(matched) < 2:
        return None
    pairs = concordant = 0
    for i in range(len(matched)):
        for j in range(i + 1, len(matched)):
            dh = matched[i][1] - matched[j][1]
            dm = matched[i][2] - matched[j][2]
            if dh == 0 or dm == 0:
                continue
            pairs += 1
            concordant += (dh > 0) == (dm > 0)
    best_h = max(matched, key=lambda m: m[1])[0]
    best_m = max(matched, key=lambda m: m[2])[0]
    return OrderAgreement(pairs, concordant, tuple(m[0] for m in matched), best_h, best_m)


#: Which automated metric should track which human question (as in the paper's figures).
HUMAN_METRIC = {"photorealism": ("fid",), "caption": ("caption_match", "clip_score")}


def paired_metric(view: ResultsView, question: str) -> MetricInfo | None:
    for name in HUMAN_METRIC.get(question, ()):
        metric = view.metric(name)
        if metric is not None and view.computed(name):
            return metric
    return None


def agreement_sentence(ratings: pd.DataFrame, view: ResultsView, question: str) -> str | None:
    metric = paired_metric(view, question)
    if metric is None:
        return None
    result = order_agreement(ratings, view, question, metric)
    who = f"{question} (Elo) vs {metric.display_name}"
    if result is None or result.pairs == 0:
        return f"{who}: not compared: fewer than two conditions have both a rating and a value."
    wrong = result.pairs - result.concordant
    verdict = (
        "they agree in order"
        if wrong == 0
        else "they disagree in order"
        if result.concordant == 0
        else f"they disagree on {wrong} pair{'s' if wrong > 1 else ''}"
    )
    return (
        f"{_cap(who)}: {verdict} ({result.concordant} of {result.pairs} pairs of conditions "
        f"ranked alike, Kendall's tau {result.tau:.2f}, point estimates); best by rating "
        f"{result.best_human}, best by {metric.display_name} {result.best_metric}."
    )


def headline_findings(view: ResultsView, ratings: pd.DataFrame | None) -> list[str]:
    """The summary's sentences, each computed from the tables by the rules above."""
    out: list[str] = []
    if not view.runs:
        return ["The sweep has no runs, so there are no findings."]
    scopes = [
        f"{method_name(m)} at {_scales([scale_text(s) for s, _ in view.series(m, 'fid')])}"
        for m in view.methods
    ]
    if len(view.methods) == 1:
        out.append(f"One method only: {scopes[0]}; no comparison between methods.")
    else:
        out.append("Compared: " + "; ".join(scopes) + ".")
    if not view.has_table:
        out.append("No metric was computed (the sweep has no results table).")
        return out + floor_sentences(view)
    fid = view.metric("fid")
    text = text_metric(view)
    for metric in (fid, text):
        if metric is None or not view.computed(metric.name):
            continue
        if len(view.methods) > 1:  # each method's best scale is in the summary's table
            out.append(method_comparison(view, metric))
        else:
            out.append(headline_best(view, metric, view.methods[0]))
    out += floor_sentences(view, brief=True)
    if len(view.methods) > 1:
        main = next((p for p in PLOTS if p.name == "pareto_clip_fid"), PLOTS[0])
        out.append(dominance_sentence(view, main))
    if ratings is not None:
        for question in dict.fromkeys(ratings["question"].astype(str)):
            sentence = agreement_sentence(ratings, view, question)
            if sentence is not None:
                out.append(sentence)
    return out
