"""Findings computed from the numbers: dominance, saturation, best scales (hand-made cases)."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
from report_fakes import METRIC_INFO

from reports.findings import (
    PLOTS,
    best_scale_sentence,
    compare_methods,
    dominance_sentence,
    dominates,
    ratings_findings,
    saturation,
    sweep_findings,
)
from reports.inputs import SweepInputs
from reports.results_view import build_view

PR = PLOTS[0]  # precision (y) vs recall (x)
NAN = math.nan


def _view(points: dict[tuple[str, float], dict[str, float | tuple[float, float, float]]]):
    """A ResultsView from {(method, scale): {metric: value or (value, low, high)}}."""
    rows = []
    for (method, scale), metrics in points.items():
        for metric, value in metrics.items():
            v, lo, hi = value if isinstance(value, tuple) else (value, NAN, NAN)
            display, lower, extractor = METRIC_INFO[metric]
            rows.append(
                dict(
                    run_id=f"{method}{scale}",
                    method=method,
                    scale=scale,
                    label=f"{method}@{scale:g}",
                    metric=metric,
                    display_name=display,
                    value=v,
                    ci_low=lo,
                    ci_high=hi,
                    n=10,
                    lower_is_better=lower,
                    extractor=extractor,
                    notes="" if v == v else "too few images",
                )
            )
    table = pd.DataFrame(rows)
    return build_view(SweepInputs(Path("."), {}, (), table, None, {}, {}))


def test_dominates_respects_directions():
    assert dominates((0.5, 0.8), (0.4, 0.8), (False, False))
    assert not dominates((0.5, 0.8), (0.5, 0.8), (False, False))  # equal: no
    assert not dominates((0.5, 0.7), (0.4, 0.8), (False, False))  # a trade-off
    assert dominates((10.0, 20.0), (12.0, 20.0), (True, False))  # lower FID, same IS


def test_one_method_dominates_on_a_hand_made_case():
    cfg = {1.0: (0.6, 0.7), 2.0: (0.5, 0.8), 3.0: (0.4, 0.9)}  # scale: (recall, precision)
    clip = {1.0: (0.5, 0.6), 2.0: (0.4, 0.7), 3.0: (0.3, 0.8)}  # each one below a cfg point
    points = {("cfg", s): {"recall": r, "precision": p} for s, (r, p) in cfg.items()}
    points |= {("clip", s): {"recall": r, "precision": p} for s, (r, p) in clip.items()}
    view = _view(points)
    result = compare_methods(view, PR)
    assert result.better == "cfg"
    assert result.dominated[("cfg", "clip")] == 3 and result.dominated[("clip", "cfg")] == 0
    assert [r.label for r in result.front] == ["cfg@1", "cfg@2", "cfg@3"]
    text = dominance_sentence(view, PR)
    assert text.startswith("Precision vs recall: classifier-free guidance is Pareto-better")
    assert "3 of 3 CLIP guidance points are dominated by a classifier-free guidance point" in text

    # one CLIP point with the best recall of all: now neither method dominates
    points[("clip", 0.5)] = {"recall": 0.7, "precision": 0.55}
    view = _view(points)
    result = compare_methods(view, PR)
    assert result.better is None
    assert "clip@0.5" in [r.label for r in result.front]
    assert "neither method is Pareto-better" in dominance_sentence(view, PR)


def test_dominance_with_lower_is_better_axis_and_missing_points():
    plot = PLOTS[1]  # IS (y, higher) vs FID (x, lower)
    points = {
        ("cfg", 1.0): {"fid": 10.0, "is": 20.0},
        ("cfg", 2.0): {"fid": 12.0, "is": 25.0},
        ("clip", 1.0): {"fid": 11.0, "is": 19.0},  # dominated by cfg@1
        ("clip", 2.0): {"fid": NAN, "is": 30.0},  # FID missing: left out, not a winner
    }
    view = _view(points)
    result = compare_methods(view, plot)
    assert result.better == "cfg"
    assert [r.label for r in result.left_out] == ["clip@2"]
    assert "Left out, a coordinate not computed: clip@2" in dominance_sentence(view, plot)


def test_dominance_not_compared_when_a_metric_is_missing():
    view = _view({("cfg", 1.0): {"fid": 10.0}, ("clip", 1.0): {"fid": 11.0}})
    assert dominance_sentence(view, PLOTS[0]) == (
        "Precision vs recall: not compared: Recall and Precision not computed."
    )
    one = _view({("cfg", 1.0): {"recall": 0.5, "precision": 0.5}})
    assert "fewer than two methods" in dominance_sentence(one, PLOTS[0])


@pytest.mark.parametrize(
    ("series", "verdict", "scale"),
    [
        ([(1, 0.2), (2, 0.5), (3, 0.8), (4, 0.81)], "saturates", 3),
        ([(1, 0.1), (2, 0.2), (3, 0.3), (4, 0.4)], "rising", None),
        ([(1, 0.5), (2, 0.4), (3, 0.3)], "no_gain", None),
        ([(1, 0.2), (2, 0.9)], "too_few", None),
        ([(1, 0.2), (2, 0.9), (3, 0.7), (4, 0.6)], "saturates", 2),  # peaks, then falls
        ([(1, 0.2), (2, NAN), (3, 0.8), (4, 0.8)], "saturates", 3),  # NaN skipped, not 0
    ],
)
def test_saturation_rule(series, verdict, scale):
    result = saturation(series)
    assert result.verdict == verdict
    assert result.scale == scale


def test_saturation_sentences_in_findings():
    points = {}
    for s, cm in ((1.0, 0.2), (2.0, 0.6), (3.0, 0.79), (4.0, 0.8)):
        points[("cfg", s)] = {"caption_match": cm, "clip_score": 20 + s}
        points[("clip", s)] = {"caption_match": cm / 2, "clip_score": 20 + s / 2}
    text = "\n".join(sweep_findings(_view(points)))
    assert "Caption match, classifier-free guidance: saturates at scale 3 (0.7900" in text
    assert "CLIP score, CLIP guidance: not saturated within the sweep" in text


def test_best_fid_scale_names_overlapping_intervals():
    points = {
        ("cfg", 1.0): {"fid": (15.0, 14.0, 16.0)},
        ("cfg", 1.5): {"fid": (12.0, 11.0, 13.5)},
        ("cfg", 3.0): {"fid": (13.0, 12.8, 13.2)},  # overlaps the best one's interval
        ("cfg", 5.0): {"fid": (20.0, 19.0, 21.0)},
    }
    view = _view(points)
    text = best_scale_sentence(view, view.metric("fid"), "cfg")
    assert text == (
        "FID, classifier-free guidance: best at scale 1.5 (12.00 [11.00, 13.50]); "
        "its interval overlaps that of scale 3."
    )


def test_ratings_findings_pick_the_top_condition():
    ratings = pd.DataFrame(
        [
            dict(
                question="caption",
                condition=c,
                method=m,
                scale=s,
                system="elo",
                rating=r,
                ci_low=r - 10,
                ci_high=r + 10,
                n_votes=20,
            )
            for c, m, s, r in (
                ("cfg@1", "cfg", 1.0, 0.0),
                ("cfg@3", "cfg", 3.0, 110.0),
                ("clip@2", "clip", 2.0, 95.0),
                ("clip@4", "clip", 4.0, 40.0),
            )
        ]
    )
    (text,) = ratings_findings(ratings)
    assert text == (
        "caption (elo): highest rated cfg@3 (110.0 [100.0, 120.0]); "
        "its interval overlaps that of clip@2."
    )
