"""Assemble the format-neutral report from the loaded inputs (no rendering, no writing)."""

from __future__ import annotations

import datetime
from collections.abc import Sequence

from reports.blocks import Report
from reports.evaluated import evaluated_section, run_settings
from reports.human import human_section
from reports.inputs import RatingsInputs, SweepInputs
from reports.results_view import build_view, method_name
from reports.sections import findings_section, grids_section, metrics_section, pareto_section


def _subtitle(inputs: SweepInputs, ratings: RatingsInputs | None) -> str:
    settings = run_settings(inputs)
    captions = inputs.sweep.get("captions") or settings.get("captions") or {}
    methods = sorted({r.method for r in inputs.runs})
    parts = [
        " vs ".join(method_name(m) for m in methods) or "no runs",
        f"{captions.get('kind', 'unknown')} captions, n={settings.get('num_samples', '?')}",
        f"{settings.get('resolution', '?')}px",
        f"{settings.get('steps', '?')} {settings.get('sampler', '?')} steps",
        f"generator: {settings.get('generator', '?')}",
    ]
    if ratings is not None:
        parts.append(f"human study {ratings.meta.get('study', '?')}")
    return "; ".join(parts)


def build_document(
    inputs: SweepInputs,
    ratings: RatingsInputs | None,
    *,
    grid_rows: int = 6,
    title: str = "GLIDE guidance sweep report",
    report_argv: Sequence[str] = (),
) -> Report:
    view = build_view(inputs)
    sections = [
        evaluated_section(inputs, view, ratings, report_argv),
        findings_section(view, ratings),
        metrics_section(view),
        pareto_section(inputs, view),
        grids_section(inputs, grid_rows),
    ]
    if ratings is not None:
        sections.append(human_section(ratings))
    created = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    return Report(title, _subtitle(inputs, ratings), created, tuple(sections))
