"""The real-data floor (bench.real_floor): held-out real images with their own captions, written
as the run ``real-images`` and scored like a generated run (CONTRACTS "The real-images run")."""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench.errors import BenchError
from bench.images import center_crop_resize, read_png
from bench.run_contract import RunContractError, read_spec, read_sweep
from bench.sweep import main

REPO = Path(__file__).resolve().parents[2]
N = 4


def _doc_table(heading: str) -> list[str]:
    text = (REPO / "CONTRACTS.md").read_text(encoding="utf-8")
    block = text.split(f"### {heading}\n", 1)[1].split("\n#", 1)[0]
    return re.findall(r"^\| `([^`]+)` \|", block, flags=re.M)


def _coco_sweep(coco, extractor, tmp_path, *extra: str) -> Path:
    captions, images = coco
    out = tmp_path / "sweep"
    argv = [
        "--generator", "toy", "--coco-captions", str(captions), "--coco-images", str(images),
        "--num-samples", str(N), "--steps", "2", "--scales", "1,3", "--method", "cfg",
        "--metrics", "fid,precision,recall", "--extractor", extractor, "--fid-splits", "2",
        "--out", str(out), "--cache-dir", str(tmp_path / "cache"), "--no-progress", *extra,
    ]  # fmt: skip
    assert main(argv) == 0
    return out


def test_coco_subset_floor_holds_held_out_images_with_their_own_captions(
    coco, test_extractor, tmp_path
):
    captions_file, images_dir = coco
    out = _coco_sweep(coco, test_extractor, tmp_path, "--reference", "subset")
    data = json.loads(captions_file.read_text())
    names = {img["id"]: img["file_name"] for img in data["images"]}
    captions_of = {}
    for ann in data["annotations"]:
        captions_of.setdefault(ann["image_id"], set()).add(" ".join(ann["caption"].split()))
    record = json.loads((out / "sweep.json").read_text())
    # the reference set of --reference subset: the images of the sampled captions
    sampled = {
        json.loads(line)["image_id"]
        for line in (out / "runs" / _a_run(out) / "manifest.jsonl").read_text().splitlines()
    }
    assert 1 <= len(sampled) <= N

    floor = out / "runs" / "real-images"
    spec = json.loads((floor / "spec.json").read_text())
    assert set(spec) == set(_doc_table("real-images spec.json keys"))
    assert (spec["method"], spec["scale"], spec["run_id"]) == ("real", None, "real-images")
    lines = [json.loads(x) for x in (floor / "manifest.jsonl").read_text().splitlines()]
    assert [r["index"] for r in lines] == list(range(N))
    held_out = {r["image_id"] for r in lines}
    assert len(held_out) == N and not held_out & sampled  # never a reference image
    for r in lines:
        assert r["seed"] is None and r["caption"] in captions_of[r["image_id"]]
        # preprocessed exactly like the reference images
        expected = center_crop_resize(images_dir / names[r["image_id"]], 64)
        assert np.array_equal(read_png(floor / r["file"]), expected)

    assert record["real_floor"]["measured"] is True
    assert set(record["real_floor"]) == set(_doc_table("sweep.json real_floor keys")) - {"why"}
    assert "real-images" not in {r["run_id"] for r in record["runs"]}
    assert not any("real" in p.name for p in (out / "grids").iterdir())
    table = pd.read_csv(out / "results.csv")
    rows = table[table["run_id"] == "real-images"]
    assert set(rows["metric"]) == {"fid", "precision", "recall"}
    assert set(rows["method"]) == {"real"} and rows["scale"].isna().all()
    assert (rows["n"] == N).all() and rows["value"].notna().all()
    assert (rows["label"] == "real images").all()
    # the shared reader reads it as the real-images run
    real = [r for r in read_sweep(out).runs if r.is_real]
    assert len(real) == 1 and math.isnan(real[0].scale) and len(real[0].images) == N


def _a_run(out: Path) -> str:
    return next(p.name for p in sorted((out / "runs").iterdir()) if p.name != "real-images")


