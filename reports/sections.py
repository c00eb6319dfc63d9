"""Sections built from the sweep: findings, the metrics table, Pareto plots and sample grids."""

from __future__ import annotations

from reports.blocks import (
    Block,
    Bullets,
    Cell,
    Figure,
    FigureRow,
    Heading,
    Paragraph,
    Section,
    Table,
)
from reports.blocks import label_cell as L
from reports.figures import grid_blocks
from reports.findings import (
    SATURATION_FRACTION,
    agreement_sentence,
    ratings_findings,
    sweep_findings,
)
from reports.inputs import RatingsInputs, SweepInputs
from reports.numbers import decimals_for, fmt, interval_text, missing_text, scale_text
from reports.results_view import MetricInfo, ResultsView, method_name


def _best_runs(view: ResultsView, metric: MetricInfo) -> set:
    ok = [(r, view.get(r, metric.name).value) for r in view.runs if view.get(r, metric.name).ok]
    if not ok:
        return set()
    best = min(v for _, v in ok) if metric.lower_is_better else max(v for _, v in ok)
    return {r for r, v in ok if v == best}


#: A reason for a missing value that repeats in this many cells of a column, and is longer than
#: SHARED_NOTE_CHARS, is written once below the table instead of in every cell.
SHARED_NOTE_CELLS = 3
SHARED_NOTE_CHARS = 60


def shared_missing_notes(view: ResultsView) -> dict[tuple[str, str], int]:
    """``(metric, note) -> footnote number`` for long reasons repeated down a column."""
    runs = ([view.real] if view.real is not None else []) + list(view.runs)
    shared: dict[tuple[str, str], int] = {}
    for m in view.metrics:
        notes = [missing_text(e.notes) for e in (view.get(r, m.name) for r in runs) if not e.ok]
        for note in dict.fromkeys(notes):
            if notes.count(note) >= SHARED_NOTE_CELLS and len(note) > SHARED_NOTE_CHARS:
                shared[(m.name, note)] = len(shared) + 1
    return shared


def metrics_table(view: ResultsView) -> Table:
    """Rows: runs (method, scale); columns: metrics with value, interval and best mark."""
    shared = shared_missing_notes(view)
    header = ("method", "scale", *(f"{m.display_name} {m.arrow}" for m in view.metrics))
    decimals = {
        m.name: decimals_for(view.get(r, m.name).value for r in view.runs) for m in view.metrics
    }
    best = {m.name: _best_runs(view, m) for m in view.metrics}
    rows = []
    # the real-images floor first, set apart; never a best-of-column mark
    for run in ([view.real] if view.real is not None else []) + list(view.runs):
        if run.is_real:
            cells = [L("real images"), Cell("floor", align="left")]
        else:
            cells = [L(run.method), Cell(scale_text(run.scale))]
        for m in view.metrics:
            e = view.get(run, m.name)
            if e.ok:
                d = decimals[m.name]
                cells.append(
                    Cell(fmt(e.value, d), interval_text(e.low, e.high, d), best=run in best[m.name])
                )
            else:
                note = missing_text(e.notes)
                if (m.name, note) in shared:
                    note = f"not computed: see note {shared[(m.name, note)]} below the table"
                cells.append(Cell(note, missing=True, align="left"))
        rows.append(tuple(cells))
    reference = frozenset({0}) if view.real is not None else frozenset()
    return Table(header, tuple(rows), reference_rows=reference)  # widths: from the content


def metrics_section(view: ResultsView) -> Section:
    if not view.runs:
        return Section(
            "metrics", "Metrics", (Paragraph("No runs in the sweep, so no metrics.", "missing"),)
        )
    legend = (
        "One row per run (guidance method and scale); one column per metric. "
        "↓ lower is better, ↑ higher is better. Bold with a ▲ marks the best value of each "
        "column across all runs. Below each value: its interval from the results table "
        "(how each interval is made is listed in the appendix, What was evaluated)."
    )
    if view.real is not None:
        legend += (
            " The shaded first row, real images, is the floor: held-out real images with their "
            "own captions scored through the same metrics at the same n, what a perfect "
            "generator would get (not a run; never marked best)."
        )
    blocks: list[Block] = [Paragraph(legend, "note"), metrics_table(view)]
    for (metric, note), number in shared_missing_notes(view).items():
        name = next(m.display_name for m in view.metrics if m.name == metric)
        blocks.append(Paragraph(f"Note {number} ({name}): {note}.", "missing"))
    if view.real is None and view.runs:
        blocks.append(
            Paragraph(
                "Real-data floor: not measured (the sweep has no runs/real-images run; sweeps "
                "written before it existed lack it), so there is no yardstick row.",
                "missing",
            )
        )
    methods = ", ".join(f"{m} = {method_name(m)}" for m in view.methods)
    blocks.append(Paragraph(f"Methods: {methods}.", "note"))
    if not view.has_table:
        blocks.append(
            Paragraph(
                "The sweep has no results table: no metric was computed. Run python -m "
                "bench.sweep again on the same folder with --metrics to score it.",
                "missing",
            )
        )
    return Section("metrics", "Metrics", tuple(blocks))


def pareto_section(figures: dict[str, Figure | Paragraph]) -> Section:
    intro = Paragraph(
        "The paper's figure-6 trade-offs: each line is one guidance method through its scales. "
        "Up and to the right is better on precision/recall; on the FID plots, left (lower FID) "
        "and up are better. A black star marks the real-images floor where it was measured.",
        "note",
    )
    blocks = list(figures.values())
    figures = tuple(b for b in blocks if isinstance(b, Figure))
    missing = [b for b in blocks if not isinstance(b, Figure)]
    body: list[Block] = [FigureRow(figures)] if figures else []
    return Section("pareto", "Pareto frontiers", (intro, *body, *missing))


def grids_section(inputs: SweepInputs, rows: int) -> Section:
    intro = Paragraph(
        f"The first {rows} captions of the evaluated subset that every run finished, per method, "
        "across guidance scales.",
        "note",
    )
    return Section("grids", "Sample grids", (intro, *grid_blocks(inputs, rows)))


def findings_section(view: ResultsView, ratings: RatingsInputs | None) -> Section:
    rules = (
        "Computed from the tables by fixed rules, not written by hand. A point dominates another "
        "when it is at least as good on both axes and better on one; a method is Pareto-better "
        "when each point of the other method is dominated by one of its points (point "
        "estimates). A metric saturates at the smallest scale reaching "
        f"{SATURATION_FRACTION:.0%} of its total gain over the swept scales. Best scales name "
        "the other scales whose intervals overlap, which the data cannot tell apart."
    )
    rules += (
        " Human and automated measures agree in order when every pair of conditions that both "
        "rank (no tie) is ranked alike (point estimates; Kendall's tau over those pairs)."
    )
    blocks: list[Block] = [Paragraph(rules, "note"), Heading("Automated metrics")]
    blocks.append(Bullets(tuple(sweep_findings(view))))
    if ratings is not None:
        items = ratings_findings(ratings.ratings)
        for question in dict.fromkeys(ratings.ratings["question"].astype(str)):
            sentence = agreement_sentence(ratings.ratings, view, question)
            if sentence is not None:
                items.append(sentence)
        blocks += [Heading("Human evaluation"), Bullets(tuple(items))]
    return Section("findings", "Findings in detail", tuple(blocks))
