"""The summary's sentences follow from the numbers; the real-images floor is a row apart, never a
point of a front, a best scale or a best-of-column mark; old sweeps say the floor is missing."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
from report_fakes import METRIC_INFO, make_ratings, make_sweep

from reports.assemble import build_document
from reports.blocks import Bullets, Figure, Table
from reports.findings import (
    PLOTS,
    compare_methods,
    headline_findings,
    method_comparison,
    order_agreement,
    sweep_findings,
)
from reports.inputs import SweepInputs, load_ratings, load_sweep
from reports.results_view import build_view

NAN = math.nan


def _view(points: dict[tuple[str, float | None], dict[str, tuple[float, float, float]]]):
    """A ResultsView from {(method, scale): {metric: (value, low, high)}}; method "real" with
    scale None is the real-images run."""
    rows = []
    for (method, scale), metrics in points.items():
        for metric, (v, lo, hi) in metrics.items():
            display, lower, extractor = METRIC_INFO[metric]
            rows.append(
                dict(
                    run_id="real-images" if method == "real" else f"{method}{scale}",
                    method=method,
                    scale=NAN if scale is None else scale,
                    label="real images" if method == "real" else f"{method}@{scale:g}",
                    metric=metric,
                    display_name=display,
                    value=v,
                    ci_low=lo,
                    ci_high=hi,
                    n=32,
                    lower_is_better=lower,
                    extractor=extractor,
                    notes="",
                )
            )
    return build_view(SweepInputs(Path("."), {}, (), pd.DataFrame(rows), None, {}, {}))


def _fid(v: float, half: float = 1.0) -> dict[str, tuple[float, float, float]]:
    return {"fid": (v, v - half, v + half)}


def test_floor_sentence_states_the_real_fid_and_each_methods_distance():
    view = _view(
        {
            ("real", None): _fid(900.0, 30.0),
            ("cfg", 1.0): _fid(1256.0, 40.0),
            ("cfg", 3.0): _fid(1411.0, 40.0),
        }
    )
    text = headline_findings(view, None)
    floor = next(t for t in text if t.startswith("At n = 32, real images score FID"))
    # 1256 - 900 = 356 above the floor at the best scale (1); the worst (3) is 511 above
    assert floor == (
        "At n = 32, real images score FID 900 [870, 930], what a perfect generator would "
        "get; cfg@1 (best) is 356 above it."
    )
    detailed = "\n".join(sweep_findings(view))
    assert "cfg@1 (best) is 356 above it, cfg@3 (worst) 511 above." in detailed


def test_one_method_only_says_so_and_gives_its_best_scale():
    view = _view({("cfg", 1.0): _fid(12.0), ("cfg", 2.0): _fid(15.0), ("cfg", 3.0): _fid(20.0)})
    text = headline_findings(view, None)
    assert text[0] == (
        "One method only: classifier-free guidance at scales 1, 2, 3; no comparison between "
        "methods."
    )
    assert "FID, classifier-free guidance: best at scale 1 (12.00 [11.00, 13.00]); its " \
        "interval overlaps no other scale's." in text  # fmt: skip
    assert method_comparison(view, view.metric("fid")) == ""  # nothing to compare
    assert not any("Pareto" in t for t in text)
    # no real-images run in this sweep: the summary says the floor was not measured
    assert any(t.startswith("Real-data floor: not measured in this sweep") for t in text)


def test_no_difference_within_intervals_between_methods_and_between_scales():
    view = _view(
        {
            ("cfg", 1.0): _fid(12.0, 2.0),
            ("cfg", 2.0): _fid(13.0, 2.0),
            ("clip", 1.0): _fid(13.5, 2.0),  # [11.5, 15.5] overlaps cfg@1's [10, 14]
            ("clip", 2.0): _fid(14.0, 2.0),
        }
    )
    text = headline_findings(view, None)
    comparison = next(t for t in text if t.startswith("FID (lower is better), best run"))
    assert comparison.endswith("No difference within intervals: cfg@1 and clip@1 overlap.")
    report_table = build_document_from_view(view)
    # each method's best scale: every other scale lies within its interval
    assert [r[1].sub for r in report_table.rows] == ["no scale differs within intervals"] * 2

    apart = _view(
        {
            ("cfg", 1.0): _fid(12.0, 0.5),
            ("cfg", 2.0): _fid(13.0, 0.2),
            ("clip", 1.0): _fid(20.0, 0.5),
        }
    )
    comparison = method_comparison(apart, apart.metric("fid"))
    assert comparison == (
        "FID (lower is better), best run per method: cfg@1 12.00 [11.50, 12.50]; clip@1 20.00 "
        "[19.50, 20.50]. Classifier-free guidance is better: its best interval does not "
        "overlap CLIP guidance's."
    )


def build_document_from_view(view):
    from reports.summary import best_table

    return best_table(view)


def test_real_images_never_on_a_front_nor_best():
    """A real-images point that beats every run changes neither the front nor the best marks."""
    pr = {"recall": (0.5, 0.45, 0.55), "precision": (0.6, 0.55, 0.65)}
    points = {
        ("cfg", 1.0): {"recall": (0.6, 0.5, 0.7), "precision": (0.5, 0.4, 0.6), **_fid(10.0)},
        ("cfg", 2.0): {**pr, **_fid(12.0)},
        ("clip", 1.0): {"recall": (0.4, 0.3, 0.5), "precision": (0.55, 0.5, 0.6), **_fid(14.0)},
    }
    without = compare_methods(_view(points), PLOTS[0])
    points[("real", None)] = {
        "recall": (0.9, 0.85, 0.95),
        "precision": (0.95, 0.9, 1.0),
        **_fid(2.0),
    }
    view = _view(points)
    assert view.real is not None and view.real not in view.runs
    assert view.methods == ("cfg", "clip")
    result = compare_methods(view, PLOTS[0])
    assert result.front == without.front and "real" not in result.points
    assert all(not r.is_real for r in result.front)

    from reports.sections import metrics_table

    table = metrics_table(view)
    assert table.rows[0][0].text == "real images" and table.reference_rows == frozenset({0})
    assert not any(c.best for c in table.rows[0])  # the floor is never "best"
    fid_col = table.header.index("FID ↓")
    assert [r[0].text for r in table.rows if r[fid_col].best] == ["cfg"]


def test_plots_draw_the_floor_apart_from_the_methods(tmp_path):
    from bench.plots import PlotSpec, _points, _real_point, plot_pareto, split_real

    view_rows = []
    for method, scale, fid, is_ in (("cfg", 1.0, 10.0, 5.0), ("cfg", 2.0, 12.0, 7.0)):
        for metric, value, lower in (("fid", fid, True), ("is", is_, False)):
            view_rows.append((method, scale, metric, value, lower))
    view_rows += [("real", NAN, "fid", 1.0, True), ("real", NAN, "is", 20.0, False)]
    table = pd.DataFrame(
        [
            dict(
                run_id=f"{m}{s}", method=m, scale=s, label=m, metric=k, display_name=k.upper(),
                value=v, ci_low=v - 0.5, ci_high=v + 0.5, n=8, lower_is_better=lo,
                extractor="x", notes="",
            )
            for m, s, k, v, lo in view_rows
        ]
    )  # fmt: skip
    plot = PlotSpec("pareto_is_fid", "fid", "is", "IS vs FID")
    generated, real = split_real(table)
    assert set(real["method"]) == {"real"} and "real" not in set(generated["method"])
    assert set(_points(table, plot)["method"]) == {"cfg"}  # the floor is no point of a line
    assert _real_point(table, plot) == {
        "x": 1.0, "x_low": 0.5, "x_high": 1.5, "y": 20.0, "y_low": 19.5, "y_high": 20.5,
    }  # fmt: skip
    written = plot_pareto(table, plot, tmp_path)
    assert written and written[0].stat().st_size > 1000
    svg = (tmp_path / "pareto_is_fid.svg").read_text()
    assert "real images (floor)" in svg  # in the legend


def test_report_of_a_sweep_with_and_without_the_floor(tmp_path):
    with_floor = build_document(load_sweep(make_sweep(tmp_path / "a", scales=(1.0, 3.0))), None)
    metrics = next(b for b in with_floor.section("metrics").blocks if isinstance(b, Table))
    assert metrics.rows[0][0].text == "real images" and metrics.rows[0][1].text == "floor"
    summary = with_floor.section("summary").blocks
    items = next(b for b in summary if isinstance(b, Bullets)).items
    assert any(t.startswith("At n = 8, real images score FID 6.00 [5.76, 6.24]") for t in items)
    assert any(t.startswith("Real images score Caption match 0.8800") for t in items)
    assert any(isinstance(b, Figure) for b in summary)

    old = make_sweep(tmp_path / "b", scales=(1.0, 3.0), real=None)
    report = build_document(load_sweep(old), None)
    metrics = next(b for b in report.section("metrics").blocks if isinstance(b, Table))
    assert all(r[0].text != "real images" for r in metrics.rows)
    texts = [getattr(b, "text", "") for b in report.section("metrics").blocks]
    assert any(t.startswith("Real-data floor: not measured") for t in texts)
    items = next(b for b in report.section("summary").blocks if isinstance(b, Bullets)).items
    assert any(t.startswith("Real-data floor: not measured in this sweep") for t in items)


def _ratings(rows):
    return pd.DataFrame(
        [
            dict(question=q, condition=f"{m}@{s:g}", method=m, scale=s, system="elo",
                 rating=r, ci_low=r - 5, ci_high=r + 5, n_votes=20)
            for q, m, s, r in rows
        ]
    )  # fmt: skip


def test_human_and_automated_order_agreement():
    view = _view(
        {
            ("cfg", 1.0): {**_fid(20.0), "caption_match": (0.3, 0.25, 0.35)},
            ("cfg", 2.0): {**_fid(15.0), "caption_match": (0.5, 0.45, 0.55)},
            ("cfg", 3.0): {**_fid(12.0), "caption_match": (0.7, 0.65, 0.75)},
        }
    )
    # photorealism rises as FID falls: the same order; caption is reversed at 2 vs 3
    ratings = _ratings(
        [("photorealism", "cfg", s, r) for s, r in ((1.0, 0.0), (2.0, 30.0), (3.0, 50.0))]
        + [("caption", "cfg", s, r) for s, r in ((1.0, 0.0), (2.0, 60.0), (3.0, 40.0))]
    )
    photo = order_agreement(ratings, view, "photorealism", view.metric("fid"))
    assert (photo.pairs, photo.concordant, photo.tau) == (3, 3, 1.0)
    caption = order_agreement(ratings, view, "caption", view.metric("caption_match"))
    assert (caption.pairs, caption.concordant) == (3, 2)
    assert caption.best_human == "cfg@2" and caption.best_metric == "cfg@3"
    text = headline_findings(view, ratings)
    assert "Photorealism (Elo) vs FID: they agree in order (3 of 3 pairs" in "\n".join(text)
    assert "Caption (Elo) vs Caption match: they disagree on 1 pair (2 of 3 pairs" in "\n".join(
        text
    )


def test_report_with_ratings_has_the_side_by_side_figure(tmp_path):
    sweep = make_sweep(tmp_path / "s", scales=(1.0, 2.0, 3.0))
    conditions = [(f"{m}@{s:g}", m, s) for m in ("cfg", "clip") for s in (1.0, 2.0, 3.0)]
    ratings = make_ratings(tmp_path / "r", conditions)
    report = build_document(load_sweep(sweep), load_ratings(ratings))
    figures = [b for b in report.section("human").blocks if isinstance(b, Figure)]
    side = figures[0]
    assert side.caption.startswith("Human ratings beside the automated metric")
    assert "photorealism vs FID; caption vs Caption match" in side.caption
    assert side.width > side.height  # two panels side by side, one row per question


def test_runs_better_than_real_images_are_explained_not_celebrated():
    # the demo's case: at n = 48 (< the 256 feature dimensions) generated runs score a lower FID
    # than real images, within the floor's interval (cfg@1) or beyond it (clip@1)
    view = _view(
        {
            ("real", None): _fid(1048.5, 140.0),
            ("cfg", 1.0): _fid(950.0, 60.0),
            ("cfg", 3.0): _fid(1100.0, 60.0),
            ("clip", 1.0): _fid(700.0, 50.0),
        }
    )
    text = sweep_findings(view)
    assert (
        "cfg@1 is better than real images, but within the floor's interval: at n = 32, FID "
        "cannot tell it from real images."
    ) in text
    beyond = next(t for t in text if t.startswith("clip@1 scores better than real images"))
    assert "small-sample bias" in beyond and "do not read it as better than real" in beyond
    # a floor no run beats says nothing of the kind
    plain = _view({("real", None): _fid(900.0, 30.0), ("cfg", 1.0): _fid(1256.0, 40.0)})
    assert not any("better than real images" in t for t in sweep_findings(plain))


def test_a_long_reason_repeated_down_a_column_is_written_once_below_the_table():
    from reports.blocks import Paragraph
    from reports.sections import metrics_section

    long_note = "no value: IS needs splits of 200 images (35 classes) and there are 48"
    rows = []
    for s in (1.0, 2.0, 3.0):
        for metric, v, note in (("fid", 10.0 + s, ""), ("is", NAN, long_note)):
            display, lower, extractor = METRIC_INFO[metric]
            rows.append(
                dict(
                    run_id=f"cfg{s}", method="cfg", scale=s, label=f"cfg@{s:g}", metric=metric,
                    display_name=display, value=v, ci_low=v - 1, ci_high=v + 1, n=48,
                    lower_is_better=lower, extractor=extractor, notes=note,
                )
            )  # fmt: skip
    view = build_view(SweepInputs(Path("."), {}, (), pd.DataFrame(rows), None, {}, {}))
    section = metrics_section(view)
    table = next(b for b in section.blocks if isinstance(b, Table))
    is_col = 2 + [m.name for m in view.metrics].index("is")
    assert {row[is_col].text for row in table.rows} == {"not computed: see note 1 below the table"}
    notes = [b.text for b in section.blocks if isinstance(b, Paragraph)]
    assert f"Note 1 (Inception Score): not computed: {long_note}." in notes
    # a short reason, or one that does not repeat, stays in its cell
    view2 = _view({("cfg", 1.0): {"fid": (NAN, NAN, NAN)}, ("cfg", 2.0): _fid(12.0)})
    table2 = next(b for b in metrics_section(view2).blocks if isinstance(b, Table))
    assert table2.rows[0][2].text == "not computed: no reason recorded"
    # a metric of the plots that the sweep did not compute at all says so, not "no row"
    is_col2 = 2 + [m.name for m in view2.metrics].index("is")
    assert table2.rows[0][is_col2].text == (
        "not computed: the sweep did not compute this metric for any run (see its --metrics)"
    )


def test_guidance_interval_runs_are_series_of_their_own(tmp_path):
    # a sweep with --guidance-interval full and 0.3,3: the same (method, scale) twice, told
    # apart by the results table's guidance_interval column, never merged
    sweep = make_sweep(tmp_path / "s", scales=(1.0, 3.0))
    table = pd.read_csv(sweep / "results.csv")
    table["guidance_interval"] = ""
    interval = table[table["method"] == "cfg"].assign(
        guidance_interval="0.3,3", value=lambda t: t["value"] * 1.5, run_id="x"
    )
    pd.concat([table, interval]).to_csv(sweep / "results.csv", index=False)
    view = build_view(load_sweep(sweep))
    assert "cfg sigma[0.3,3]" in view.methods and "cfg" in view.methods
    fid = {(r.method, r.scale): view.get(r, "fid").value for r in view.runs}
    assert fid[("cfg sigma[0.3,3]", 1.0)] == 1.5 * fid[("cfg", 1.0)]
    from reports.results_view import method_name

    assert method_name("cfg sigma[0.3,3]") == "classifier-free guidance, guided at sigma in [0.3,3]"
