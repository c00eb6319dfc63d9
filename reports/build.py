"""``python -m reports.build``: an HTML and a PDF report of a sweep (and its human evaluation).

Reads only results files: ``sweep.json``, the run folders, ``results.csv``, ``plots/``,
``grids/`` and, with ``--ratings``, the output of ``python -m human_eval.ratings``. It never
loads a model. Writes ``<out>/report.html`` (one self-contained file: images embedded, no
external style sheets or scripts) and ``<out>/report.pdf`` (the same content laid out for print).

Several ``--sweep`` folders make a comparison report (e.g. two samplers or two checkpoints): one
table and one set of frontiers, methods named ``<sweep folder>/<method>``; refused when the
sweeps' caption sets, judges or reference sets differ (see :mod:`reports.comparison`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from glide.errors import GlideError
from glide.io import atomic_write_bytes
from reports.assemble import build_comparison_document, build_document
from reports.comparison import sweep_names
from reports.errors import ReportError
from reports.html import render_html
from reports.inputs import load_ratings, load_sweep
from reports.pdf import render_pdf


@dataclass(frozen=True)
class ReportPaths:
    html: Path
    pdf: Path


def build_report(
    sweep_dir: Path | str | Sequence[Path | str],
    ratings_dir: Path | str | None,
    out_dir: Path | str,
    *,
    grid_rows: int = 6,
    title: str | None = None,
    report_argv: Sequence[str] | None = None,
) -> ReportPaths:
    """Build both reports; returns their paths. Raises :class:`ReportError` on bad inputs.

    ``sweep_dir``: one sweep folder, or several for a comparison report."""
    if grid_rows < 1:
        raise ReportError(f"--grid-rows: {grid_rows}; give at least 1 caption row")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ReportError(f"--out: {str(out)!r} exists and is not a folder; give a folder path")
    dirs = [sweep_dir] if isinstance(sweep_dir, (str, Path)) else list(sweep_dir)
    if not dirs:
        raise ReportError("--sweep: no sweep folder given; give at least one")
    if len(dirs) > 1 and ratings_dir is not None:
        raise ReportError(
            f"--ratings: a comparison of {len(dirs)} sweeps takes no ratings (ratings name the "
            "conditions of one sweep); build one report per sweep with its --ratings"
        )
    sweeps = [load_sweep(d) for d in dirs]
    ratings = load_ratings(ratings_dir) if ratings_dir is not None else None
    if report_argv is None:
        report_argv = [a for d in dirs for a in ("--sweep", str(d))]
        if ratings_dir is not None:
            report_argv += ["--ratings", str(ratings_dir)]
        report_argv += ["--out", str(out_dir)]
    if len(sweeps) == 1:
        report = build_document(
            sweeps[0],
            ratings,
            grid_rows=grid_rows,
            title=title or "GLIDE guidance sweep report",
            report_argv=list(report_argv),
        )
    else:
        report = build_comparison_document(
            sweeps,
            sweep_names([Path(d) for d in dirs]),
            grid_rows=grid_rows,
            title=title or "GLIDE guidance sweep comparison",
            report_argv=list(report_argv),
        )
    paths = ReportPaths(out / "report.html", out / "report.pdf")
    atomic_write_bytes(paths.html, render_html(report).encode("utf-8"))
    atomic_write_bytes(paths.pdf, render_pdf(report))
    return paths


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m reports.build",
        description="Write report.html (self-contained) and report.pdf for a guidance sweep, "
        "from its results files only (no model is loaded).",
    )
    p.add_argument(
        "--sweep",
        required=True,
        type=Path,
        action="append",
        help="sweep folder written by python -m bench.sweep --out (holds sweep.json, "
        "runs/, results.csv, plots/, grids/); give it more than once for a comparison report "
        "of sweeps scored on the same captions, judges and reference images",
    )
    p.add_argument(
        "--ratings",
        type=Path,
        default=None,
        help="ratings folder written by python -m human_eval.ratings --out; adds the "
        "human-evaluation section (default: none)",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=Path("report"),
        help="output folder for report.html and report.pdf (default: report)",
    )
    p.add_argument(
        "--grid-rows", type=int, default=6, help="captions (rows) per sample grid (default: 6)"
    )
    p.add_argument(
        "--title",
        default=None,
        help="title printed on both reports (default: GLIDE guidance sweep report, or "
        "... comparison for several sweeps)",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    try:
        paths = build_report(
            args.sweep,
            args.ratings,
            args.out,
            grid_rows=args.grid_rows,
            title=args.title,
            report_argv=argv,
        )
    except GlideError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"HTML report: {paths.html}")
    print(f"PDF report:  {paths.pdf}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