def test_coco_reference_all_has_no_held_out_images_and_says_so(coco, test_extractor, tmp_path):
    out = _coco_sweep(coco, test_extractor, tmp_path)  # --reference all, the paper's choice
    record = json.loads((out / "sweep.json").read_text())
    assert record["real_floor"]["measured"] is False
    assert "--reference all" in record["real_floor"]["why"]
    assert not (out / "runs" / "real-images").exists()
    assert "real-images" not in set(pd.read_csv(out / "results.csv")["run_id"])


def test_too_few_held_out_images_is_not_measured_with_the_reason(coco, test_extractor, tmp_path):
    captions_file, _ = coco
    data = json.loads(captions_file.read_text())
    keep = {img["id"] for img in data["images"][:5]}  # 5 images: at most 4 are reference images
    data["images"] = [img for img in data["images"] if img["id"] in keep]
    data["annotations"] = [a for a in data["annotations"] if a["image_id"] in keep]
    captions_file.write_text(json.dumps(data))
    out = _coco_sweep(coco, test_extractor, tmp_path, "--reference", "subset")
    record = json.loads((out / "sweep.json").read_text())["real_floor"]
    assert record["measured"] is False and "fewer than --num-samples 4" in record["why"]
    assert not (out / "runs" / "real-images").exists()


def test_floor_is_reused_and_rebuilt_only_when_its_spec_changes(coco, test_extractor, tmp_path):
    out = _coco_sweep(coco, test_extractor, tmp_path, "--reference", "subset")
    floor = out / "runs" / "real-images"
    stamps = {p: p.stat().st_mtime_ns for p in floor.rglob("*") if p.is_file()}
    _coco_sweep(coco, test_extractor, tmp_path, "--reference", "subset")
    assert {p: p.stat().st_mtime_ns for p in floor.rglob("*") if p.is_file()} == stamps
    # a spec that no longer matches (e.g. written by another version) is rebuilt
    spec = json.loads((floor / "spec.json").read_text())
    spec["floor_version"] = 0
    (floor / "spec.json").write_text(json.dumps(spec))
    (floor / "images" / "stale.png").write_bytes(b"x")
    _coco_sweep(coco, test_extractor, tmp_path, "--reference", "subset")
    assert json.loads((floor / "spec.json").read_text())["floor_version"] == 1
    assert not (floor / "images" / "stale.png").exists()


def test_missing_held_out_image_stops_before_sampling(coco, test_extractor, tmp_path):
    captions_file, images_dir = coco
    data = json.loads(captions_file.read_text())
    for img in data["images"]:
        os.remove(images_dir / img["file_name"])
    with pytest.raises(BenchError, match="held-out"):
        from bench.captions import load_caption_set
        from bench.real_floor import plan_floor

        # every image is gone: the caption set itself checks only the reference subset, so
        # build it without the check and let the floor name what it lacks
        captions = load_caption_set(
            captions_file, images_dir, num_samples=N, seed=0, reference="subset",
            check_images=False,
        )  # fmt: skip
        plan_floor(
            captions, num_samples=N, resolution=64, seed=0, synthetic_split="test",
            synthetic_val_size=1000,
        )  # fmt: skip


def test_human_eval_leaves_the_floor_out_of_a_sweep_and_refuses_it_by_name(
    coco, test_extractor, tmp_path
):
    from human_eval.errors import HumanEvalError
    from human_eval.study_conditions import expand_run_paths, load_condition

    out = _coco_sweep(coco, test_extractor, tmp_path, "--reference", "subset")
    paths = expand_run_paths([out])
    assert len(paths) == 2 and all(p.name != "real-images" for p in paths)
    with pytest.raises(HumanEvalError, match="real-images run"):
        load_condition(out / "runs" / "real-images")


def test_the_contract_reader_refuses_a_real_run_with_a_scale(tmp_path):
    run = tmp_path / "real-images"
    run.mkdir()
    (run / "spec.json").write_text(json.dumps({"method": "real", "scale": 2.0}))
    with pytest.raises(RunContractError, match="no guidance scale"):
        read_spec(run)
    (run / "spec.json").write_text(json.dumps({"method": "real", "scale": None}))
    assert read_spec(run)["scale"] is None
