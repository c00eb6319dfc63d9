"""The diffusers generator on a tiny text-to-image pipeline built from configs with random
weights (UNet2DConditionModel, a small CLIP text model and a byte-level tokenizer,
AutoencoderKL, DPM-Solver++), saved to a folder: a two-scale CFG sweep next to the embedded
GLIDE on the same captions and judges gives one comparison table and one Pareto plot with
both; its images are the same bytes after resumption and agree across batch sizes up to the
float rounding of the kernels; a study takes conditions of both; bad options are refused."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bench.errors import BenchError
from bench.images import read_png
from bench.sweep import main as sweep_main

pytest.importorskip("diffusers")
pytest.importorskip("transformers")

N = 6
REPO = Path(__file__).resolve().parents[2]


def _fixtures():
    """tests/bench/conftest.py as a module (its tiny COCO set and feature extractor)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "bench_test_fixtures", Path(__file__).parent / "conftest.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


FIXTURES = _fixtures()
make_coco, register_test_extractor = FIXTURES.make_coco, FIXTURES.register_test_extractor


def _byte_level_tokenizer(folder: Path):
    """A CLIP tokenizer whose vocabulary is the 256 byte symbols (no merges): no download."""
    from transformers import CLIPTokenizer

    printable = [*range(33, 127), *range(161, 173), *range(174, 256)]
    extra = iter(range(256, 512))
    symbols = [chr(b if b in printable else next(extra)) for b in range(256)]
    vocab = {s: i for i, s in enumerate(symbols)}
    vocab.update({s + "</w>": 256 + i for i, s in enumerate(symbols)})
    vocab.update({"<|startoftext|>": 512, "<|endoftext|>": 513})
    folder.mkdir(parents=True)
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    return CLIPTokenizer(
        str(folder / "vocab.json"), str(folder / "merges.txt"), model_max_length=32
    )


def build_tiny_pipeline(folder: Path) -> Path:
    """Save a random-weight StableDiffusionPipeline (64x64 images, 16x16 latents, attention
    only at 8x8 in the U-Net) to folder."""
    import torch

    from bench._torchvision import ensure_torchvision

    ensure_torchvision()
    from diffusers import (
        AutoencoderKL,
        DPMSolverMultistepScheduler,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(0)
    tokenizer = _byte_level_tokenizer(folder.parent / "tokenizer-src")
    text = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=514, hidden_size=32, intermediate_size=37, num_hidden_layers=2,
            num_attention_heads=4, max_position_embeddings=32, bos_token_id=512,
            eos_token_id=513, pad_token_id=513, projection_dim=32,
        )
    )  # fmt: skip
    unet = UNet2DConditionModel(
        sample_size=16, in_channels=4, out_channels=4, layers_per_block=1,
        block_out_channels=(32, 64), down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=32,
        attention_head_dim=8, norm_num_groups=32,
    )  # fmt: skip
    vae = AutoencoderKL(
        block_out_channels=(32, 32, 32), down_block_types=("DownEncoderBlock2D",) * 3,
        up_block_types=("UpDecoderBlock2D",) * 3, latent_channels=4, norm_num_groups=32,
        sample_size=64,
    )  # fmt: skip
    with torch.no_grad():  # a text path strong enough that guidance visibly changes images
        for p in unet.parameters():
            p.add_(torch.randn(p.shape) * 0.02)
    pipe = StableDiffusionPipeline(
        vae=vae, text_encoder=text, tokenizer=tokenizer, unet=unet,
        scheduler=DPMSolverMultistepScheduler(steps_offset=1), safety_checker=None,
        feature_extractor=None, requires_safety_checker=False,
    )  # fmt: skip
    pipe.save_pretrained(str(folder))
    return folder


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("diffusers_gen")
    build_tiny_pipeline(root / "tiny-sd")
    make_coco(root / "coco", n_images=8)
    return root


def _common(root: Path, *, metrics: bool = True) -> list[str]:
    argv = [
        "--coco-captions", str(root / "coco" / "captions.json"),
        "--coco-images", str(root / "coco" / "images"), "--num-samples", str(N),
        "--scales", "1,3", "--steps", "3", "--cache-dir", str(root / "cache"), "--no-progress",
    ]  # fmt: skip
    if metrics:
        argv += ["--metrics", "fid,precision,recall", "--extractor", register_test_extractor()]
        argv += ["--fid-splits", "2", "--bootstrap", "20"]
    else:
        argv += ["--metrics", "none"]
    return argv


