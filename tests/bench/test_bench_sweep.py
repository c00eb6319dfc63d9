"""The sweep CLI end to end with the toy generator: folders, tables, plots, idempotence,
resumption after an interruption, torchrun sharding, and clear errors for bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from bench.captions import load_caption_set
from bench.generate import generate_run
from bench.generators import GeneratorOptions, build_generator
from bench.results import COLUMNS, RUN_COLUMNS
from bench.runfolder import RunFolder
from bench.spec import RunSpec, SweepSettings
from bench.sweep import main

REPO = Path(__file__).resolve().parents[2]
TINY_CLIP = "bench-test-tiny-clip"  # registered by the tiny_clip fixture (conftest.py)


def base_args(coco, out: Path, cache: Path) -> list[str]:
    captions, images = coco
    return [
        "--generator",
        "toy",
        "--coco-captions",
        str(captions),
        "--coco-images",
        str(images),
        "--num-samples",
        "12",
        "--steps",
        "3",
        "--batch-size",
        "5",
        "--out",
        str(out),
        "--cache-dir",
        str(cache),
        "--no-progress",
    ]


def run_images(out: Path) -> dict[str, dict[str, bytes]]:
    """{label: {file: bytes}} for every run folder under ``out``."""
    result = {}
    for spec_path in sorted((out / "runs").glob("*/spec.json")):
        spec = json.loads(spec_path.read_text())
        folder = spec_path.parent
        result[spec["label"]] = {
            p.name: p.read_bytes() for p in sorted((folder / "images").glob("*.png"))
        }
    return result


def manifest_lines(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "manifest.jsonl").read_text().splitlines()]


def test_sweep_end_to_end_and_idempotent(coco, tmp_path, test_extractor, tiny_clip, capsys):
    out = tmp_path / "sweep"
    argv = base_args(coco, out, tmp_path / "cache") + [
        "--method",
        "cfg,clip",
        "--scales",
        "0,1,3",
        "--fid-splits",
        "3",
        "--metrics",
        "fid,is,kid,precision,recall,clip_score",
        "--extractor",
        test_extractor,
        "--clip-model",
        TINY_CLIP,
        "--clip-pretrained",
        str(tiny_clip),
    ]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert f"results table: {out / 'results.csv'}" in printed
    assert "generated 72 images" in printed and "images/s" in printed

    runs = sorted((out / "runs").iterdir())
    assert len(runs) == 6
    for folder in runs:
        spec = json.loads((folder / "spec.json").read_text())
        assert (
            spec["run_id"] == folder.name and spec["label"] == f"{spec['method']}@{spec['scale']:g}"
        )
        lines = manifest_lines(folder)
        assert [r["index"] for r in lines] == list(range(12))
        assert set(lines[0]) >= {"index", "caption_id", "caption", "seed", "file"}
        assert all((folder / r["file"]).is_file() for r in lines)
        metrics = json.loads((folder / "metrics.json").read_text())["metrics"]
        assert set(metrics) == {"fid", "is", "kid", "precision", "recall", "clip_score"}

    table = pd.read_csv(out / "results.csv")
    assert list(table.columns) == COLUMNS + RUN_COLUMNS
    assert len(table) == 36
    fidelity = table[table["metric"] != "clip_score"]
    assert set(fidelity["extractor"]) == {test_extractor}
    assert fidelity["resize"].str.len().min() > 0  # every fidelity number says how it resized
    assert table[table["metric"] == "clip_score"]["resize"].fillna("").eq("").all()
    clip_judges = set(table[table["metric"] == "clip_score"]["extractor"])
    assert clip_judges == {f"open_clip {TINY_CLIP} (GELU)"}
    # 12 images are fewer than one IS split (50 for 10 classes): no value, and a note says why
    is_rows = table[table["metric"] == "is"]
    assert is_rows["value"].isna().all() and is_rows["notes"].str.contains("no value").all()
    valued = table[table["metric"] != "is"]
    assert valued["value"].notna().all() and (valued["ci_low"] <= valued["ci_high"]).all()
    parquet = pd.read_parquet(out / "results.parquet")
    assert parquet["value"].tolist() == pytest.approx(table["value"].tolist(), nan_ok=True)
    for name in ("pareto_pr", "pareto_clip_fid"):
        assert (out / "plots" / f"{name}.png").stat().st_size > 1000
        assert (out / "plots" / f"{name}.svg").read_text().lstrip().startswith("<?xml")
    assert (
        "plot pareto_is_fid: not drawn: fid or is has no value in any run (the notes column of "
        "results.csv says why)"
    ) in printed
    assert (out / "grids" / "cfg.png").is_file() and (out / "grids" / "clip.png").is_file()
    sweep = json.loads((out / "sweep.json").read_text())
    assert sweep["captions"]["kind"] == "coco" and sweep["captions"]["subset_seed"] == 0
    assert sweep["evaluation"]["extractor"]["name"] == test_extractor
    assert len(sweep["runs"]) == 6 and "created_at" in sweep and sweep["versions"]["torch"]

    # same per-sample noise for every scale/method: at scale 0 the toy ignores the caption
    images = run_images(out)
    assert images["cfg@0"] == images["clip@0"]
    assert images["cfg@0"] != images["cfg@3"]

    # a second run recomputes nothing
    stamps = {p: p.stat().st_mtime_ns for p in out.glob("runs/*/*")}
    assert main(argv) == 0
    assert "generated 0 images" in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in out.glob("runs/*/*")} == stamps
    assert pd.read_csv(out / "results.csv").equals(table)


def _toy_run(coco, out: Path, batch_size: int, generate=None):
    captions = load_caption_set(*coco, num_samples=12, seed=0)
    options = GeneratorOptions(None, "cpu", "float32", "ancestral", "3", 64, ("cfg",))
    fn, description = build_generator("toy", options)
    settings = SweepSettings(
        generator="toy",
        checkpoints=description["identity"],
        captions=captions.spec_record(),
        sampler="ancestral",
        steps="3",
        resolution=64,
        seed=0,
        num_samples=12,
    )
    folder = RunFolder(out, RunSpec("cfg", 2.0, settings))
    return (
        generate_run(folder, captions, generate or fn, batch_size=batch_size, progress=False),
        folder,
        fn,
    )


def test_resume_after_interruption_gives_identical_images(coco, tmp_path):
    _, clean, fn = _toy_run(coco, tmp_path / "clean", batch_size=5)
    calls = []

    def flaky(captions, seeds, method, scale):
        calls.append(len(captions))
        if len(calls) == 2:
            raise KeyboardInterrupt  # killed during the second batch
        return fn(captions, seeds, method, scale)

    with pytest.raises(KeyboardInterrupt):
        _toy_run(coco, tmp_path / "resumed", batch_size=5, generate=flaky)
    folder = tmp_path / "resumed" / "runs" / clean.spec.run_id
    assert len(manifest_lines(folder)) == 5
    # what a kill can leave behind: a half-written temp PNG, a truncated manifest line, and an
    # image whose manifest line never got written
    (folder / "images" / ".00007.png.x.tmp").write_bytes(b"\x89PNG half")
    with open(folder / "manifest.jsonl", "a") as handle:
        handle.write('{"index": 5, "file": "images/000')
    (folder / "images" / "00006.png").write_bytes((clean.path / "images/00006.png").read_bytes())

    stats, resumed, _ = _toy_run(coco, tmp_path / "resumed", batch_size=5)
    assert stats.generated == 7 and stats.skipped == 5
    resumed.compact()
    lines = manifest_lines(resumed.path)
    assert [r["index"] for r in lines] == list(range(12))
    assert lines == manifest_lines(clean.path) or [r["seed"] for r in lines] == [
        r["seed"] for r in manifest_lines(clean.path)
    ]
    for i in range(12):
        name = f"images/{i:05d}.png"
        assert (resumed.path / name).read_bytes() == (clean.path / name).read_bytes()
    again, _, _ = _toy_run(coco, tmp_path / "resumed", batch_size=5)
    assert again.generated == 0


@pytest.mark.timeout(300)
def test_torchrun_two_processes_equal_one(coco, tmp_path):
    args = ["--method", "cfg", "--method", "clip", "--scales", "1,2", "--metrics", "none"]
    one = tmp_path / "one"
    assert main(base_args(coco, one, tmp_path / "cache") + args) == 0
    two = tmp_path / "two"
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node",
            "2",
            "-m",
            "bench.sweep",
            *base_args(coco, two, tmp_path / "cache"),
            *args,
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("sweep folder:") == 1  # only rank 0 reports
    assert run_images(one) == run_images(two)
    assert sorted(p.name for p in (one / "runs").iterdir()) == sorted(
        p.name for p in (two / "runs").iterdir()
    )
    for folder in (one / "runs").iterdir():
        assert manifest_lines(folder) == manifest_lines(two / "runs" / folder.name)


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--scales", "1,,2"], "--scales: empty item"),
        (["--scales", "abc"], "--scales: 'abc'"),
        (["--scales=1,-2"], "--scales: '-2'"),
        (["--method", "dalle"], "--method: unknown method 'dalle'"),
        (["--metrics", "fid,nope"], "--metrics: unknown metric 'nope'"),
        (["--metrics", "caption_match"], "synthetic"),
        (["--steps", "many"], "--steps: 'many'"),
        (["--num-samples", "500"], "--num-samples: 500 exceeds"),
        (["--generator", "dalle"], "--generator: unknown 'dalle'"),
        (["--metrics", "clip_score", "--clip-model", "ViT-Q-9"], "--clip-model: 'ViT-Q-9'"),
        (["--metrics", "clip_score", "--clip-model", "ViT-B-16"], "--clip-pretrained: None"),
        (["--metrics", "fid", "--extractor", "inception-v4"], "--extractor: 'inception-v4'"),
    ],
)
def test_cli_bad_input_gives_clear_error(coco, tmp_path, capsys, extra, message):
    assert main(base_args(coco, tmp_path / "o", tmp_path / "c") + extra) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err
    assert not (tmp_path / "o" / "runs").exists()  # refused before generating anything


def test_cli_bad_caption_files(coco, tmp_path, capsys):
    captions, images = coco
    bad = tmp_path / "instances.json"
    bad.write_text(json.dumps({"images": [], "categories": []}))
    argv = base_args(coco, tmp_path / "o", tmp_path / "c")
    assert main([*argv, "--coco-captions", str(bad)]) == 2
    assert "is not an MS-COCO captions file" in capsys.readouterr().err
    (images / "COCO_val_000001.jpg").unlink()
    assert main(argv) == 2
    assert "lacks 1 of the 24 images" in capsys.readouterr().err
    assert main(["--generator", "toy", "--coco-captions", str(captions)]) == 2
    assert "go together" in capsys.readouterr().err
    assert main(["--paper-parity", "--generator", "toy"]) == 2
    assert "--paper-parity" in capsys.readouterr().err


def test_out_folder_of_another_sweep_is_refused(coco, tmp_path, capsys):
    argv = base_args(coco, tmp_path / "o", tmp_path / "c") + ["--scales", "1", "--metrics", "none"]
    assert main(argv) == 0
    assert main([*argv, "--seed", "5"]) == 2
    assert "other shared settings (differing: captions, seed)" in capsys.readouterr().err
    # another method/scale with the same settings joins the same folder and table
    assert main([*argv[:-4], "--scales", "2", "--method", "clip", "--metrics", "none"]) == 0
    assert len(json.loads((tmp_path / "o" / "sweep.json").read_text())["runs"]) == 2


def test_default_caption_source_is_the_synthetic_set(tmp_path, test_extractor, capsys):
    argv = [
        "--generator", "toy", "--num-samples", "8", "--synthetic-val-size", "20",
        "--steps", "2", "--scales", "1", "--out", str(tmp_path / "o"),
        "--cache-dir", str(tmp_path / "c"), "--metrics", "fid", "--extractor", test_extractor,
        "--no-progress",
    ]  # fmt: skip
    assert main(argv) == 0
    sweep = json.loads((tmp_path / "o" / "sweep.json").read_text())
    assert sweep["captions"]["kind"] == "synthetic"
    assert sweep["captions"]["num_reference_images"] == 20
    assert len(list((tmp_path / "c" / "synthetic").glob("*/test/*.png"))) == 20  # the test split
    folder = next((tmp_path / "o" / "runs").iterdir())
    assert len(manifest_lines(folder)) == 8
    assert main([*argv, "--num-samples", "30"]) == 2
    assert "raise --synthetic-val-size" in capsys.readouterr().err


# -- the typed configuration (bench.sweep_config / bench.sweep_options) ----------------------


def test_config_from_args_and_back(tmp_path):
    from bench.sweep_options import config_from_args, config_to_argv

    argv = [
        "--method", "clip", "--method", "cfg", "--scales", "0,1.5,0.1", "--num-samples", "7",
        "--seed", "4", "--generator", "toy", "--sampler", "ddim", "--steps", "ddim9",
        "--batch-size", "3", "--metrics", "fid,clip_score", "--clip-model", "ViT-B-16",
        "--clip-pretrained", str(tmp_path / "w.pt"), "--upsample-temp", "0.9",
        "--resolution", "256", "--dtype", "bfloat16", "--synthetic-split", "val",
        "--out", str(tmp_path / "o"), "--no-progress", "--allow-embedded-judges",
    ]  # fmt: skip
    config = config_from_args(argv)
    assert config.methods == ("clip", "cfg") and config.scales == (0.0, 1.5, 0.1)
    assert config.generation.resolution == 256 and config.generation.steps == "ddim9"
    assert config.judges.metrics == ("fid", "clip_score") and config.judges.allow_embedded_judges
    assert not config.output.progress and config.captions.synthetic_split == "val"
    assert config.command_line == tuple(argv)
    again = config_to_argv(config)
    assert config_from_args(again) == config
    # defaults are left out of the rendered command line
    assert config_to_argv(config_from_args([])) == []
    assert config_from_args(["--metrics", "none"]).judges.metrics == ()
    assert config_from_args([]).judges.metrics is None  # every metric that applies


def test_recorded_command_line_follows_the_config(tmp_path):
    from dataclasses import replace

    from bench.sweep_options import config_from_args, recorded_argv

    argv = ["--method", "cfg,clip", "--scales", "1,2", "--out", str(tmp_path)]
    config = config_from_args(argv)
    assert recorded_argv(config) == argv  # as given, spelling kept
    changed = replace(config, seed=9)
    assert changed == replace(config_from_args(argv), seed=9)  # command_line is not compared
    assert recorded_argv(changed) == [
        "--method", "cfg,clip", "--scales", "1,2", "--seed", "9", "--out", str(tmp_path),
    ]  # fmt: skip


def test_paper_parity_defaults_and_deviations(coco):
    from bench.sweep_config import PAPER_PARITY
    from bench.sweep_options import config_from_args

    captions, images = coco
    base = ["--paper-parity", "--coco-captions", str(captions), "--coco-images", str(images)]
    config = config_from_args(base)
    assert config.parity_values() == PAPER_PARITY and config.deviations_from_paper() == {}
    quickgelu = config_from_args([*base, "--clip-model", "ViT-B-16-quickgelu", "--steps", "250"])
    assert quickgelu.deviations_from_paper() == {}  # the paper's CLIP, the paper's steps
    deviating = config_from_args([*base, "--steps", "50", "--reference", "subset"])
    assert deviating.deviations_from_paper() == {
        "steps": {"paper": "250", "used": "50"},
        "reference": {"paper": "all", "used": "subset"},
    }
    assert config_from_args(["--steps", "50"]).deviations_from_paper() == {}


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda c: c.SweepConfig(methods=("dalle",)), "--method: unknown method 'dalle'"),
        (lambda c: c.SweepConfig(scales=(1.0, -1.0)), "--scales: -1.0"),
        (lambda c: c.SweepConfig(scales=(2.0, 2.0)), "list each scale once"),
        (lambda c: c.SweepConfig(num_samples=0), "--num-samples: 0"),
        (lambda c: c.SweepConfig(paper_parity=True), "--paper-parity"),
        (lambda c: c.CaptionOptions(coco_captions=Path("x.json")), "go together"),
        (lambda c: c.GenerationOptions(sampler="euler"), "--sampler: 'euler'"),
        (lambda c: c.GenerationOptions(steps="many"), "--steps: 'many'"),
        (lambda c: c.GenerationOptions(batch_size=0), "--batch-size: 0"),
        (lambda c: c.JudgeOptions(fid_splits=0), "--fid-splits: 0"),
        (lambda c: c.JudgeOptions(clip_model="embedded", clip_pretrained=Path("w")), "ARCH"),
        (lambda c: c.OutputOptions(grid_rows=0), "--grid-rows: 0"),
    ],
)
def test_config_built_in_code_is_checked(build, message):
    from bench import sweep_config
    from bench.errors import BenchError

    with pytest.raises(BenchError, match=message.replace("(", r"\(")):
        build(sweep_config)


def test_run_sweep_takes_a_config_and_writes_sweep_json_once(coco, tmp_path, monkeypatch):
    """A sweep built in code: sweep.json is written once per invocation, atomically, and records
    a command line that rebuilds the config."""
    from bench import sweep as sweep_module
    from bench.sweep_config import (
        CaptionOptions,
        GenerationOptions,
        JudgeOptions,
        OutputOptions,
        SweepConfig,
    )
    from bench.sweep_options import config_from_args

    captions, images = coco
    config = SweepConfig(
        scales=(1.0, 2.0),
        num_samples=6,
        captions=CaptionOptions(coco_captions=captions, coco_images=images),
        generation=GenerationOptions(generator="toy", steps="2", batch_size=4),
        judges=JudgeOptions(metrics=()),
        output=OutputOptions(out=tmp_path / "o", cache_dir=tmp_path / "c", progress=False),
    )
    writes = []
    real_write = sweep_module.atomic_write_text

    def counting_write(path, text):
        writes.append(Path(path).name)
        return real_write(path, text)

    monkeypatch.setattr(sweep_module, "atomic_write_text", counting_write)
    summary = sweep_module.run_sweep(config)
    assert summary["generated"] == 12 and "results" not in summary
    assert writes == ["sweep.json"]
    record = json.loads((tmp_path / "o" / "sweep.json").read_text())
    assert record["command"].startswith("python -m bench.sweep --scales 1,2 --num-samples 6 ")
    assert config_from_args(record["argv"]) == config
    assert [r["label"] for r in record["runs"]] == ["cfg@1", "cfg@2"]
