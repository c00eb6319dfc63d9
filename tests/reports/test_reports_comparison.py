"""Comparison reports of several sweeps (reports.build --sweep A --sweep B): one table and one set
of frontiers; refused, with the difference named, when captions, judges or references differ."""

from __future__ import annotations

import json

import pytest
from report_fakes import make_ratings, make_sweep, realistic_values

from reports.blocks import FigureRow, Table
from reports.build import main


def _slower(method: str, scale: float):
    """Another sampler: the same trade-off, 3 FID points worse."""
    vals = realistic_values(method, scale)
    v, lo, hi = vals["fid"]
    vals["fid"] = (v + 3, lo + 3, hi + 3)
    return vals


def _two(tmp_path, **b_kw):
    a = make_sweep(tmp_path / "ddpm", methods=("cfg",), scales=(1.0, 2.0, 3.0))
    b = make_sweep(
        tmp_path / "ddim", methods=("cfg",), scales=(1.0, 2.0, 3.0), values=_slower, **b_kw
    )
    return a, b


def test_two_sweeps_on_one_table_and_one_set_of_frontiers(tmp_path, capsys):
    from reports.assemble import build_comparison_document
    from reports.inputs import load_sweep

    a, b = _two(tmp_path)
    out = tmp_path / "out"
    assert main(["--sweep", str(a), "--sweep", str(b), "--out", str(out), "--grid-rows", "2"]) == 0
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "GLIDE guidance sweep comparison" in html
    report = build_comparison_document([load_sweep(a), load_sweep(b)], ["ddpm", "ddim"])
    table = next(bl for bl in report.section("metrics").blocks if isinstance(bl, Table))
    labels = [(r[0].text, r[1].text) for r in table.rows]
    assert labels[0] == ("real images", "floor")  # one floor: the same images and judges
    assert labels[1:] == [(f"{n}/cfg", f"{s}") for n in ("ddim", "ddpm") for s in (1, 2, 3)]
    fid = table.header.index("FID ↓")
    assert [r[0].text for r in table.rows if r[fid].best] == ["ddpm/cfg"]  # 3 points better
    (row,) = [bl for bl in report.section("pareto").blocks if isinstance(bl, FigureRow)]
    assert len(row.figures) == 3  # drawn from the merged table, both sweeps on each
    items = report.section("summary").blocks[0].items
    assert any(t.startswith("FID (lower is better), best run per method: ddpm/cfg@") for t in items)
    assert any("classifier-free guidance (ddpm) is better" in t.lower() for t in items)
    appendices = [s.id for s in report.sections if s.id.startswith("evaluated")]
    assert appendices == ["evaluated-1", "evaluated-2"]  # one provenance appendix per sweep


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"protocol": {"judges": {"extractor": "inception-v3-compat"}}},
            "judges differ at protocol.judges",
        ),
        ({"captions": {"captions_sha256": "0" * 64}}, "caption sets differ at captions."),
        ({"protocol": {"reference": "subset"}}, "reference sets differ at protocol.reference"),
    ],
)
def test_sweeps_scored_differently_are_refused(tmp_path, capsys, change, message):
    a, b = _two(tmp_path)
    sweep = json.loads((b / "sweep.json").read_text())
    for key, value in change.items():
        sweep[key] = {**sweep[key], **value}
    (b / "sweep.json").write_text(json.dumps(sweep))
    assert main(["--sweep", str(a), "--sweep", str(b), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --sweep: these sweeps cannot be compared on one table")
    assert message in err and "ddpm:" in err and "ddim:" in err
    assert not (tmp_path / "o").exists()


def test_comparison_refuses_ratings_and_single_sweep_still_works(tmp_path, capsys):
    a, b = _two(tmp_path)
    ratings = make_ratings(tmp_path / "r", [("cfg@1", "cfg", 1.0), ("cfg@2", "cfg", 2.0)])
    argv = ["--sweep", str(a), "--sweep", str(b), "--ratings", str(ratings)]
    assert main([*argv, "--out", str(tmp_path / "o")]) == 2
    assert "--ratings: a comparison of 2 sweeps takes no ratings" in capsys.readouterr().err
    single = ["--sweep", str(a), "--ratings", str(ratings), "--out", str(tmp_path / "o1")]
    assert main(single) == 0
    assert "GLIDE guidance sweep report" in (tmp_path / "o1" / "report.html").read_text()
