"""The pure Pareto-front function on hand-made points."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bench.pareto import pareto_front


def test_two_maximised_axes():
    pts = [(1, 5), (2, 4), (3, 3), (2, 2), (1, 1), (3, 3)]
    # (2,2) is beaten by (2,4) and (3,3); (1,1) by everything; duplicates (3,3) both stay.
    assert pareto_front(pts, ["max", "max"]).tolist() == [True, True, True, False, False, True]


def test_mixed_directions_fid_vs_is():
    # x = FID (min), y = IS (max)
    pts = np.array([[10.0, 20.0], [12.0, 25.0], [11.0, 19.0], [15.0, 24.0], [9.0, 15.0]])
    assert pareto_front(pts, ["min", "max"]).tolist() == [True, True, False, False, True]


def test_equal_on_one_axis_better_on_other_dominates():
    assert pareto_front([(1, 1), (1, 2)], ["min", "max"]).tolist() == [False, True]


def test_nan_is_never_on_the_front_and_ignored_as_competitor():
    pts = [(1.0, math.nan), (0.0, 0.0), (2.0, 2.0)]
    assert pareto_front(pts, ["max", "max"]).tolist() == [False, False, True]


def test_single_point_and_three_dimensions():
    assert pareto_front([(3, 4)], ["min", "min"]).tolist() == [True]
    pts = [(1, 1, 1), (0, 2, 1), (0, 0, 0), (1, 1, 0)]
    assert pareto_front(pts, ["max"] * 3).tolist() == [True, True, False, False]


def test_bad_arguments():
    with pytest.raises(ValueError, match="directions"):
        pareto_front([(1, 2)], ["max", "up"])
    with pytest.raises(ValueError, match="2 coordinates"):
        pareto_front([(1, 2)], ["max"])
