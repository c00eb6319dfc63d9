"""CLIP score through open_clip: the 100 * cos convention (no clamp), and the guard that keeps
the generator's own (guiding) CLIP from judging."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bench.captions import sha256_file
from bench.errors import BenchError
from bench.images import write_png
from bench.metrics.clip_score import ClipScorer, resolve_clip
from bench.metrics.context import EvalConfig, Evaluator

TINY = "bench-test-tiny-clip"


def test_clip_score_is_100_cos_without_clamp(tiny_clip, tmp_path):
    rng = np.random.default_rng(0)
    paths = []
    for i in range(6):
        paths.append(tmp_path / f"{i}.png")
        write_png(paths[-1], rng.integers(0, 256, size=(64, 64, 3), dtype=np.uint8))
    captions = ["a red square", "a blue circle", "two cats", "x", "a green cross", "dog"]
    scorer = ClipScorer(resolve_clip(TINY, tiny_clip))
    scores = scorer.scores(paths, captions, batch_size=4)
    assert scores.shape == (6,)

    from PIL import Image

    with torch.no_grad():
        pixels = torch.stack([scorer.preprocess(Image.open(p).convert("RGB")) for p in paths])
        f = scorer.model.encode_image(pixels)
        g = scorer.model.encode_text(scorer.tokenizer(captions))
    cos = torch.nn.functional.cosine_similarity(f, g, dim=-1).double().numpy()
    np.testing.assert_allclose(scores, 100 * cos, rtol=1e-5, atol=1e-4)
    assert (np.abs(scores) <= 100 + 1e-6).all()
    # a random model gives some negative similarities: they are kept, not clamped at 0
    assert (scores < 0).any()


def test_guiding_clip_is_refused_as_judge(tiny_clip):
    description = {"pipeline": {"clip": {"sha256": sha256_file(tiny_clip)}}}
    config = EvalConfig(metrics=("clip_score",), clip_model=TINY, clip_pretrained=tiny_clip)
    evaluator = Evaluator(config, reference_paths=[], resolution=64, caption_kind="coco")
    evaluator.check_judges_independent_of({"pipeline": {"clip": {"sha256": "0" * 64}}})
    with pytest.raises(BenchError, match="guiding CLIP"):
        evaluator.check_judges_independent_of(description)


def test_clip_options_are_checked(tiny_clip, tmp_path):
    with pytest.raises(BenchError, match="--clip-model: 'ViT-Q-99'"):
        resolve_clip("ViT-Q-99", tiny_clip)
    with pytest.raises(BenchError, match="--clip-pretrained"):
        resolve_clip(TINY, tmp_path / "missing.pt")
