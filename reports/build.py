"""``python -m reports.build``: an HTML and a PDF report of a sweep (and its human evaluation).

Reads only results files: ``sweep.json``, the run folders, ``results.csv``, ``plots/``,
``grids/`` and, with ``--ratings``, the output of ``python -m human_eval.ratings``. It never
loads a model. Writes ``<out>/report.html`` (one self-contained file: images embedded, no
external style sheets or scripts) and ``<out>/report.pdf`` (the same content laid out for print).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from glide.errors import GlideError
from glide.io import atomic_write_bytes
from reports.assemble import build_document
from reports.errors import ReportError
from reports.html import render_html
from reports.inputs import load_ratings, load_sweep
from reports.pdf import render_pdf


@dataclass(frozen=True)
class ReportPaths:
    html: Path
    pdf: Path


def build_report(
    sweep_dir: Path | str,
    ratings_dir: Path | str | None,
    out_dir: Path | str,
    *,
    grid_rows: int = 6,
    title: str = "GLIDE guidance sweep report",
    report_argv: Sequence[str] | None = None,
) -> ReportPaths:
    """Build both reports; returns their paths. Raises :class:`ReportError` on bad inputs."""
    if grid_rows < 1:
        raise ReportError(f"--grid-rows: {grid_rows}; give at least 1 caption row")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ReportError(f"--out: {str(out)!r} exists and is not a folder; give a folder path")
    sweep = load_sweep(sweep_dir)
    ratings = load_ratings(ratings_dir) if ratings_dir is not None else None
    if report_argv is None:
        report_argv = ["--sweep", str(sweep_dir)]
        if ratings_dir is not None:
            report_argv += ["--ratings", str(ratings_dir)]
        report_argv += ["--out", str(out_dir)]
    report = build_document(
        sweep, ratings, grid_rows=grid_rows, title=title, report_argv=list(report_argv)
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
        help="sweep folder written by python -m bench.sweep --out (holds sweep.json, "
        "runs/, results.csv, plots/, grids/)",
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
        "--title", default="GLIDE guidance sweep report", help="title printed on both reports"
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
