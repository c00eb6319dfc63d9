"""Fixtures for bench tests: a tiny COCO-format caption set and a tiny feature extractor.

Nothing here needs trained weights: the sweep tests use the ``toy`` generator and a fixed
random-weight torch-fidelity extractor registered under ``bench-test-tiny``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

TEST_EXTRACTOR = "bench-test-tiny"
COLORS = ["red", "green", "blue", "yellow", "purple", "orange"]
SHAPES = ["square", "circle", "triangle"]


def make_coco(root: Path, n_images: int = 24, captions_per_image: int = 2) -> tuple[Path, Path]:
    """Write ``captions.json`` (MS-COCO format) and ``images/`` with non-square JPEGs."""
    rng = np.random.default_rng(7)
    images_dir = root / "images"
    images_dir.mkdir(parents=True)
    images, annotations = [], []
    ann_id = 100
    for i in range(n_images):
        w, h = int(rng.integers(70, 110)), int(rng.integers(60, 100))
        pixels = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
        pixels[:, : w // 2] = (i * 37) % 256
        name = f"COCO_val_{i:06d}.jpg"
        Image.fromarray(pixels).save(images_dir / name, quality=90)
        images.append({"id": 1000 + i, "file_name": name, "width": w, "height": h})
        for j in range(captions_per_image):
            color, shape = COLORS[(i + j) % len(COLORS)], SHAPES[(i * 2 + j) % len(SHAPES)]
            annotations.append(
                {"id": ann_id, "image_id": 1000 + i, "caption": f"a {color} {shape}  on grass"}
            )
            ann_id += 1
    captions = root / "captions.json"
    captions.write_text(json.dumps({"images": images, "annotations": annotations}))
    return captions, images_dir


@pytest.fixture()
def coco(tmp_path: Path) -> tuple[Path, Path]:
    return make_coco(tmp_path / "coco")


def register_test_extractor() -> str:
    """Register (once) a fixed random conv net as a torch-fidelity extractor."""
    from bench._torchvision import ensure_torchvision

    ensure_torchvision()
    from torch_fidelity.feature_extractor_base import FeatureExtractorBase
    from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY, register_feature_extractor

    if TEST_EXTRACTOR in FEATURE_EXTRACTORS_REGISTRY:
        return TEST_EXTRACTOR

    class TinyExtractor(FeatureExtractorBase):
        def __init__(self, name, features_list, **kwargs):
            super().__init__(name, features_list)
            gen = torch.Generator().manual_seed(0)
            self.conv = torch.nn.Conv2d(3, 12, 5, stride=2)
            self.fc = torch.nn.Linear(24, 10)
            with torch.no_grad():
                for p in list(self.conv.parameters()) + list(self.fc.parameters()):
                    p.copy_(torch.randn(p.shape, generator=gen) * 0.2)

        @staticmethod
        def get_provided_features_list():
            return ("feat", "logits")

        @staticmethod
        def get_default_feature_layer_for_metric(metric):
            return {"isc": "logits", "fid": "feat", "kid": "feat", "prc": "feat"}[metric]

        @staticmethod
        def can_be_compiled():
            return False

        @staticmethod
        def get_dummy_input_for_compile():
            return torch.zeros(1, 3, 32, 32, dtype=torch.uint8)

        def forward(self, x):
            x = torch.nn.functional.interpolate(x.float() / 127.5 - 1, size=(32, 32), mode="area")
            h = torch.relu(self.conv(x))
            feat = torch.cat([h.mean(dim=(2, 3)), h.amax(dim=(2, 3))], dim=1)
            out = {"feat": feat, "logits": self.fc(feat)}
            return tuple(out[name] for name in self.features_list)

    register_feature_extractor(TEST_EXTRACTOR, TinyExtractor)
    return TEST_EXTRACTOR


@pytest.fixture()
def test_extractor() -> str:
    return register_test_extractor()


TINY_CLIP = "bench-test-tiny-clip"


@pytest.fixture(scope="session")
def tiny_clip(tmp_path_factory):
    from bench._torchvision import ensure_torchvision

    ensure_torchvision()
    import open_clip

    root = tmp_path_factory.mktemp("clip")
    config = {
        "embed_dim": 16,
        "vision_cfg": {
            "image_size": 32,
            "layers": 1,
            "width": 32,
            "patch_size": 8,
            "head_width": 16,
        },
        "text_cfg": {
            "context_length": 77,
            "vocab_size": 49408,
            "width": 32,
            "heads": 2,
            "layers": 1,
        },
    }
    (root / f"{TINY_CLIP}.json").write_text(json.dumps(config))
    open_clip.add_model_config(root / f"{TINY_CLIP}.json")
    torch.manual_seed(0)
    model = open_clip.create_model(TINY_CLIP)
    weights = root / "tiny.pt"
    torch.save(model.state_dict(), weights)
    return weights


def _randomize(model: torch.nn.Module, seed: int, std: float = 0.05) -> torch.nn.Module:
    """Random values for every parameter (some output convs start at zero). The base model uses
    std 0.2 so that its text path visibly changes the output (guidance scales differ)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * std)
    return model


TINY_BASE = dict(
    image_size=64, num_channels=32, num_res_blocks=1, channel_mult="1,1,2,2",
    attention_resolutions="8", num_head_channels=32, text_ctx=16, xf_width=32, xf_layers=1,
    xf_heads=1, dropout=0.0,
)  # fmt: skip
TINY_UP = dict(
    image_size=256, num_channels=32, num_res_blocks=1, channel_mult="1,1,1,1,1,1",
    attention_resolutions="8", num_head_channels=32, text_ctx=16, xf_width=8, xf_layers=1,
    xf_heads=1, super_res=True, noise_schedule="linear", dropout=0.0,
)  # fmt: skip


@pytest.fixture(scope="session")
def tiny_glide_dir(tmp_path_factory) -> Path:
    """A checkpoints folder of tiny random-weight GLIDE models (base, upsampler, noised CLIP)
    with its glide_options.json: the real pipeline behind the sweep, no trained weights."""
    import glide
    from glide.checkpoints import save_checkpoint, write_options_file
    from glide.clip import CLIP_SMALL

    folder = tmp_path_factory.mktemp("tiny_glide")
    clip_cfg = CLIP_SMALL.replace(image_size=64, n_xf_blocks_image=1, n_xf_blocks_text=1)
    save_checkpoint(_randomize(glide.build_model(TINY_BASE), 1, 0.2), folder / "base.pt")
    save_checkpoint(_randomize(glide.build_model(TINY_UP), 2), folder / "upsample.pt")
    clip = glide.build_clip(clip_cfg)
    save_checkpoint(clip.image_encoder, folder / "clip_image_enc.pt")
    save_checkpoint(clip.text_encoder, folder / "clip_text_enc.pt")
    write_options_file(
        folder,
        {"base": TINY_BASE, "upsample": TINY_UP, "clip-image-enc": clip_cfg,
         "clip-text-enc": clip_cfg},
    )  # fmt: skip
    return folder


@pytest.fixture(scope="session")
def real_assets(tmp_path_factory) -> dict:
    """Stand-ins for every real asset of the paper's evaluation (tests/bench/real_assets.py),
    built once per session: official-size checkpoints, COCO files, Inception, OpenAI CLIP."""
    from real_assets import make_all

    root = tmp_path_factory.mktemp("real_assets")
    assets = make_all(root)
    assets["root"] = root
    return assets
