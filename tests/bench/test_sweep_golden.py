"""Proof that the sweep's behaviour did not change when its code was restructured (issue #22).

``tests/data/sweep_golden.json`` was recorded with the sweep code as it was *before* the
typed-configuration refactor (commit edb25db, ``run_sweep(argv)``; a clean export of that
commit records the same file). For each case below it holds the exact command-line arguments,
the run ids, the files written, each generated image's sha256, every row of results.parquet
and sweep.json (less its timestamps and timings). The test runs the same command lines
through today's code and asserts the same run ids and files, bit-identical images and result
values (``==`` on floats; NaN where the recording has one, e.g. IS below one split) and the
same sweep.json.

Re-record (only on purpose, with code whose output is the reference):
``GLIDE_BENCH_RECORD_GOLDEN=1 pytest tests/bench/test_sweep_golden.py``.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from bench.cost import COST_FILE
from bench.cost_plots import COST_PLOTS
from bench.results import RUN_COLUMNS
from bench.sweep import main

COST_PLOT_PREFIXES = tuple(f"{name}." for name, _ in COST_PLOTS)

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "sweep_golden.json"
RECORD = os.environ.get("GLIDE_BENCH_RECORD_GOLDEN") == "1"
TINY_CLIP = "bench-test-tiny-clip"  # registered by the tiny_clip fixture (conftest.py)

# {name}: filled in per test (temporary folders, fixtures); everything else is literal
CASES: dict[str, list[str]] = {
    # the toy generator on a COCO-format caption file: both methods, two scales, every
    # fidelity metric on a tiny fixed extractor and CLIP score on a tiny random CLIP
    "toy_coco": [
        "--generator", "toy", "--coco-captions", "{coco_captions}",
        "--coco-images", "{coco_images}", "--method", "cfg,clip", "--scales", "1,3",
        "--num-samples", "8", "--steps", "3", "--batch-size", "5", "--fid-splits", "2",
        "--bootstrap", "50", "--metrics", "fid,is,kid,precision,recall,clip_score",
        "--extractor", "{extractor}", "--clip-model", TINY_CLIP,
        "--clip-pretrained", "{clip_pretrained}", "--out", "{out}", "--cache-dir", "{cache}",
        "--no-progress",
    ],
    # the default caption source (the synthetic test split) and default metrics (embedded
    # judges: glide-bench-synth features, the embedded CLIP, the attribute classifier)
    "toy_synthetic_defaults": [
        "--generator", "toy", "--method", "clip", "--method", "cfg", "--scales", "0,2",
        "--num-samples", "6", "--synthetic-val-size", "12", "--steps", "2",
        "--batch-size", "4", "--bootstrap", "40", "--fid-splits", "3", "--seed", "3",
        "--out", "{out}", "--cache-dir", "{cache}", "--no-progress",
    ],
    # --paper-parity with options given against the paper: the deviations recorded in
    # sweep.json; no metrics (the paper's judges need real weights)
    "toy_coco_paper_parity": [
        "--paper-parity", "--generator", "toy", "--coco-captions", "{coco_captions}",
        "--coco-images", "{coco_images}", "--scales", "2", "--num-samples", "6",
        "--steps", "2", "--sampler", "ddim", "--reference", "subset",
        "--clip-model", "ViT-B-16-quickgelu", "--metrics", "none", "--grid-rows", "3",
        "--out", "{out}", "--cache-dir", "{cache}", "--no-progress",
    ],
}  # fmt: skip

# sweep.json fields that differ from one invocation to the next by nature (and the reference
# feature cache key, below)
VOLATILE = ("created_at", "updated_at", "versions")
VOLATILE_INVOCATION = ("at", "generation_seconds", "peak_memory_mib_rank0")


def _fill(argv: list[str], values: dict[str, str]) -> list[str]:
    return [a.format(**values) if a.startswith("{") else a for a in argv]


def _nan_to_none(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _rows(out: Path) -> list[dict[str, Any]] | None:
    if not (out / "results.parquet").exists():
        return None  # --metrics none: no table
    table = pd.read_parquet(out / "results.parquet")
    # the run columns added after the recording (issue 24): no guidance interval in these
    # sweeps; the cost columns are measured timings (they vary by nature) and are left out
    assert (table["guidance_interval"] == "").all()
    table = table.drop(columns=RUN_COLUMNS)
    rows = table.astype(object).where(table.notna(), None).to_dict("records")
    return [{k: _nan_to_none(v) for k, v in row.items()} for row in rows]


def _cost_file(path: Path) -> bool:
    """A file added after the recording that holds measured cost (issue 24): each run's
    cost.json and the quality-vs-cost plots."""
    return path.name == COST_FILE or path.name.startswith(COST_PLOT_PREFIXES)


def _sweep_json(out: Path, root: Path) -> dict[str, Any]:
    text = (out / "sweep.json").read_text(encoding="utf-8").replace(str(root), "{tmp}")
    sweep = json.loads(text)
    for key in VOLATILE:
        assert key in sweep, key
        sweep.pop(key)
    if "evaluation" in sweep:  # a hash of the reference files' mtimes: new with each fixture
        key = sweep["evaluation"]["reference"].pop("cache_key")
        assert isinstance(key, str) and len(key) == 24, key
    for invocation in sweep["invocations"]:
        for key in VOLATILE_INVOCATION:
            invocation.pop(key)
    return sweep


def _run_case(name: str, root: Path, values: dict[str, str]) -> dict[str, Any]:
    out = root / name
    argv = _fill(CASES[name], {**values, "out": str(out), "cache": str(root / "cache")})
    assert main(argv) == 0
    run_ids = sorted(p.name for p in (out / "runs").iterdir())
    return {
        "argv": CASES[name],
        "run_ids": run_ids,
        "files": sorted(
            str(p.relative_to(out)) for p in out.rglob("*") if p.is_file() and not _cost_file(p)
        ),
        "images_sha256": {
            str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(out.glob("runs/*/images/*.png"))
        },
        "results": _rows(out),
        "sweep_json": _sweep_json(out, root),
    }


@pytest.fixture()
def golden_values(coco, tmp_path, test_extractor, tiny_clip) -> dict[str, str]:
    captions, images = coco
    # the tiny CLIP's weights live in a session folder: a copy under tmp_path, so that its path
    # in sweep.json reads "{tmp}/..." like every other path
    clip = tmp_path / "clip" / tiny_clip.name
    clip.parent.mkdir()
    clip.write_bytes(tiny_clip.read_bytes())
    return {
        "coco_captions": str(captions),
        "coco_images": str(images),
        "extractor": test_extractor,
        "clip_pretrained": str(clip),
    }


def _same(recorded: Any, now: Any, where: str) -> None:
    """Exact equality, recursively; a recorded None stands for a NaN in the table."""
    if isinstance(recorded, dict):
        assert isinstance(now, dict) and set(recorded) == set(now), (
            f"{where}: keys {sorted(set(recorded) ^ set(now))} differ"
        )
        for key in recorded:
            _same(recorded[key], now[key], f"{where}.{key}")
    elif isinstance(recorded, list):
        assert isinstance(now, list) and len(recorded) == len(now), f"{where}: length"
        for i, (a, b) in enumerate(zip(recorded, now, strict=True)):
            _same(a, b, f"{where}[{i}]")
    else:
        assert type(recorded) is type(now) and recorded == now, f"{where}: {recorded!r} != {now!r}"


def _without_floor(case: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The recording's view of a case (the generated runs) and what the real-data floor, added
    after the recording (issue 23), wrote: its run folder, rows and sweep.json entry."""
    real = "runs/real-images/"
    floor = {
        "run_ids": [r for r in case["run_ids"] if r == "real-images"],
        "files": [f for f in case["files"] if f.startswith(real)],
        "rows": [r for r in case["results"] or [] if r["run_id"] == "real-images"],
        "record": case["sweep_json"].get("real_floor"),
    }
    rest = dict(case)
    rest["run_ids"] = [r for r in case["run_ids"] if r != "real-images"]
    rest["files"] = [f for f in case["files"] if not f.startswith(real)]
    rest["images_sha256"] = {k: v for k, v in case["images_sha256"].items() if real not in k}
    if case["results"] is not None:
        rest["results"] = [r for r in case["results"] if r["run_id"] != "real-images"]
    rest["sweep_json"] = {k: v for k, v in case["sweep_json"].items() if k != "real_floor"}
    return rest, floor


