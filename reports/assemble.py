"""Assemble the format-neutral report from the loaded inputs (no rendering, no writing).

Order (a results section first, the protocol last): the one-screen summary, the metrics table,
the Pareto frontiers, the findings in detail, the sample grids, the human evaluation, and as an
appendix what was evaluated (settings, checkpoints, judges, software, how to reproduce).
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Sequence

from bench.generators import sampling_text
from bench.plots import REAL_METHOD
from reports.blocks import Report, Section
from reports.comparison import check_comparable, merge_sweeps
from reports.errors import ReportError
from reports.evaluated import evaluated_section, run_settings
from reports.figures import pareto_figures
from reports.human import human_section
from reports.inputs import RatingsInputs, SweepInputs
from reports.results_view import build_view, method_name
from reports.sections import findings_section, grids_section, metrics_section, pareto_section
from reports.summary import summary_section


def _subtitle(inputs: SweepInputs, ratings: RatingsInputs | None) -> str:
    settings = run_settings(inputs)
    captions = inputs.sweep.get("captions") or settings.get("captions") or {}
    methods = sorted({r.method for r in inputs.runs if r.method != REAL_METHOD})
    parts = [
        " vs ".join(method_name(m) for m in methods) or "no runs",
        f"{captions.get('kind', 'unknown')} captions, n={settings.get('num_samples', '?')}",
        f"{settings.get('resolution', '?')}px",
        sampling_text(settings),
        f"generator: {settings.get('generator', '?')}",
    ]
    if ratings is not None:
        parts.append(f"human study {ratings.meta.get('study', '?')}")
    return "; ".join(parts)


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def _results_sections(
    inputs: SweepInputs, ratings: RatingsInputs | None, grid_rows: int
) -> list[Section]:
    view = build_view(inputs)
    figures = pareto_figures(inputs, view)
    sections = [
        summary_section(view, figures, ratings.ratings if ratings is not None else None),
        metrics_section(view),
        pareto_section(figures),
        findings_section(view, ratings),
        grids_section(inputs, grid_rows),
    ]
    if ratings is not None:
        sections.append(human_section(ratings, view))
    return sections


def _appendix(section: Section, suffix: str = "") -> Section:
    title = f"Appendix: what was evaluated{suffix}"
    return dataclasses.replace(section, title=title)


def build_document(
    inputs: SweepInputs,
    ratings: RatingsInputs | None,
    *,
    grid_rows: int = 6,
    title: str = "GLIDE guidance sweep report",
    report_argv: Sequence[str] = (),
) -> Report:
    sections = _results_sections(inputs, ratings, grid_rows)
    view = build_view(inputs)
    sections.append(_appendix(evaluated_section(inputs, view, ratings, report_argv)))
    return Report(title, _subtitle(inputs, ratings), _now(), tuple(sections))


def build_comparison_document(
    sweeps: Sequence[SweepInputs],
    names: Sequence[str],
    *,
    grid_rows: int = 6,
    title: str = "GLIDE guidance sweep comparison",
    report_argv: Sequence[str] = (),
) -> Report:
    """Several sweeps on one table and one set of frontiers; one appendix per sweep.
    Raises :class:`ReportError` when they were not scored alike (see reports.comparison)."""
    if len(sweeps) < 2:
        raise ReportError(f"--sweep: a comparison needs at least 2 sweeps, got {len(sweeps)}")
    check_comparable(sweeps, names)
    merged = merge_sweeps(sweeps, names)
    sections = _results_sections(merged, None, grid_rows)
    for i, (name, inputs) in enumerate(zip(names, sweeps, strict=True)):
        section = evaluated_section(inputs, build_view(inputs), None, report_argv)
        section = dataclasses.replace(section, id=f"evaluated-{i + 1}")
        sections.append(_appendix(section, f" ({name}: {inputs.path})"))
    parts = [f"{n}: {_subtitle(s, None)}" for n, s in zip(names, sweeps, strict=True)]
    subtitle = "Comparison of " + " | ".join(parts)
    return Report(title, subtitle, _now(), tuple(sections))