def _tiny(root: Path) -> list[str]:
    return ["--generator", "diffusers", "--model", str(root / "tiny-sd")]


@pytest.fixture(scope="module")
def sweeps(root) -> dict[str, Path]:
    """The embedded GLIDE and the tiny pipeline, cfg at scales 1 and 3, the same judges."""
    out = {"glide": root / "glide", "tiny": root / "tiny"}
    assert sweep_main(_common(root) + ["--batch-size", "3", "--out", str(out["glide"])]) == 0
    argv = _tiny(root) + _common(root) + ["--batch-size", "3", "--out", str(out["tiny"])]
    assert sweep_main(argv) == 0
    return out


def _images(sweep: Path) -> dict[str, dict[str, bytes]]:
    found = {}
    for spec_path in (sweep / "runs").glob("*/spec.json"):
        label = json.loads(spec_path.read_text())["label"]
        found[label] = {p.name: p.read_bytes() for p in (spec_path.parent / "images").iterdir()}
    return found


def test_pipeline_sweep_beside_glide_one_table_one_plot(sweeps, tmp_path):
    from bench.plots import PLOTS, generators_of, method_styles, plot_pareto
    from reports.comparison import check_comparable, merge_sweeps
    from reports.inputs import load_sweep

    sweep = json.loads((sweeps["tiny"] / "sweep.json").read_text())
    identity = sweep["settings"]["checkpoints"]
    assert sweep["settings"]["generator"] == "diffusers"
    assert identity["display_name"] == "tiny-sd" and identity["source"] == "folder"
    assert len(identity["files"]) == 12 and identity["dtype"] == "float32"
    assert identity["scheduler_class"] == "DPMSolverMultistepScheduler"
    assert identity["scheduler"]["algorithm_type"] == "sde-dpmsolver++"  # --sampler dpm++2m-sde
    assert sweep["generator"]["model_folder"].endswith("tiny-sd")
    images = _images(sweeps["tiny"])
    low, high = images["cfg@1"]["00000.png"], images["cfg@3"]["00000.png"]
    assert low != high  # the guidance scale reaches the pipeline

    inputs = [load_sweep(sweeps["glide"]), load_sweep(sweeps["tiny"])]
    check_comparable(inputs, ["glide", "tiny"])  # same captions, judges, reference: comparable
    merged = merge_sweeps(inputs, ["glide", "tiny"]).results
    assert set(merged["generator"]) == {"glide", "tiny-sd"}
    assert set(merged["method"]) == {"glide/cfg", "tiny/cfg"}
    assert len(merged[merged["metric"] == "fid"]) == 4 and merged["value"].notna().all()
    generators = generators_of(merged)
    names = {name for _, _, name in method_styles(sorted(generators), generators).values()}
    assert names == {"glide classifier-free", "tiny-sd (tiny) classifier-free"}
    written = plot_pareto(merged, PLOTS[0], tmp_path)
    assert [p.suffix for p in written] == [".png", ".svg"]
    svg = written[1].read_text()
    assert "glide classifier-free" in svg and "tiny-sd (tiny) classifier-free" in svg


def test_images_survive_resumption_and_batch_sizes(root, sweeps, tmp_path):
    # resumption: damage a finished run (an image and the manifest's last lines gone), rerun
    resumed = Path(shutil.copytree(sweeps["tiny"], tmp_path / "resumed"))
    run = next(p.parent for p in (resumed / "runs").glob("*/spec.json"))
    (run / "images" / "00004.png").unlink()
    lines = (run / "manifest.jsonl").read_text().splitlines(keepends=True)
    (run / "manifest.jsonl").write_text("".join(lines[:3]))
    argv = _tiny(root) + _common(root) + ["--batch-size", "3", "--out", str(resumed)]
    assert sweep_main(argv) == 0
    assert _images(resumed) == _images(sweeps["tiny"])
    # batch sizes: the same per-sample noise; kernels may round differently by one level
    one = tmp_path / "one"
    argv = _tiny(root) + _common(root, metrics=False) + ["--batch-size", "1", "--out", str(one)]
    assert sweep_main(argv + ["--scales", "3"]) == 0
    a, b = _images(sweeps["tiny"]), _images(one)
    assert set(b) == {"cfg@3"}
    differing = total = 0
    for label in b:
        for name in a[label]:
            x = read_png_bytes(a[label][name]).astype(int)
            y = read_png_bytes(b[label][name]).astype(int)
            assert np.abs(x - y).max() <= 1, (label, name)
            differing += int((x != y).sum())
            total += x.size
    assert differing / total < 1e-3


