"""Beta schedules and respacing: closed forms, the reference's manifests, hand-derived sets,
property tests for the string forms and clear errors for bad input."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from glide.diffusion import create_diffusion
from glide.errors import GlideError
from glide.schedule import get_named_beta_schedule, respace_betas, space_timesteps


def test_cosine_schedule_matches_closed_form():
    T = 1000
    f = np.cos((np.arange(T + 1) / T + 0.008) / 1.008 * np.pi / 2) ** 2
    expected = np.minimum(1 - f[1:] / f[:-1], 0.999)
    betas = get_named_beta_schedule("squaredcos_cap_v2", T)
    assert betas.dtype == np.float64 and betas.shape == (T,)
    np.testing.assert_allclose(betas, expected, rtol=1e-12, atol=0)
    assert betas[-1] == 0.999  # the cap


@pytest.mark.parametrize("T", [1000, 250, 4000])
def test_linear_schedule_scaled(T):
    betas = get_named_beta_schedule("linear", T)
    assert betas[0] == pytest.approx(1e-4 * 1000 / T, rel=1e-15)
    assert betas[-1] == pytest.approx(0.02 * 1000 / T, rel=1e-15)
    assert np.allclose(np.diff(betas), (betas[-1] - betas[0]) / (T - 1), rtol=1e-9)


@pytest.mark.parametrize("name,schedule", [("base", "squaredcos_cap_v2"), ("upsample", "linear")])
def test_full_process_betas_match_reference_manifest(reference_dir, name, schedule):
    ref = json.loads((reference_dir / "manifests" / f"{name}.json").read_text())["diffusion"]
    d = create_diffusion(1000, schedule, "")
    # exact: the reference rebuilds betas from alphas_cumprod even with no respacing
    assert list(d.betas[:5]) == ref["betas_first5"]
    assert list(d.betas[-5:]) == ref["betas_last5"]
    assert d.alphas_cumprod[-1] == ref["alphas_cumprod_last"]


# Sets derived by hand from the rules (section sizes, stride (size-1)/(count-1), round half even).
FAST27 = [0, 22, 44, 66, 88, 111, 133, 155, 177, 199]
FAST27 += [200, 222, 244, 266, 288, 311, 333, 355, 377, 399]
FAST27 += [400, 500, 599, 600, 799, 800, 997]


@pytest.mark.parametrize(
    "spec,expected",
    [
        ("10", [0, 111, 222, 333, 444, 555, 666, 777, 888, 999]),
        ("1", [0]),
        ("2", [0, 999]),
        ("1000", list(range(1000))),
        # "27": 13 accumulated strides of 999/26 sum to 499.49999999999983, so the reference
        # keeps 499 where the exact 13 * 999 / 26 = 499.5 would round (half even) to 500.
        (
            "27",
            [round(i * 999 / 26) for i in range(13)]
            + [499]
            + [round(i * 999 / 26) for i in range(14, 27)],
        ),
        ("100", [round(i * 999 / 99) for i in range(100)]),
        ("fast27", FAST27),
        ("10,10,3,2,2", FAST27[:-1] + [999]),
        ("ddim50", list(range(0, 1000, 20))),
        ("ddim3", [0, 334, 668]),  # smallest stride s with ceil(1000/s) == 3
        ("ddim7", list(range(0, 1000, 143))),
        ("ddim1000", list(range(1000))),
        ("1,1,1", [0, 334, 667]),
        ("quad13", [round(999 * (i / 12) ** 2) for i in range(13)]),
        ("quad2", [0, 999]),  # sections of 334, 333, 333 steps
        (" 5 ", [0, 250, 500, 749, 999]),  # 249.75 -> 250, 499.5 -> 500 (even), 749.25 -> 749
    ],
)
def test_respacing_sets(spec, expected):
    assert sorted(space_timesteps(1000, spec)) == expected


def test_respacing_accepts_a_sequence():
    assert space_timesteps(1000, [10, 10, 3, 2, 2]) == space_timesteps(1000, "10,10,3,2,2")


def test_respaced_betas_keep_alpha_bar_at_kept_steps():
    full = create_diffusion(1000, "squaredcos_cap_v2", "")
    for spec in ["100", "27", "fast27", "ddim25", "10,10,3,2,2"]:
        d = create_diffusion(1000, "squaredcos_cap_v2", spec)
        keep = sorted(space_timesteps(1000, spec))
        assert d.timestep_map.tolist() == keep
        np.testing.assert_allclose(d.alphas_cumprod, full.alphas_cumprod[keep], rtol=1e-8)
    betas, tmap = respace_betas(full.alphas_cumprod, [0, 500, 999])
    abar = full.alphas_cumprod
    np.testing.assert_allclose(
        betas, [1 - abar[0], 1 - abar[500] / abar[0], 1 - abar[999] / abar[500]], rtol=1e-14
    )
    assert tmap.dtype == np.int64 and tmap.tolist() == [0, 500, 999]


@settings(max_examples=200, deadline=None)
@given(
    T=st.integers(1, 3000),
    counts=st.lists(st.integers(1, 60), min_size=1, max_size=6),
)
def test_section_counts_property(T, counts):
    k = len(counts)
    sizes = [T // k + (1 if i < T % k else 0) for i in range(k)]
    spec = ",".join(map(str, counts))
    if any(c > s for c, s in zip(counts, sizes, strict=True)):
        with pytest.raises(GlideError, match="cannot hold"):
            space_timesteps(T, spec)
        return
    steps = space_timesteps(T, spec)
    assert len(steps) == sum(counts)  # sections are disjoint, strides >= 1
    starts = np.cumsum([0] + sizes[:-1])
    for start, size, count in zip(starts, sizes, counts, strict=True):
        inside = sorted(s for s in steps if start <= s < start + size)
        assert len(inside) == count
        assert inside[0] == start
        if count > 1:
            assert inside[-1] == start + size - 1  # both ends of the section kept


@settings(max_examples=200, deadline=None)
@given(T=st.integers(2, 3000), n=st.integers(1, 3000))
def test_ddim_property(T, n):
    strides = [s for s in range(1, T) if math.ceil(T / s) == n]
    if not strides:
        with pytest.raises(GlideError, match="no integer stride"):
            space_timesteps(T, f"ddim{n}")
        return
    assert space_timesteps(T, f"ddim{n}") == set(range(0, T, strides[0]))


@settings(max_examples=200, deadline=None)
@given(T=st.integers(2, 3000), n=st.integers(2, 200))
def test_quadratic_spacing_property(T, n):
    try:
        steps = sorted(space_timesteps(T, f"quad{n}"))
    except GlideError as err:
        assert "repeated indices" in str(err) and repr(f"quad{n}") in str(err)
        wanted = [round((T - 1) * (i / (n - 1)) ** 2) for i in range(n)]
        assert len(set(wanted)) < n  # refused only when two steps really collide
        return
    assert len(steps) == n and steps[0] == 0 and steps[-1] == T - 1
    gaps = np.diff(steps)
    assert np.all(gaps[1:] >= gaps[:-1] - 1)  # denser at low noise (up to rounding)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=12))
def test_malformed_strings_raise_clear_errors(text):
    stripped = text.strip()
    valid_counts = stripped and all(
        p.strip().isdigit() and p.strip().isascii() for p in text.split(",")
    )
    valid_ddim = stripped.startswith("ddim") and stripped[4:].isdigit()
    quad = stripped.startswith("quad") and stripped[4:].isascii() and stripped[4:].isdigit()
    if quad and int(stripped[4:]) >= 2:
        return  # valid up to rounding collisions: test_quadratic_spacing_property
    if valid_counts or valid_ddim or stripped == "fast27":
        return
    with pytest.raises(GlideError, match="timestep_respacing"):
        space_timesteps(1000, text)


@pytest.mark.parametrize(
    "spec",
    [
        "",
        "abc",
        "10,",
        ",10",
        "10;10",
        "ddim",
        "ddimx",
        "ddim-5",
        "-5",
        "1.5",
        "1_0",
        "ddim0",
        "0",
        "10,0,3",
        "fast26",
        "quad",
        "quad1",
        "quad0",
        "quad-3",
        "quad100",  # collides near t = 0
    ],
)
def test_bad_respacing_strings(spec):
    with pytest.raises(GlideError, match="timestep_respacing") as info:
        space_timesteps(1000, spec)
    assert repr(spec) in str(info.value)


def test_bad_schedule_and_steps():
    with pytest.raises(GlideError, match="'cosine' is unknown.*squaredcos_cap_v2"):
        get_named_beta_schedule("cosine", 1000)
    for steps in [0, -3, 2.5, True, "1000"]:
        with pytest.raises(GlideError, match="positive integer"):
            get_named_beta_schedule("linear", steps)
        with pytest.raises(GlideError, match="positive integer"):
            space_timesteps(steps, "10")
    with pytest.raises(GlideError, match="cannot hold 10 steps"):
        space_timesteps(5, "10")
    with pytest.raises(GlideError, match="no integer stride gives exactly 999"):
        space_timesteps(1000, "ddim999")
    with pytest.raises(GlideError, match="fast27"):
        space_timesteps(40, "fast27")
    with pytest.raises(GlideError):
        create_diffusion(1000, "squaredcos_cap_v2", "1001")
    with pytest.raises(GlideError, match="unknown"):
        create_diffusion(1000, "quad")


@settings(max_examples=100, deadline=None)
@given(
    name=st.text(max_size=20).filter(lambda s: s not in ("squaredcos_cap_v2", "linear")),
    steps=st.integers(-10_000, 0),
)
def test_unknown_schedules_and_nonpositive_steps_property(name, steps):
    with pytest.raises(GlideError, match="is unknown; choose one of"):
        get_named_beta_schedule(name, 1000)
    with pytest.raises(GlideError, match="positive integer"):
        get_named_beta_schedule("linear", steps)
    with pytest.raises(GlideError, match="positive integer"):
        create_diffusion(steps, "squaredcos_cap_v2", "10")
