"""The shipped evaluation networks: classifier accuracy, eval CLIP retrieval, fidelity extractor.

Every sample here comes from a seed that no network trained on (31337), so these are honest
held-out measurements of the weights in bench/judges/assets.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bench._torchvision import ensure_torchvision
from bench.errors import BenchError
from glide.data.synthetic import SyntheticCaptions
from glide.errors import GlideError

FRESH_SEED = 31337


@pytest.fixture(scope="module")
def fresh_val():
    ds = SyntheticCaptions(FRESH_SEED, "val")
    items = [ds[i] for i in range(400)]
    images = np.stack([im for im, _, _ in items])
    captions = [c for _, c, _ in items]
    scenes = [s for _, _, s in items]
    return images, captions, scenes


def test_classifier_exact_match_on_fresh_val(fresh_val):
    from bench.judges.embedded import caption_match

    images, captions, scenes = fresh_val
    ok = caption_match(images, captions)
    assert ok.dtype == bool and ok.shape == (len(images),)
    assert ok.mean() >= 0.98, f"exact caption match {ok.mean():.4f} < 0.98"
    heldout = np.array([s.heldout for s in scenes])
    assert heldout.sum() > 30 and ok[heldout].mean() >= 0.95  # held-out colour/shape pairs


def test_caption_match_rejects_wrong_captions(fresh_val):
    from bench.judges.embedded import caption_match

    images, captions, _ = fresh_val
    shuffled = captions[1:] + captions[:1]
    assert caption_match(images, shuffled).mean() < 0.1
    # one attribute changed: every colour word swapped for another colour
    swap = {
        "red": "blue",
        "blue": "green",
        "green": "red",
        "yellow": "purple",
        "purple": "orange",
        "orange": "cyan",
        "cyan": "yellow",
    }
    recoloured = [" ".join(swap.get(w, w) for w in c.split(" ")) for c in captions[:100]]
    assert caption_match(images[:100], recoloured).mean() < 0.05


def test_attribute_scores_give_partial_credit(fresh_val):
    from bench.judges.attributes import HEAD_NAMES, IGNORE, scene_labels
    from bench.judges.embedded import attribute_scores, attribute_summary, caption_match

    images, captions, scenes = fresh_val
    images, captions, scenes = images[:120], captions[:120], scenes[:120]
    right = attribute_scores(images, captions)
    exact = caption_match(images, captions)
    assert right.shape == (len(images),) and np.all((right == 1.0) == exact)
    # only the colour words changed: a single object keeps 4 of its 5 attributes
    swap = {"red": "blue", "blue": "green", "green": "red", "yellow": "purple"}
    swap |= {"purple": "orange", "orange": "cyan", "cyan": "yellow"}
    recoloured = [" ".join(swap.get(w, w) for w in c.split(" ")) for c in captions]
    wrong = attribute_scores(images, recoloured)
    single = np.array([s.kind == "single" for s in scenes])
    ok = exact & single
    assert ok.sum() > 20 and np.allclose(wrong[ok], 4 / 5)
    assert 0.6 < wrong.mean() < 0.9 and right.mean() > 0.98
    summary = attribute_summary(images, recoloured)
    assert summary["attribute_match"] == pytest.approx(wrong.mean())
    heads = summary["head_accuracy"]
    assert set(heads) == set(HEAD_NAMES)
    assert heads["a_colour"] < 0.05 and heads["background"] > 0.98
    constrained_b = [scene_labels(s)[HEAD_NAMES.index("b_shape")] != IGNORE for s in scenes]
    assert (heads["b_shape"] is None) == (not any(constrained_b))


def test_caption_match_resizes_larger_images():
    from bench.judges.embedded import caption_match

    ds = SyntheticCaptions(FRESH_SEED, "val", size=256)
    items = [ds[i] for i in range(40)]
    ok = caption_match(np.stack([im for im, _, _ in items]), [c for _, c, _ in items])
    assert ok.mean() >= 0.9


def test_caption_match_bad_inputs(fresh_val):
    from bench.judges.embedded import caption_match

    images, captions, _ = fresh_val
    with pytest.raises(GlideError, match=r"captions\[1\]"):
        caption_match(images[:2], [captions[0], "a photo of a dog"])
    with pytest.raises(BenchError, match="captions"):
        caption_match(images[:3], captions[:2])
    with pytest.raises(BenchError, match="uint8"):
        caption_match(images[:2].astype(np.float32), captions[:2])
    with pytest.raises(BenchError, match="shape"):
        caption_match(images[0], captions[:1])


def test_eval_clip_ranks_the_right_caption_first(fresh_val):
    ensure_torchvision()
    import open_clip
    from PIL import Image

    from bench.judges.embedded import load_eval_clip
    from bench.judges.eval_clip import MODEL_NAME

    model, preprocess, tokenizer = load_eval_clip()
    assert MODEL_NAME in open_clip.list_models()
    assert isinstance(tokenizer, open_clip.tokenizer.SimpleTokenizer)
    images, captions, _ = fresh_val
    n = 100
    with torch.no_grad():
        pixels = torch.stack([preprocess(Image.fromarray(im)) for im in images[:n]])
        img = torch.nn.functional.normalize(model.encode_image(pixels), dim=-1)
        txt = torch.nn.functional.normalize(model.encode_text(tokenizer(captions[:n])), dim=-1)
    sim = img @ txt.t()
    top1 = (sim.argmax(dim=1) == torch.arange(n)).float().mean().item()
    assert top1 >= 0.6, f"eval CLIP top-1 among {n} captions: {top1:.3f}"
    assert sim.diag().mean() > sim.mean() + 0.2


def test_eval_clip_prefers_true_caption_over_one_change():
    from bench.judges.embedded import load_eval_clip
    from bench.judges.one_change_scenes import CHANGES
    from bench.judges.train_clip import one_change_preference

    model, preprocess, tokenizer = load_eval_clip()
    wins = one_change_preference(model, preprocess, tokenizer, FRESH_SEED, 100)
    for change in CHANGES:
        assert wins[change] >= 0.85, f"{change}: true caption preferred in {wins[change]:.2f}"


def test_eval_clip_tokenizer_keeps_grammar_words_whole():
    ensure_torchvision()
    from bench.judges.eval_clip import get_eval_tokenizer, grammar_words

    tokenizer = get_eval_tokenizer()
    for word in grammar_words():
        assert len(tokenizer.encode(word)) == 1, word


def test_fidelity_extractor_registered_and_fid_sane(fresh_val):
    ensure_torchvision()
    import torch_fidelity

    from bench.judges.embedded import register_fidelity_extractor

    name = register_fidelity_extractor()
    assert name == "glide-bench-synth" and register_fidelity_extractor() == name
    assert name in torch_fidelity.registry.FEATURE_EXTRACTORS_REGISTRY

    class Images(torch.utils.data.Dataset):
        def __init__(self, arrays):
            self.x = torch.from_numpy(arrays).permute(0, 3, 1, 2).contiguous()

        def __len__(self):
            return len(self.x)

        def __getitem__(self, i):
            return self.x[i]

    images = fresh_val[0]
    kwargs = dict(
        feature_extractor=name, cuda=False, verbose=False, save_cpu_ram=True, batch_size=100
    )
    same = torch_fidelity.calculate_metrics(
        input1=Images(images[:200]),
        input2=Images(images[:200]),
        fid=True,
        isc=True,
        isc_splits=2,
        **kwargs,
    )
    assert abs(same["frechet_inception_distance"]) < 1e-2
    assert 1.5 < same["inception_score_mean"] <= 35.0
    other_real = torch_fidelity.calculate_metrics(
        input1=Images(images[:200]),
        input2=Images(images[200:400]),
        fid=True,
        kid=True,
        kid_subset_size=100,
        prc=True,
        **kwargs,
    )
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, size=(200, 64, 64, 3), dtype=np.uint8)
    fake = torch_fidelity.calculate_metrics(
        input1=Images(noise), input2=Images(images[200:400]), fid=True, **kwargs
    )
    assert other_real["frechet_inception_distance"] * 5 < fake["frechet_inception_distance"]
    assert other_real["precision"] > 0.5 and other_real["recall"] > 0.5


def test_public_api_works_in_a_fresh_interpreter():
    """bench.judges.embedded needs no import-order care from its callers (torchvision shim
    inside)."""
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "from bench.judges.embedded import load_eval_clip, register_fidelity_extractor\n"
        "model, preprocess, tokenizer = load_eval_clip()\n"
        "assert tokenizer(['a small red circle on the left, white background']).shape[0] == 1\n"
        "print(register_fidelity_extractor())\n"
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith("glide-bench-synth")
