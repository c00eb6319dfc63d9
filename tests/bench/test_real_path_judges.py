"""The real path's judges and its bad inputs: no silent fallback to the embedded judges, the
right CLIP activation (QuickGELU for OpenAI's weights), and one clear error per bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from bench.errors import BenchError
from bench.images import write_png
from bench.judges import choice as judges
from bench.metrics.clip_score import ClipScorer, clip_weights_format, resolve_clip
from bench.metrics.context import EvalConfig, Evaluator
from bench.sweep import main

TINY_CLIP = "bench-test-tiny-clip"


def coco_args(coco, tmp_path: Path, *extra: str) -> list[str]:
    captions, images = coco
    return [
        "--generator", "toy", "--coco-captions", str(captions), "--coco-images", str(images),
        "--num-samples", "6", "--steps", "2", "--scales", "1", "--batch-size", "3",
        "--out", str(tmp_path / "o"), "--cache-dir", str(tmp_path / "c"), "--no-progress",
        *extra,
    ]  # fmt: skip


def refused(argv: list[str], capsys, tmp_path: Path) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1  # one clear line
    assert not (tmp_path / "o" / "runs").exists()  # refused before generating anything
    return err


# -- no silent judge -------------------------------------------------------------------------


def test_coco_without_inception_weights_is_refused_not_scored_by_synthetic_judges(
    coco, tmp_path, capsys, monkeypatch
):
    monkeypatch.setattr(
        "bench.metrics.context.inception_cache_path", lambda: tmp_path / "not-cached.pth"
    )
    err = refused(coco_args(coco, tmp_path), capsys, tmp_path)
    assert "--inception-weights" in err and judges.INCEPTION_FILE in err
    assert "torch-fidelity" in err and "--allow-embedded-judges" in err


def test_coco_without_clip_weights_is_refused(coco, tmp_path, capsys):
    err = refused(coco_args(coco, tmp_path, "--metrics", "clip_score"), capsys, tmp_path)
    assert "--clip-pretrained" in err and "ViT-B-16.pt" in err and "QuickGELU" not in err
    assert "--allow-embedded-judges" in err


@pytest.mark.parametrize(
    "extra, needle",
    [
        (["--metrics", "fid", "--extractor", "glide-bench-synth"], "--extractor glide-bench-synth"),
        (["--metrics", "clip_score", "--clip-model", "embedded"], "--clip-model embedded"),
    ],
)
def test_embedded_judges_on_coco_need_the_opt_in(coco, tmp_path, capsys, extra, needle):
    err = refused(coco_args(coco, tmp_path, *extra), capsys, tmp_path)
    assert needle in err and "does not fit coco captions" in err


def test_opt_in_is_recorded_as_a_deviation_in_sweep_json_and_report(coco, tmp_path):
    argv = coco_args(coco, tmp_path, "--metrics", "fid,clip_score", "--allow-embedded-judges")
    assert main(argv) == 0
    sweep = json.loads((tmp_path / "o" / "sweep.json").read_text())
    recorded = sweep["protocol"]["judges"]
    assert recorded["extractor"] == "glide-bench-synth" and recorded["clip_model"] == "embedded"
    assert len(recorded["embedded_judges_on_real_captions"]) == 2
    from reports.build import main as report_main

    assert report_main(["--sweep", str(tmp_path / "o"), "--out", str(tmp_path / "r")]) == 0
    html = (tmp_path / "r" / "report.html").read_text(encoding="utf-8")
    assert "Deviation: embedded judges on real captions" in html
    assert "compare with nothing" in html


def test_auto_follows_the_captions_not_the_cache(tmp_path, monkeypatch):
    cached = tmp_path / judges.INCEPTION_FILE
    cached.write_bytes(b"present")  # torch-fidelity's cache holds the file ...
    monkeypatch.setattr("bench.metrics.context.inception_cache_path", lambda: cached)
    config = EvalConfig(metrics=("fid", "clip_score"))
    synthetic = Evaluator(config, reference_paths=[], resolution=64, caption_kind="synthetic")
    # ... but synthetic captions keep the judges that fit them, whatever is cached
    assert (synthetic.judges.extractor, synthetic.judges.clip_model) == (
        judges.SYNTH,
        judges.EMBEDDED_CLIP,
    )
    coco = Evaluator(
        EvalConfig(metrics=("fid",)), reference_paths=[], resolution=64, caption_kind="coco"
    )
    assert coco.judges.extractor == judges.INCEPTION and coco.judges.deviations == ()


# -- the right CLIP --------------------------------------------------------------------------


def _pictures(folder: Path, n: int = 4) -> list[Path]:
    rng = np.random.default_rng(3)
    paths = []
    for i in range(n):
        paths.append(folder / f"{i}.png")
        write_png(paths[-1], rng.integers(0, 256, size=(64, 64, 3), dtype=np.uint8))
    return paths


CAPTIONS = ["a man riding a wave", "two giraffes by a tree", "a plate of food", "a red bus"]


def _independent_scores(model_name: str, state: dict, paths: list[Path]) -> np.ndarray:
    """100 * cos computed directly with open_clip (its own preprocess and tokenizer)."""
    import open_clip

    model, _, preprocess = open_clip.create_model_and_transforms(model_name)
    model.load_state_dict(state)
    model.eval()
    with torch.no_grad():
        pixels = torch.stack([preprocess(Image.open(p).convert("RGB")) for p in paths])
        f = model.encode_image(pixels)
        g = model.encode_text(open_clip.get_tokenizer(model_name)(CAPTIONS))
    return (100 * torch.nn.functional.cosine_similarity(f, g, dim=-1)).double().numpy()


def test_openai_archive_runs_as_quickgelu_and_equals_open_clip(real_assets, tmp_path):
    archive = real_assets["clip"]
    assert clip_weights_format(archive) == "openai-torchscript"
    choice = resolve_clip("ViT-B-16", archive)  # the plain name, as in the README's command
    assert choice.architecture == "ViT-B-16-quickgelu" and choice.activation == "QuickGELU"
    paths = _pictures(tmp_path)
    ours = ClipScorer(choice).scores(paths, CAPTIONS)
    state = real_assets["clip_model"].state_dict()
    expected = _independent_scores("ViT-B-16-quickgelu", state, paths)
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-3)
    # the activation matters: the same weights with GELU give other scores
    gelu = _independent_scores("ViT-B-16", state, paths)
    assert np.abs(gelu - expected).max() > 10 * 1e-3


def test_plain_state_dict_follows_the_name(real_assets, tmp_path):
    state = {k: v.half() for k, v in real_assets["clip_model"].state_dict().items()}
    path = tmp_path / "open_clip_model.bin"
    torch.save(state, path)
    assert clip_weights_format(path) == "state-dict"
    quick = resolve_clip("ViT-B-16-quickgelu", path)
    gelu = resolve_clip("ViT-B-16", path)
    assert (quick.activation, gelu.activation) == ("QuickGELU", "GELU")
    with pytest.raises(BenchError, match="--clip-model.*plain state dict.*ViT-B-16-quickgelu"):
        resolve_clip("ViT-B-16", path, name_given=False)  # the name came from a default
    with pytest.raises(BenchError, match="--paper-parity.*QuickGELU"):
        resolve_clip("ViT-B-16", path, require_quick_gelu=True)
    assert resolve_clip("ViT-B-16", real_assets["clip"], require_quick_gelu=True).activation == (
        "QuickGELU"
    )
    paths = _pictures(tmp_path, 2)
    ours = ClipScorer(quick).scores(paths, CAPTIONS[:2])
    archive = ClipScorer(resolve_clip("ViT-B-16", real_assets["clip"])).scores(paths, CAPTIONS[:2])
    np.testing.assert_allclose(ours, archive, rtol=0, atol=1e-3)


def test_clip_file_of_another_architecture_is_refused(real_assets):
    choice = resolve_clip("ViT-B-32", real_assets["clip"])
    with pytest.raises(BenchError, match=r"--clip-pretrained: .*ViT-B-16.pt is not a ViT-B-32"):
        ClipScorer(choice)


# -- bad inputs on the real path -------------------------------------------------------------


def test_coco_json_without_annotations(coco, tmp_path, capsys):
    captions, _ = coco
    data = json.loads(captions.read_text())
    del data["annotations"]
    bad = tmp_path / "captions_val2014.json"
    bad.write_text(json.dumps(data))
    argv = coco_args(coco, tmp_path, "--metrics", "none")
    argv[argv.index(str(captions))] = str(bad)
    err = refused(argv, capsys, tmp_path)
    assert str(bad) in err and "'annotations'" in err and "captions_val2014.json" in err


def test_caption_whose_image_is_missing(coco, tmp_path, capsys):
    captions, images = coco
    data = json.loads(captions.read_text())
    name = data["images"][0]["file_name"]
    (images / name).unlink()
    err = refused(
        coco_args(coco, tmp_path, "--metrics", "none", "--reference", "subset", "--num-samples",
                  str(len(data["annotations"]))),
        capsys, tmp_path,
    )  # fmt: skip
    assert name in err and "--coco-images" in err


def test_unreadable_jpeg_is_named_before_generating(coco, tmp_path, capsys, test_extractor):
    _, images = coco
    broken = sorted(images.glob("*.jpg"))[3]
    broken.write_bytes(broken.read_bytes()[:200])  # a truncated JPEG
    err = refused(
        coco_args(coco, tmp_path, "--metrics", "fid", "--extractor", test_extractor),
        capsys, tmp_path,
    )  # fmt: skip
    assert str(broken) in err and "cannot be read" in err


def test_inception_file_with_wrong_keys(coco, tmp_path, capsys):
    bad = tmp_path / judges.INCEPTION_FILE
    torch.save({"conv.weight": torch.zeros(3, 3)}, bad)
    err = refused(
        coco_args(coco, tmp_path, "--metrics", "fid", "--inception-weights", str(bad)),
        capsys, tmp_path,
    )  # fmt: skip
    assert str(bad) in err and "is not torch-fidelity's inception-v3-compat weights" in err
    assert judges.INCEPTION_FILE in err and "Missing key" in err


def test_checkpoint_folder_missing_a_file(coco, tmp_path, capsys, tiny_glide_dir):
    folder = tmp_path / "checkpoints"
    shutil.copytree(tiny_glide_dir, folder)
    (folder / "clip_text_enc.pt").unlink()
    argv = coco_args(coco, tmp_path, "--metrics", "none", "--method", "clip")
    argv[argv.index("toy")] = "glide"
    err = refused([*argv, "--checkpoints", str(folder)], capsys, tmp_path)
    assert "clip_text_enc.pt" in err and str(folder) in err


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_device_without_cuda(coco, tmp_path, capsys):
    err = refused(coco_args(coco, tmp_path, "--metrics", "none", "--device", "cuda"), capsys,
                  tmp_path)  # fmt: skip
    assert "--device: 'cuda'" in err and "--device cpu" in err
    assert "AssertionError" not in err
