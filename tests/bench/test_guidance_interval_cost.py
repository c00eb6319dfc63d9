"""Guidance intervals and cost in bench (issue 24): run ids change with the interval (and only
when one is set), the command line sweeps intervals, the generator gets the interval, cost.json
is measured and kept, the results table carries interval and cost, and the frontier plots have
cost on an axis."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench.captions import CaptionEntry, CaptionSet
from bench.cost import COST_FILE, network_evaluations, read_cost, record_cost
from bench.cost_plots import cost_points, plot_cost_frontiers
from bench.errors import BenchError
from bench.generate import generate_run
from bench.metrics.registry import MetricResult
from bench.results import COLUMNS, RUN_COLUMNS, build_table
from bench.runfolder import RunFolder
from bench.spec import RunSpec, SweepSettings, content_hash
from bench.sweep_config import GenerationOptions, SweepConfig
from bench.sweep_options import config_from_args, config_to_argv

GLIDE_IDENTITY = {
    "base": {"options": {"diffusion_steps": 1000, "noise_schedule": "linear"}},
    "upsample": {"options": {"diffusion_steps": 1000, "noise_schedule": "linear"}},
}


def settings(**overrides) -> SweepSettings:
    values = dict(
        generator="glide", checkpoints=GLIDE_IDENTITY, captions={"kind": "test"},
        sampler="dpm++2m-sde", steps="15", resolution=64, seed=0, num_samples=4,
    )  # fmt: skip
    values.update(overrides)
    return SweepSettings(**values)


def test_run_ids_change_with_the_interval_and_only_when_set():
    s = settings()
    plain = RunSpec("cfg", 3.0, s)
    # no interval: the spec body (and so the run id) is what it was before intervals existed
    body = {"spec_version": 1, "method": "cfg", "scale": 3.0, **s.to_json()}
    assert "guidance_interval" not in plain.to_json() and plain.run_id == content_hash(body)
    assert "upsample_sampler" not in s.to_json()  # the default (ddim) stays out of the hash
    a = RunSpec("cfg", 3.0, s, guidance_interval=(0.3, 3.0))
    b = RunSpec("cfg", 3.0, s, guidance_interval=(0.28, 5.42))
    assert len({plain.run_id, a.run_id, b.run_id}) == 3
    assert a.label == "cfg@3 sigma[0.3,3]" and a.to_json()["guidance_interval"] == [0.3, 3.0]
    assert RunSpec.from_json(json.loads(json.dumps(a.to_json()))) == a
    assert RunSpec.from_json(plain.to_json()) == plain
    other = settings(upsample_sampler="dpm++2m")
    assert other.to_json()["upsample_sampler"] == "dpm++2m" and other.key() != s.key()
    with pytest.raises(BenchError, match="--guidance-interval"):
        RunSpec("cfg", 3.0, s, guidance_interval=(3.0, 1.0))


def test_the_command_line_sweeps_intervals():
    config = config_from_args(
        ["--guidance-interval", "full", "--guidance-interval", "0.3,3", "--scales", "3"]
    )
    assert config.guidance_intervals == (None, (0.3, 3.0))
    assert config_from_args(config_to_argv(config)) == config
    assert config_from_args([]).guidance_intervals == (None,)
    assert "--guidance-interval" not in config_to_argv(config_from_args([]))
    with pytest.raises(BenchError, match="--generator glide only"):
        SweepConfig(guidance_intervals=((0.3, 3.0),), generation=GenerationOptions("toy"))
    with pytest.raises(BenchError, match="once"):
        SweepConfig(guidance_intervals=((0.3, 3.0), (0.3, 3.0)))
    with pytest.raises(BenchError, match="--guidance-interval"):
        config_from_args(["--guidance-interval", "3"])
    up = config_from_args(["--upsample-sampler", "dpm++2m", "--upsample-steps", "10"])
    assert up.generation.upsample_sampler == "dpm++2m"
    assert config_from_args(config_to_argv(up)) == up


def captions(n: int) -> CaptionSet:
    entries = tuple(CaptionEntry(i, i, i, f"caption {i}") for i in range(n))
    return CaptionSet(entries, Path("."), ())


def test_generate_passes_the_interval_and_records_cost(tmp_path):
    calls = []

    def generate(caps, seeds, method, scale, **extra):
        calls.append(extra)
        return np.zeros((len(caps), 64, 64, 3), np.uint8)

    spec = RunSpec("cfg", 3.0, settings(), guidance_interval=(0.3, 3.0))
    folder = RunFolder(tmp_path, spec)
    stats = generate_run(folder, captions(4), generate, batch_size=3, progress=False)
    assert stats.generated == 4 and calls == [{"guidance_interval": (0.3, 3.0)}] * 2
    cost = read_cost(folder.path)
    assert cost.images == 4 and cost.seconds > 0 and cost.device == "cpu"
    assert cost.dtype == "float32" and cost.batch_size == 3
    # dpm++2m-sde 15 steps with sigma in [0.3, 3]: 15 + 5 guided steps (the rows the
    # classifier-free wrapper runs; glide's tests count them against real calls)
    assert (cost.evaluations_per_image, cost.clip_gradients_per_image) == (20.0, 0.0)
    on_disk = json.loads((folder.path / COST_FILE).read_text())
    assert on_disk["seconds_per_image"] == pytest.approx(cost.seconds / 4)
    # a resumed run with nothing to do keeps the measurement; no interval: no keyword
    calls.clear()
    generate_run(folder, captions(4), generate, batch_size=3, progress=False)
    assert calls == [] and read_cost(folder.path) == cost
    plain = RunFolder(tmp_path, RunSpec("cfg", 3.0, settings()))
    generate_run(plain, captions(4), generate, batch_size=4, progress=False)
    assert calls == [{}] and read_cost(plain.path).evaluations_per_image == 30.0


def test_record_cost_adds_same_settings_and_replaces_others(tmp_path):
    spec = RunSpec("clip", 2.0, settings(resolution=256), guidance_interval=(0.3, 3.0))
    first = record_cost(tmp_path, spec, images=2, seconds=4.0, device="cpu", batch_size=2)
    assert first.seconds_per_image == 2.0
    assert network_evaluations(spec) == (15.0 + 27.0, 5.0)  # unguided U-Net rows; CLIP apart
    added = record_cost(tmp_path, spec, images=2, seconds=2.0, device="cpu", batch_size=2)
    assert (added.images, added.seconds, added.seconds_per_image) == (4, 6.0, 1.5)
    assert record_cost(tmp_path, spec, images=0, seconds=9.0, device="cpu", batch_size=2) == added
    other = record_cost(tmp_path, spec, images=1, seconds=0.5, device="cuda:0", batch_size=2)
    assert (other.images, other.device, other.images_per_second) == (1, "cuda:0", 2.0)
    toy = RunSpec("cfg", 2.0, settings(generator="toy", checkpoints={"toy": 1}))
    assert all(math.isnan(v) for v in network_evaluations(toy))


def _result(value: float) -> MetricResult:
    return MetricResult(value=value, ci_low=value - 1, ci_high=value + 1, n=4, extractor="x")


def test_results_table_and_the_cost_frontier(tmp_path):
    s = settings()
    full = RunSpec("cfg", 3.0, s)
    limited = RunSpec("cfg", 3.0, s, guidance_interval=(0.3, 3.0))
    record_cost(tmp_path / "a", full, images=4, seconds=8.0, device="cpu", batch_size=4)
    record_cost(tmp_path / "b", limited, images=4, seconds=6.0, device="cpu", batch_size=4)
    costs = {full.run_id: read_cost(tmp_path / "a"), limited.run_id: read_cost(tmp_path / "b")}
    runs = [(full, {"fid": _result(10.0)}), (limited, {"fid": _result(9.0)})]
    table = build_table(runs, costs)
    assert list(table.columns) == COLUMNS + RUN_COLUMNS
    rows = {r["guidance_interval"]: r for r in table.to_dict("records")}
    assert rows[""]["seconds_per_image"] == 2.0 and rows["0.3,3"]["seconds_per_image"] == 1.5
    assert rows[""]["evaluations_per_image"] == 30.0 and rows["0.3,3"]["label"] == limited.label
    assert rows[""]["cost_device"] == "cpu" and rows[""]["images_per_second"] == 0.5
    without = build_table(runs)  # no cost record: NaN, never 0
    assert without["seconds_per_image"].isna().all() and (without["cost_device"] == "").all()
    points = cost_points(table, "fid")
    assert sorted(points["x"]) == [1.5, 2.0] and set(points["series"]) == {
        "cfg", "cfg sigma[0.3,3]"
    }  # fmt: skip
    plots = plot_cost_frontiers(table, tmp_path / "plots", "test")
    assert [p.name for p in plots["frontier_fid_cost"]] == [
        "frontier_fid_cost.png", "frontier_fid_cost.svg"
    ]  # fmt: skip
    svg = (tmp_path / "plots" / "frontier_fid_cost.svg").read_text()
    assert "seconds per image" in svg  # cost is the x axis
    assert plots["frontier_clip_score_cost"] == []  # no such metric
    assert cost_points(without, "fid").empty
    table.to_csv(tmp_path / "results.csv", index=False)
    again = pd.read_csv(tmp_path / "results.csv", keep_default_na=False, na_values=["", "nan"])
    assert set(cost_points(again, "fid")["series"]) == {"cfg", "cfg sigma[0.3,3]"}


def test_interval_runs_get_a_grid_of_their_own(tmp_path):
    from bench.grids import make_grids

    def generate(caps, seeds, method, scale, **extra):
        return np.full((len(caps), 64, 64, 3), 40 if extra else 200, np.uint8)

    folders = [
        RunFolder(tmp_path, RunSpec("cfg", s, settings(), guidance_interval=i))
        for s in (1.0, 3.0)
        for i in (None, (0.3, 3.0))
    ]
    for folder in folders:
        generate_run(folder, captions(4), generate, batch_size=4, progress=False)
    grids = make_grids(folders, tmp_path / "grids", rows=2)
    assert set(grids) == {"cfg", "cfg sigma[0.3,3]"}
    assert (
        grids["cfg"].name == "cfg.png" and grids["cfg sigma[0.3,3]"].name == "cfg_sigma_0.3_3.png"
    )
    # each grid holds its own two scales only: two columns, not four
    from PIL import Image

    with Image.open(grids["cfg"]) as a, Image.open(grids["cfg sigma[0.3,3]"]) as b:
        assert a.size == b.size
