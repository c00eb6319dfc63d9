"""The folder generator: images made elsewhere, scored on the sweep's protocol. A toy sweep's
images, laid out as another program would leave them, give a folder sweep of the same images;
each bad layout is refused before anything is written, naming the file and the fix."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench.errors import BenchError
from bench.generators import GeneratorOptions, build_generator
from bench.images import read_png
from bench.prompts import main as prompts_main
from bench.spec import format_scale, sample_seed
from bench.sweep import main as sweep_main
from bench.sweep import run_sweep
from bench.sweep_options import config_from_args

N = 5


def _common(coco, cache: Path) -> list[str]:
    captions, images = coco
    return [
        "--coco-captions", str(captions), "--coco-images", str(images), "--num-samples", str(N),
        "--seed", "2", "--metrics", "none", "--cache-dir", str(cache), "--no-progress",
    ]  # fmt: skip


def _run_images(sweep: Path) -> dict[str, dict[int, Path]]:
    out: dict[str, dict[int, Path]] = {}
    for spec_path in (sweep / "runs").glob("*/spec.json"):
        spec = json.loads(spec_path.read_text())
        records = [json.loads(line) for line in (spec_path.parent / "manifest.jsonl").open()]
        out[spec["label"]] = {r["index"]: spec_path.parent / r["file"] for r in records}
    return out


@pytest.fixture()
def toy_and_layout(coco, tmp_path):
    """A toy sweep (cfg and clip at scales 1 and 3) and its images as a folders layout."""
    toy = tmp_path / "toy"
    argv = ["--generator", "toy", "--method", "cfg,clip", "--scales", "1,3", "--steps", "2"]
    assert sweep_main(argv + _common(coco, tmp_path / "cache") + ["--out", str(toy)]) == 0
    layout = tmp_path / "elsewhere"
    for label, images in _run_images(toy).items():
        method, scale = label.split("@")
        for index, path in images.items():
            target = layout / method / scale / f"{index:03d}_s{1000 + index}.png"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, target)
    return toy, layout


def test_folder_sweep_scores_the_images_given(coco, tmp_path, toy_and_layout):
    toy, layout = toy_and_layout
    out = tmp_path / "folder"
    argv = ["--generator", "folder", "--images", str(layout), "--method", "cfg,clip"]
    argv += ["--scales", "1,3", "--generator-name", "other-model"]
    assert sweep_main(argv + _common(coco, tmp_path / "cache") + ["--out", str(out)]) == 0
    made, given = _run_images(out), _run_images(toy)
    assert set(made) == set(given) == {"cfg@1", "cfg@3", "clip@1", "clip@3"}
    for label in given:
        for index in range(N):
            assert np.array_equal(read_png(made[label][index]), read_png(given[label][index]))
    sweep = json.loads((out / "sweep.json").read_text())
    identity = sweep["settings"]["checkpoints"]
    assert sweep["settings"]["generator"] == "folder"
    assert identity["display_name"] == "other-model" and identity["layout"] == "folders"
    assert identity["num_images"] == 4 * N and len(identity["images"]) == 24
    # the report never presents the recorded --sampler/--steps defaults as how they were made
    from reports.assemble import build_document
    from reports.blocks import KeyValues
    from reports.inputs import load_sweep

    document = build_document(load_sweep(out), None)
    assert "images from --generator folder (--sampler/--steps unused)" in document.subtitle
    assert " steps;" not in document.subtitle.replace("--steps unused", "")
    pairs = dict(
        pair for b in document.section("evaluated").blocks if isinstance(b, KeyValues)
        for pair in b.rows
    )  # fmt: skip
    assert pairs["Sampler"].startswith("not used by --generator folder (recorded: ")
    # another image gives another identity, so the finished sweep folder is not reused for it
    victim = next(layout.glob("cfg/3/*.png"))
    pixels = read_png(victim)
    pixels[0, 0] ^= 255
    Image.fromarray(pixels).save(victim)
    assert sweep_main(argv + _common(coco, tmp_path / "cache") + ["--out", str(out)]) == 2


def test_manifest_layout_checks_captions(coco, tmp_path, toy_and_layout):
    toy, _ = toy_and_layout
    prompts = tmp_path / "prompts.csv"
    assert prompts_main([str(prompts), *_common(coco, tmp_path / "cache")]) == 0
    rows = list(csv.DictReader(prompts.open()))
    assert [int(r["index"]) for r in rows] == list(range(N))
    assert [int(r["seed"]) for r in rows] == [sample_seed(2, i) for i in range(N)]
    root = tmp_path / "manifest_layout"
    root.mkdir()
    given = _run_images(toy)
    with open(root / "manifest.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["method", "scale", "index", "file", "caption"])
        for row in rows:
            i = int(row["index"])
            shutil.copy(given["cfg@3"][i], root / f"img{i}.png")
            writer.writerow(["cfg", "3.0", i, f"img{i}.png", row["caption"]])
    base = ["--generator", "folder", "--images", str(root), "--scales", "3"]
    out = tmp_path / "from_manifest"
    assert sweep_main(base + _common(coco, tmp_path / "cache") + ["--out", str(out)]) == 0
    assert len(_run_images(out)["cfg@3"]) == N
    # the same images claimed for other captions are refused
    text = (root / "manifest.csv").read_text().replace(rows[1]["caption"], "a pink elephant")
    (root / "manifest.csv").write_text(text)
    with pytest.raises(BenchError, match="was made for caption 'a pink elephant'"):
        other = ["--out", str(tmp_path / "other")]
        run_sweep(config_from_args(base + _common(coco, tmp_path / "cache") + other))


def _options(root: Path, **kw) -> GeneratorOptions:
    base = dict(
        checkpoints_dir=None, device="cpu", dtype="float32", sampler="ddim", steps="2",
        resolution=64, methods=("cfg",), images=root, num_samples=3, scales=(2.0,),
    )  # fmt: skip
    return GeneratorOptions(**{**base, **kw})


def _write(path: Path, size: int = 64, mode: str = "RGB") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, (size, size), "red" if mode == "RGB" else 0).save(path)


@pytest.fixture()
def good(tmp_path) -> Path:
    root = tmp_path / "imgs"
    for i in range(3):
        _write(root / "cfg" / "2" / f"{i:05d}.png")
    return root


def test_a_good_layout_builds(good):
    generate, description = build_generator("folder", _options(good))
    seeds = [sample_seed(0, i) for i in (2, 0)]
    images = generate(["x", "y"], seeds, "cfg", 2.0)
    assert images.shape == (2, 64, 64, 3) and images.dtype == np.uint8
    assert description["identity"]["display_name"] == "imgs"


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda r: (r / "cfg/2/00001.png").unlink(), r"missing image for caption index 1 \(1 of"),
        (lambda r: _write(r / "cfg/2/00001.png", size=32), r"00001.png: 32x32 RGB; .*64"),
        (lambda r: _write(r / "cfg/2/00001.png", mode="L"), r"00001.png: 64x64 L"),
        (lambda r: _write(r / "cfg/2/3.png"), r"3.png: caption index 3 is out of range"),
        (lambda r: _write(r / "cfg/2/1_s7.png"), r"are both cfg scale 2 caption index 1; keep one"),
        (lambda r: _write(r / "cfg/2/first.png"), r"first.png: not an image named <index>.png"),
        (lambda r: _write(r / "cfg/2/00003.gif"), r"00003.gif: not an image named"),
        (lambda r: _write(r / "guided/2/0.png"), r"method 'guided' is not one of cfg, clip"),
        (lambda r: _write(r / "cfg/two/0.png"), r"scale 'two' is not a guidance scale"),
        (lambda r: shutil.move(r / "cfg/2", r / "cfg/3"), r"no images for cfg scale 2 .*: cfg 3"),
        (lambda r: (r / "notes.txt").write_text("x"), r"notes.txt: a file at the top"),
    ],
)  # fmt: skip
def test_bad_layouts_are_refused_naming_the_file(good, damage, message):
    damage(good)
    with pytest.raises(BenchError, match=message):
        build_generator("folder", _options(good))


def _manifest(root: Path, rows: list[list], header=("method", "scale", "index", "file")) -> None:
    root.mkdir(parents=True, exist_ok=True)
    with open(root / "manifest.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


@pytest.mark.parametrize(
    "rows, header, message",
    [
        ([["cfg", 2, 0, "a.png"]], ("method", "scale", "file"), r"lacks the columns index"),
        ([["cfg", 2, 0, "nothere.png"]], None, r"line 2: missing image 'nothere.png'"),
        ([["cfg", 2, 0, "a.png"], ["cfg", 2, 0, "b.png"]], None, r"are both cfg scale 2 caption index 0"),  # noqa: E501
        ([["cfg", 2, 9, "a.png"]], None, r"caption index 9 is out of range"),
        ([["cfg", 2, -1, "a.png"]], None, r"caption index '-1' is not an integer"),
        ([["cfg", 2, 0, "a.png"], ["cfg", 2, 1, "b.png"]], None, r"missing image for caption index 2"),  # noqa: E501
    ],
)  # fmt: skip
def test_bad_manifests_are_refused(tmp_path, rows, header, message):
    root = tmp_path / "m"
    for name in ("a.png", "b.png"):
        _write(root / name)
    _manifest(root, rows, header or ("method", "scale", "index", "file"))
    with pytest.raises(BenchError, match=message):
        build_generator("folder", _options(root))


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--generator", "folder"], "--images: --generator folder needs --images"),
        (["--generator", "glide", "--images", "x"], "--images: .* applies to --generator folder"),
        (["--generator", "toy", "--generator-name", "x"], "--generator-name: 'x' applies to"),
        (["--generator", "folder", "--images", "x", "--generator-name", "a/b"], "without '/'"),
    ],
)
def test_folder_options_are_checked(argv, message):
    with pytest.raises(BenchError, match=message):
        config_from_args(argv)


def test_missing_images_folder(tmp_path):
    with pytest.raises(BenchError, match="is not a folder"):
        build_generator("folder", _options(tmp_path / "absent"))
    assert format_scale(2.0) == "2"
