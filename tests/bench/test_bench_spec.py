"""Run specs: scale/method parsing, content-hash run ids, per-sample seeds."""

from __future__ import annotations

import pytest

from bench.errors import BenchError
from bench.spec import (
    RunSpec,
    SweepSettings,
    check_steps,
    parse_methods,
    parse_scales,
    sample_seed,
    step_count,
)


def settings(**overrides) -> SweepSettings:
    base = dict(
        generator="toy",
        checkpoints={"toy_version": 1},
        captions={"kind": "coco", "ids_sha256": "abc"},
        sampler="ancestral",
        steps="50",
        resolution=64,
        seed=0,
        num_samples=8,
    )
    base.update(overrides)
    return SweepSettings(**base)


def test_parse_scales_accepts_numbers():
    assert parse_scales("1,2,3") == (1.0, 2.0, 3.0)
    assert parse_scales(" 0, 1.5 ,10") == (0.0, 1.5, 10.0)


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("1,,2", "empty item"),
        ("abc", "'abc'"),
        ("1,-2", "'-2'"),
        ("", "--scales"),
        ("1,nan", "finite"),
        ("2,2", "twice"),
        ("1,", "empty item"),
    ],
)
def test_parse_scales_refuses_bad_input(text, fragment):
    with pytest.raises(BenchError, match="--scales") as info:
        parse_scales(text)
    assert fragment in str(info.value)


def test_parse_methods():
    assert parse_methods(["cfg"]) == ("cfg",)
    assert parse_methods(["cfg,clip"]) == ("cfg", "clip")
    assert parse_methods(["clip", "cfg", "clip"]) == ("clip", "cfg")
    with pytest.raises(BenchError, match="unknown method 'dalle'.*cfg, clip"):
        parse_methods(["dalle"])


def test_run_id_is_a_content_hash():
    a = RunSpec("cfg", 3, settings())
    assert a.run_id == RunSpec("cfg", 3.0, settings()).run_id
    assert a.label == "cfg@3"
    assert len(a.run_id) == 12
    others = {
        RunSpec("clip", 3, settings()).run_id,
        RunSpec("cfg", 2, settings()).run_id,
        RunSpec("cfg", 3, settings(steps="100")).run_id,
        RunSpec("cfg", 3, settings(seed=1)).run_id,
        RunSpec("cfg", 3, settings(captions={"kind": "coco", "ids_sha256": "abd"})).run_id,
    }
    assert a.run_id not in others and len(others) == 5
    assert RunSpec.from_json(a.to_json()) == a


def test_edited_spec_is_refused():
    data = RunSpec("cfg", 3, settings()).to_json()
    data["steps"] = "100"
    with pytest.raises(BenchError, match="does not match its content"):
        RunSpec.from_json(data)


def test_settings_validation_names_the_option():
    with pytest.raises(BenchError, match="--sampler"):
        settings(sampler="euler")
    with pytest.raises(BenchError, match="--resolution"):
        settings(resolution=128)
    with pytest.raises(BenchError, match="--steps"):
        settings(steps="ten")


@pytest.mark.parametrize(
    "steps,count",
    [("100", 100), ("fast27", 27), ("ddim50", 50), ("5,4,1,1,2", 13), (" 5, 4,1,1,2", 13),
     ("quad13", 13)],
)  # fmt: skip
def test_respacing_forms_and_their_step_counts(steps, count):
    assert step_count(check_steps(steps, "--upsample-steps")) == count


@pytest.mark.parametrize("steps", ["ten", "5,", "5,0", "quad", "quad0", "fast13", "ddim", "-5"])
def test_bad_respacings_name_the_option_and_the_forms(steps):
    with pytest.raises(BenchError, match="--upsample-steps.*section counts.*quadN"):
        check_steps(steps, "--upsample-steps")


@pytest.mark.parametrize("steps", ["quad100", "quad1", "ddim999", "1001"])
def test_respacings_the_1000_training_steps_cannot_take_are_refused(steps):
    with pytest.raises(BenchError, match=f"--upsample-steps: timestep_respacing='{steps}'"):
        check_steps(steps, "--upsample-steps")


def test_sample_seed_depends_only_on_seed_and_index():
    assert sample_seed(0, 5) == sample_seed(0, 5)
    seeds = {sample_seed(0, i) for i in range(1000)}
    assert len(seeds) == 1000
    assert sample_seed(1, 5) != sample_seed(0, 5)
    assert all(0 <= s < 2**63 for s in seeds)
