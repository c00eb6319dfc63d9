"""Fixtures for report tests: a realistic fake sweep and ratings folder, and one built report."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from report_fakes import CAPTIONS, FID_NOTE, make_ratings, make_sweep


@dataclass(frozen=True)
class Built:
    sweep: Path
    ratings: Path
    html: Path
    pdf: Path


@pytest.fixture(scope="session")
def built_report(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """2 methods x 4 scales, 6 captions (one with markup), clip@4 FID missing, with ratings."""
    from reports.build import build_report

    root = tmp_path_factory.mktemp("report")
    sweep = make_sweep(root / "sweep", captions=CAPTIONS, missing={("clip@4", "fid"): FID_NOTE})
    conditions = [("cfg@1", "cfg", 1.0)] + [
        (f"{m}@{s:g}", m, s) for m in ("cfg", "clip") for s in (2.0, 3.0, 4.0)
    ]
    ratings = make_ratings(root / "ratings", conditions)
    paths = build_report(sweep, ratings, root / "out")
    return Built(sweep, ratings, paths.html, paths.pdf)
