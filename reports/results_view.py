"""A read-only view of the results table: one entry per (run, metric), missing ones explained.

Runs are the union of the rows of ``results.csv`` and the run folders, so a run that was never
scored still shows up, with the reason its numbers are missing.

The real-images run (``method == "real"``, no scale: held-out real images with their own
captions scored like a run) is kept apart as :attr:`ResultsView.real`: it is the floor a perfect
generator would score at this sample size, never one of :attr:`ResultsView.runs`, so no Pareto
front, best scale or best-of-column mark can ever include it.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from bench.plots import REAL_LABEL, REAL_METHOD
from reports.inputs import SweepInputs
from reports.numbers import is_number, scale_text

#: Built-in metrics in table order: display name, lower is better. Used for metrics that a
#: results table lacks (its own rows carry their names and directions).
KNOWN_METRICS: dict[str, tuple[str, bool]] = {
    "fid": ("FID", True),
    "is": ("Inception Score", False),
    "kid": ("KID", True),
    "precision": ("Precision", False),
    "recall": ("Recall", False),
    "clip_score": ("CLIP score", False),
    "caption_match": ("Caption match", False),
    "attribute_match": ("Attribute match", False),
}
#: Metrics that the three Pareto plots need: shown (as missing) even when a table lacks them.
PLOT_METRICS = ("fid", "is", "precision", "recall", "clip_score")
METHOD_NAMES = {"cfg": "classifier-free guidance", "clip": "CLIP guidance"}


def method_name(method: str) -> str:
    """ "cfg" -> "classifier-free guidance"; in a comparison "A/cfg" -> "classifier-free
    guidance (A)"."""
    method, sep, interval = method.partition(" sigma[")
    tail = f", guided at sigma in [{interval}" if sep else ""  # a guidance interval's series
    prefix, _, base = method.rpartition("/")
    if prefix:
        return f"{METHOD_NAMES.get(base, base)}{tail} ({prefix})"
    return METHOD_NAMES.get(method, method) + tail


@dataclass(frozen=True)
class MetricInfo:
    name: str
    display_name: str
    lower_is_better: bool

    @property
    def direction(self) -> str:
        return "lower is better" if self.lower_is_better else "higher is better"

    @property
    def arrow(self) -> str:
        return "↓" if self.lower_is_better else "↑"

    def better(self, a: float, b: float) -> bool:
        """True when ``a`` is strictly better than ``b``."""
        return a < b if self.lower_is_better else a > b


@dataclass(frozen=True)
class RunKey:
    method: str
    scale: float | None  # None only for the real-images run

    @property
    def is_real(self) -> bool:
        return self.method == REAL_METHOD

    @property
    def label(self) -> str:
        return REAL_LABEL if self.is_real else f"{self.method}@{scale_text(self.scale)}"


def run_key(method: object, scale: object) -> RunKey:
    """The key of a results row or run folder; the real-images run has no scale."""
    method = str(method)
    if method == REAL_METHOD:
        return RunKey(method, None)
    return RunKey(method, float(scale))  # type: ignore[arg-type]


@dataclass(frozen=True)
class Entry:
    """One number with its interval, or (``value`` NaN) the note saying why it is missing."""

    value: float
    low: float
    high: float
    n: int | None
    notes: str
    extractor: str

    @property
    def ok(self) -> bool:
        return is_number(self.value)


def _missing(note: str) -> Entry:
    nan = float("nan")
    return Entry(nan, nan, nan, None, note, "")


@dataclass(frozen=True)
class ResultsView:
    metrics: tuple[MetricInfo, ...]
    runs: tuple[RunKey, ...]
    entries: dict[tuple[RunKey, str], Entry]
    has_table: bool
    real: RunKey | None = None  # the real-images run, when the sweep scored one

    @property
    def methods(self) -> tuple[str, ...]:
        return tuple(sorted({r.method for r in self.runs}))

    def metric(self, name: str) -> MetricInfo | None:
        return next((m for m in self.metrics if m.name == name), None)

    def get(self, run: RunKey, metric: str) -> Entry:
        """The entry, or a missing entry saying why there is none."""
        return self.entries[(run, metric)]

    def series(self, method: str, metric: str) -> list[tuple[float, Entry]]:
        return [(r.scale, self.get(r, metric)) for r in self.runs if r.method == method]

    def computed(self, metric: str) -> bool:
        return any(self.get(r, metric).ok for r in self.runs)

    def floor(self, metric: str) -> Entry | None:
        """The real-images run's entry for ``metric`` (None: the sweep has no such run)."""
        return None if self.real is None else self.get(self.real, metric)


def _metric_infos(table: pd.DataFrame | None) -> tuple[MetricInfo, ...]:
    found: dict[str, MetricInfo] = {}
    if table is not None:
        for row in table.drop_duplicates("metric").itertuples(index=False):
            found[row.metric] = MetricInfo(
                row.metric, str(row.display_name), bool(row.lower_is_better)
            )
    for name in PLOT_METRICS:
        if name not in found:
            display, lower = KNOWN_METRICS[name]
            found[name] = MetricInfo(name, display, lower)
    order = {name: i for i, name in enumerate(KNOWN_METRICS)}
    return tuple(sorted(found.values(), key=lambda m: (order.get(m.name, len(order)), m.name)))


def build_view(inputs: SweepInputs) -> ResultsView:
    table = inputs.results
    metrics = _metric_infos(table)
    runs: dict[RunKey, str] = {}  # run -> why it may lack numbers
    for run in inputs.runs:
        n_target = run.num_samples
        done = len(run.samples)
        if n_target is not None and done < n_target:
            why = f"run incomplete ({done} of {n_target} images), so it was not scored"
        else:
            why = "no row in the results table for this run"
        runs[run_key(run.method, run.scale)] = why
    if table is not None:
        for method, scale in table[["method", "scale"]].drop_duplicates().itertuples(index=False):
            runs.setdefault(run_key(method, scale), "no row in the results table")
    if table is None:
        default = "the sweep has no results table"
        runs = {key: default for key in runs}
    real = next((r for r in runs if r.is_real), None)
    keys = tuple(sorted((r for r in runs if not r.is_real), key=lambda r: (r.method, r.scale)))
    entries: dict[tuple[RunKey, str], Entry] = {}
    if table is not None:
        for row in table.itertuples(index=False):
            key = (run_key(row.method, row.scale), str(row.metric))
            if key in entries:
                continue  # first row wins; duplicates are not expected in a bench table
            n = int(row.n) if is_number(row.n) else None
            entries[key] = Entry(
                float(row.value), float(row.ci_low), float(row.ci_high), n, row.notes, row.extractor
            )
    computed = set() if table is None else {str(m) for m in table["metric"]}
    for run in (*keys, *([real] if real else [])):
        for metric in metrics:
            why = runs[run]
            if table is not None and metric.name not in computed:
                why = "the sweep did not compute this metric for any run (see its --metrics)"
            entries.setdefault((run, metric.name), _missing(why))
    return ResultsView(metrics, keys, entries, table is not None, real)