@pytest.mark.timeout(600)
def test_sweep_reproduces_the_pre_refactor_recording(golden_values, tmp_path):
    now, floors = {}, {}
    for name in CASES:
        now[name], floors[name] = _without_floor(_run_case(name, tmp_path, golden_values))
    # the floor where it can be measured: the synthetic split's held-out items, scored with
    # every metric; COCO with --reference all holds no image outside the reference set (said
    # in sweep.json); no metrics, no floor
    synthetic = floors["toy_synthetic_defaults"]
    assert synthetic["run_ids"] == ["real-images"] and synthetic["record"]["measured"]
    assert {r["metric"] for r in synthetic["rows"]} == {
        r["metric"] for r in now["toy_synthetic_defaults"]["results"]
    }
    coco_all = floors["toy_coco"]
    assert coco_all["run_ids"] == [] and coco_all["rows"] == []
    assert (
        coco_all["record"]["measured"] is False and "--reference all" in coco_all["record"]["why"]
    )
    assert floors["toy_coco_paper_parity"]["record"] is None
    if RECORD:
        GOLDEN.write_text(json.dumps(now, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        pytest.skip(f"recorded {GOLDEN}")
    recorded = json.loads(GOLDEN.read_text(encoding="utf-8"))
    assert set(recorded) == set(CASES)
    for name in CASES:
        assert recorded[name]["argv"] == CASES[name], f"{name}: the recorded arguments changed"
        assert now[name]["run_ids"] == recorded[name]["run_ids"], name
        assert now[name]["files"] == recorded[name]["files"], name
        assert now[name]["images_sha256"] == recorded[name]["images_sha256"], name
        _same(recorded[name]["results"], now[name]["results"], f"{name}.results")
        _same(recorded[name]["sweep_json"], now[name]["sweep_json"], f"{name}.sweep.json")
