"""The one-screen summary that opens a report: headline sentences, best scale per method with
its interval (and the real-images floor), and the main frontier figure.

Every sentence comes from :func:`reports.findings.headline_findings` (fixed rules over the
tables); the figure is the CLIP-score-vs-FID frontier when drawn, else the first one drawn.
"""

from __future__ import annotations

import dataclasses

import pandas as pd

from reports.blocks import Block, Bullets, Cell, Figure, Paragraph, Section, Table
from reports.blocks import label_cell as L
from reports.findings import best_of, headline_findings, text_metric
from reports.numbers import decimals_for, fmt, interval_text, missing_text, scale_text
from reports.results_view import MetricInfo, ResultsView, method_name

MAIN_PLOTS = ("pareto_clip_fid", "pareto_is_fid", "pareto_pr")


def _scale_cell(view: ResultsView, metric: MetricInfo, method: str) -> Cell:
    best = best_of(view, metric, method)
    if best is None:
        return Cell("no value", missing=True, align="left")
    if best.others == 0:
        sub = "only scale with a value"
    elif not best.has_interval:
        sub = "no interval"
    elif len(best.close) == best.others:
        sub = "no scale differs within intervals"
    elif best.close:
        sub = "not told apart: " + ", ".join(scale_text(s) for s in best.close)
    else:
        sub = "apart from every other scale"
    return Cell(scale_text(best.scale), sub)


def best_table(view: ResultsView) -> Table | None:
    """Per method: the best scale by FID and by the caption measure, value and interval; the
    real-images floor as the first row."""
    metrics = [m for m in (view.metric("fid"), text_metric(view)) if m and view.computed(m.name)]
    if not metrics or not view.runs:
        return None
    header = ["method"]
    for m in metrics:
        header += [f"{m.display_name}: best scale", f"{m.display_name} {m.arrow}"]
    decimals = {m.name: decimals_for(view.get(r, m.name).value for r in view.runs) for m in metrics}
    rows = []
    if view.real is not None:
        cells = [L("real images (floor)")]
        for m in metrics:
            e = view.get(view.real, m.name)
            cells.append(Cell("none", align="left"))
            if e.ok:
                d = decimals[m.name]
                cells.append(Cell(fmt(e.value, d), interval_text(e.low, e.high, d)))
            else:
                cells.append(Cell(missing_text(e.notes), missing=True, align="left"))
        rows.append(tuple(cells))
    for method in view.methods:
        cells = [L(method_name(method))]
        for m in metrics:
            cells.append(_scale_cell(view, m, method))
            best = best_of(view, m, method)
            if best is None:
                cells.append(Cell("not computed", missing=True, align="left"))
            else:
                d = decimals[m.name]
                e = best.entry
                cells.append(Cell(fmt(e.value, d), interval_text(e.low, e.high, d)))
        rows.append(tuple(cells))
    reference = frozenset({0}) if view.real is not None else frozenset()
    return Table(tuple(header), tuple(rows), reference_rows=reference)


def main_figure(figures: dict[str, Figure | Paragraph]) -> Figure | None:
    for name in MAIN_PLOTS:
        block = figures.get(name)
        if isinstance(block, Figure):
            caption = block.caption + " The other frontiers are in the Pareto frontiers section."
            return dataclasses.replace(block, caption=caption, fraction=0.52)
    return None


def summary_section(
    view: ResultsView,
    figures: dict[str, Figure | Paragraph],
    ratings: pd.DataFrame | None,
) -> Section:
    blocks: list[Block] = [Bullets(tuple(headline_findings(view, ratings)))]
    table = best_table(view)
    if table is not None:
        blocks.append(table)
    figure = main_figure(figures)
    if figure is not None:
        blocks.append(figure)
    else:
        blocks.append(Paragraph("No frontier could be drawn (see Pareto frontiers).", "missing"))
    blocks.append(
        Paragraph(
            "Every sentence is computed from the tables by the rules stated under Findings; "
            "intervals are those of the results table. The settings, judges and software "
            "behind these numbers are in the appendix, What was evaluated.",
            "note",
        )
    )
    return Section("summary", "Summary", tuple(blocks))
