"""bench.sampler_quality: configurations, the sweep command of each, the combined table and its
comparison marks (with a stand-in for the sweeps), errors; the real thing on the embedded
default is marked slow."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from bench import sampler_quality as sq


def test_parse_configs_crosses_samplers_and_dtypes():
    configs = sq.parse_configs("ancestral:100,dpm++2m:10", "float32,bfloat16")
    assert [c.label for c in configs] == [
        "ancestral 100 fp32", "dpm++2m 10 fp32", "ancestral 100 bf16", "dpm++2m 10 bf16",
    ]  # fmt: skip
    assert configs[1].folder == "dpmpp2m-10-float32"
    default = sq.parse_configs(sq.DEFAULT_CONFIGS, sq.DEFAULT_DTYPES)
    assert len(default) == 16 and default[0].label == "ancestral 100 fp32"
    assert "dpm++2m-sde 15 bf16" in [c.label for c in default]


def test_parse_configs_reads_section_counts_and_quadratic_spacing():
    configs = sq.parse_configs(
        "dpm++2m-sde:15", "float32", "full", "ddim:fast27,ddim:5,4,1,1,2,dpm++2m-sde:quad13"
    )
    assert [c.upsample for c in configs] == [
        ("ddim", "fast27"), ("ddim", "5,4,1,1,2"), ("dpm++2m-sde", "quad13"),
    ]  # fmt: skip
    assert configs[1].folder == "dpmpp2m-sde-15-float32-up-ddim-5_4_1_1_2"
    assert configs[1].label == "dpm++2m-sde 15 fp32 | up ddim 5,4,1,1,2"
    with pytest.raises(sq.BenchError, match="SAMPLER:STEPS"):
        sq.parse_configs("5,ddim:10", "float32")  # a count with no item before it


@pytest.mark.parametrize(
    "configs,dtypes,match",
    [
        ("euler:10", "float32", "SAMPLER:STEPS"),
        ("ddim", "float32", "SAMPLER:STEPS"),
        ("ddim:0", "float32", "not a respacing"),
        ("ddim:quad", "float32", "not a respacing"),
        ("ddim:5,x", "float32", "SAMPLER:STEPS"),
        ("ddim:10", "float64", "dtypes from"),
        ("ddim:10,ddim:10", "float32", "appears twice"),
    ],
)
def test_parse_configs_errors(configs, dtypes, match):
    with pytest.raises(sq.BenchError, match=match):
        sq.parse_configs(configs, dtypes)


def test_compare_marks():
    base = {"value": 10.0, "ci_low": 8.0, "ci_high": 12.0, "lower_is_better": True}
    row = dict(base)
    assert sq.compare(dict(row, value=11.0, ci_low=9.0, ci_high=13.0), base) == "overlap"
    assert sq.compare(dict(row, value=20.0, ci_low=15.0, ci_high=25.0), base) == "worse"
    assert sq.compare(dict(row, value=4.0, ci_low=3.0, ci_high=5.0), base) == "better"
    higher = dict(base, lower_is_better=False)
    assert sq.compare(dict(higher, value=20.0, ci_low=15.0, ci_high=25.0), higher) == "better"
    assert sq.compare(dict(row, ci_low=math.nan), base) == "n/a"


def _fake_results(folder, sampler: str, steps: str, dtype: str, interval=None) -> None:
    # a deterministic stand-in: fewer steps -> higher FID; bf16 slightly different; the cost
    # columns as bench.results writes them (a guidance interval halves the time)
    fid = 30.0 + 100.0 / int(steps) + (0.5 if dtype == "bfloat16" else 0.0)
    seconds = 0.5 if interval is None else 0.25
    cost = {
        "guidance_interval": "" if interval is None else f"{interval[0]:g},{interval[1]:g}",
        "evaluations_per_image": 2.0 * int(steps) if interval is None else int(steps) + 2.0,
        "clip_gradients_per_image": 0.0, "seconds_per_image": seconds,
        "images_per_second": 1 / seconds, "cost_device": "cpu", "cost_dtype": dtype,
    }  # fmt: skip
    rows = [
        ("fid", "FID", fid, fid - 3, fid + 3, True, "glide-bench-synth"),
        ("caption_match", "Caption match", 0.5, 0.4, 0.6, False, "classifier"),
        ("clip_score", "CLIP score", 25.0, 24.0, 26.0, False, "embedded"),
    ]
    table = pd.DataFrame(
        [
            {"run_id": "x", "method": "cfg", "scale": 3.0, "label": "cfg@3", "metric": m,
             "display_name": name, "value": v, "ci_low": lo, "ci_high": hi, "n": 8,
             "lower_is_better": low, "extractor": ex, "notes": "", **cost}
            for m, name, v, lo, hi, low, ex in rows
        ]
    )  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    table.to_csv(folder / "results.csv", index=False)


def test_main_runs_one_sweep_per_config_and_tabulates(tmp_path, monkeypatch, capsys):
    calls = []

    def fake_run_sweep(config):
        calls.append(config)
        g = config.generation
        _fake_results(config.output.out, g.sampler, g.steps, g.dtype, config.guidance_intervals[0])
        return {"generated": 8, "generation_seconds": 4.0}

    monkeypatch.setattr("bench.sweep.run_sweep", fake_run_sweep)
    argv = ["--configs", "ancestral:100,dpm++2m:10", "--num-samples", "8", "--out",
            str(tmp_path / "out"), "--threads", "0", "--no-progress"]  # fmt: skip
    assert sq.main(argv) == 0
    assert len(calls) == 4
    first = calls[0]
    assert first.generation.sampler == "ancestral" and first.generation.steps == "100"
    assert first.generation.dtype == "float32" and first.methods == ("cfg",)
    assert first.scales == (3.0,) and first.num_samples == 8
    assert first.judges.metrics == ("fid", "caption_match", "attribute_match", "clip_score")
    assert first.judges.extractor == "glide-bench-synth"
    assert first.captions.synthetic_split == "val"  # a tuning tool: never the test split
    assert first.output.out == tmp_path / "out" / "ancestral-100-float32"
    assert not first.output.progress
    assert calls[3].generation.dtype == "bfloat16"
    text = capsys.readouterr().out
    assert "| ancestral 100 fp32 (baseline) | 200 | 0.50 | 31.0 [28.0, 34.0] |" in text
    assert "| dpm++2m 10 fp32 | 20 | 0.50 | 40.0 [37.0, 43.0] - |" in text  # marks: not baseline
    table = pd.read_csv(tmp_path / "out" / "quality.csv")
    assert len(table) == 4 * 3
    fid = table[table.metric == "fid"].set_index("config")
    assert fid.loc["ancestral 100 fp32", "vs_baseline"] == "overlap"
    assert fid.loc["ancestral 100 bf16", "vs_baseline"] == "overlap"
    assert fid.loc["dpm++2m 10 fp32", "vs_baseline"] == "worse"  # 40 [37, 43] vs 31 [28, 34]
    assert (tmp_path / "out" / "quality.md").read_text().startswith("| configuration |")
    # resuming: no new images, the accumulated timing is kept
    calls.clear()
    monkeypatch.setattr(
        "bench.sweep.run_sweep",
        lambda config: calls.append(config) or {"generated": 0, "generation_seconds": 0.0},
    )
    assert sq.main(argv) == 0
    assert "| ancestral 100 fp32 (baseline) | 200 | 0.50 |" in capsys.readouterr().out


def test_guidance_intervals_and_upsampler_rows(tmp_path, monkeypatch, capsys):
    calls = []

    def fake_run_sweep(config):
        calls.append(config)
        g = config.generation
        _fake_results(config.output.out, g.sampler, g.steps, g.dtype, config.guidance_intervals[0])
        return {}

    monkeypatch.setattr("bench.sweep.run_sweep", fake_run_sweep)
    argv = ["--configs", "dpm++2m-sde:15", "--dtypes", "float32", "--guidance-intervals",
            "full;0.3,3", "--upsample-configs", "ddim:fast27,dpm++2m:10", "--num-samples", "8",
            "--out", str(tmp_path / "out"), "--threads", "0", "--no-progress"]  # fmt: skip
    assert sq.main(argv) == 0
    assert [c.guidance_intervals for c in calls] == [(None,), ((0.3, 3.0),)] * 2
    assert {(c.generation.resolution, c.generation.upsample_sampler, c.generation.upsample_steps)
            for c in calls} == {(256, "ddim", "fast27"), (256, "dpm++2m", "10")}  # fmt: skip
    assert calls[1].output.out.name == "dpmpp2m-sde-15-float32-gi0.3_3-up-ddim-fast27"
    out = capsys.readouterr().out
    # the goal lines: the interval halves the (fake) time at overlapping quality; the upsampler
    # at 10 steps makes 2.7x fewer evaluations than fast27
    assert (
        "guidance interval: dpm++2m-sde 15 fp32 sigma[0.3,3] | up ddim fast27 vs dpm++2m-sde 15 "
        "fp32 | up ddim fast27: 2.00x fewer seconds per image" in out
    )
    assert "upsampler: dpm++2m-sde 15 fp32 | up dpm++2m 10 vs dpm++2m-sde 15 fp32 | up ddim " \
        "fast27: 2.70x fewer upsampler evaluations (10 vs 27)" in out  # fmt: skip
    assert "equal (every metric's interval overlaps)" in out
    # the table keeps its columns: a label's "|" is escaped in its markdown cell
    md = (tmp_path / "out" / "quality.md").read_text().split("\n")
    rows = [line for line in md if line.startswith("| dpm++2m-sde")]
    assert rows[0].startswith("| dpm++2m-sde 15 fp32 \\| up ddim fast27 (baseline) |")
    assert len({line.replace("\\|", "").count("|") for line in rows + md[:1]}) == 1
    table = pd.read_csv(tmp_path / "out" / "quality.csv", keep_default_na=False)
    assert set(table.guidance_interval) == {"", "0.3,3"}
    assert set(table.seconds_per_image) == {0.5, 0.25}
    for metric in ("fid", "caption_match", "clip_score"):
        assert (tmp_path / "out" / f"quality_vs_cost_{metric}.png").is_file()
    assert sq.main(argv[:6] + ["--guidance-intervals", "3"]) == 2


def test_bad_options(capsys):
    assert sq.main(["--configs", "euler:10"]) == 2
    assert "SAMPLER:STEPS" in capsys.readouterr().err
    assert sq.main(["--num-samples", "1"]) == 2
    assert sq.main(["--method", "both"]) == 2
    assert sq.main(["--scale", "x"]) == 2


@pytest.mark.slow
def test_on_the_embedded_default(tmp_path):
    from glide.embedded import embedded_files

    if not embedded_files()["base.pt"]:
        pytest.skip("embedded default weights not installed")
    argv = ["--configs", "ancestral:4,dpm++2m:3", "--num-samples", "4", "--batch-size", "4",
            "--out", str(tmp_path / "q"), "--cache-dir", str(tmp_path / "cache"),
            "--no-progress", "--threads", "0"]  # fmt: skip
    assert sq.main(argv) == 0
    table = pd.read_csv(tmp_path / "q" / "quality.csv")
    assert set(table.metric) == set(sq.METRICS), set(table.metric)
    assert len(table) == 4 * len(sq.METRICS), len(table)
    assert table.value.notna().all()