def read_png_bytes(data: bytes) -> np.ndarray:
    import io

    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def test_a_study_takes_conditions_of_both_generators(sweeps, tmp_path):
    from human_eval.create import StudyConfig, create_study
    from human_eval.database import open_database
    from human_eval.study_conditions import load_conditions

    conditions = load_conditions([sweeps["glide"], sweeps["tiny"]])
    assert {c.name for c in conditions} == {
        "glide cfg@1", "glide cfg@3", "tiny-sd cfg@1", "tiny-sd cfg@3",
    }  # fmt: skip
    assert {c.method for c in conditions} == {"glide/cfg", "tiny-sd/cfg"}
    db = open_database(f"sqlite:///{tmp_path / 'votes.db'}", create=True)
    try:
        create_study(db, "generators", conditions, StudyConfig(gold_pairs=2))
    finally:
        db.dispose()
    # one generator alone keeps the plain labels
    assert {c.name for c in load_conditions([sweeps["tiny"]])} == {"cfg@1", "cfg@3"}
    assert read_png(conditions[0].images[0].path).shape == (64, 64, 3)


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--method", "clip"], "--method: clip is not available with --generator diffusers"),
        (["--scales", "0.5,2"], "--scales: 0.5 below 1 with --generator diffusers"),
        (["--steps", "ddim3"], "--steps: 'ddim3'; a diffusers pipeline takes a plain step count"),
    ],
)
def test_options_the_pipeline_cannot_run_are_refused(root, extra, message):
    from bench.sweep import run_sweep
    from bench.sweep_options import config_from_args

    argv = _tiny(root) + _common(root, metrics=False) + extra + ["--out", str(root / "refused")]
    with pytest.raises(BenchError, match=message):
        run_sweep(config_from_args(argv))
    assert not (root / "refused").exists()


def test_missing_models_are_clear_errors(root, tmp_path, monkeypatch):
    from bench.generators.diffusers import resolve_model

    with pytest.raises(BenchError, match="--model: no folder"):
        resolve_model(str(tmp_path / "absent"), None)
    (tmp_path / "empty").mkdir()
    with pytest.raises(BenchError, match="has no model_index.json"):
        resolve_model(str(tmp_path / "empty"), None)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    with pytest.raises(BenchError, match="not in the local Hugging Face cache and HF_HUB_OFFL"):
        resolve_model("someone/not-downloaded", None)
    with pytest.raises(BenchError, match="--model: --generator diffusers needs --model"):
        from bench.sweep_options import config_from_args

        config_from_args(["--generator", "diffusers"])


def test_a_sampler_without_a_compatible_scheduler_is_refused():
    from diffusers import DDIMScheduler, FlowMatchEulerDiscreteScheduler

    from bench.generators.diffusers import set_scheduler

    class Pipe:
        scheduler = FlowMatchEulerDiscreteScheduler()

    with pytest.raises(BenchError, match="maps to DPMSolverMultistepScheduler, which .* not"):
        set_scheduler(Pipe(), "dpm++2m")
    ddim = Pipe()
    ddim.scheduler = DDIMScheduler()
    set_scheduler(ddim, "dpm++2m-sde")
    assert ddim.scheduler.config.algorithm_type == "sde-dpmsolver++"


def test_importing_the_sweep_imports_neither_diffusers_nor_transformers():
    code = (
        "import sys, bench.sweep, bench.generators, bench.generators.diffusers; "
        "bad = [m for m in ('diffusers', 'transformers') if m in sys.modules]; "
        "print(bad); raise SystemExit(1 if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
