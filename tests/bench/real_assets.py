"""Stand-ins for the real assets of the paper's evaluation, in their real formats and names.

Each is built here from random weights or generated pictures, so that the real code path (file
names, key layouts, archive formats, pycocotools, JPEG decoding) runs without the real files:

- ``checkpoints/``: ``base.pt``, ``clip_image_enc.pt``, ``clip_text_enc.pt`` at the official
  architectures (random weights in the official key layout, stored as float16);
- ``coco/annotations/captions_val2014.json`` + ``coco/val2014/``: the MS-COCO captions format
  over JPEGs of mixed sizes and modes (non-square, grayscale, CMYK, EXIF-rotated) and one PNG;
- ``weights-inception-2015-12-05-6726825d.pth``: torch-fidelity's Inception-v3 state dict
  (its key names, random values);
- ``ViT-B-16.pt``: a TorchScript archive of a random ViT-B/16 with OpenAI's key layout and
  float16 weights, as OpenAI publishes CLIP.
"""

from __future__ import annotations

import json
from pathlib import Path
from unittest import mock

import numpy as np
import torch
from PIL import Image

INCEPTION_FILE = "weights-inception-2015-12-05-6726825d.pth"
CLIP_FILE = "ViT-B-16.pt"


def make_official_checkpoints(folder: Path, seed: int = 0) -> Path:
    """Random-weight base model and noised CLIP at the official sizes and file names."""
    import glide
    from glide.checkpoints import save_checkpoint

    folder.mkdir(parents=True, exist_ok=True)
    gen = torch.Generator().manual_seed(seed)
    base = glide.build_model("base")
    with torch.no_grad():  # the official init zeroes the output conv; give it values
        for p in base.parameters():
            if not p.abs().sum():
                p.copy_(torch.randn(p.shape, generator=gen) * 0.01)
    save_checkpoint(base, folder / "base.pt", dtype=torch.float16)
    del base
    clip = glide.build_clip("clip")
    save_checkpoint(clip.image_encoder, folder / "clip_image_enc.pt", dtype=torch.float16)
    save_checkpoint(clip.text_encoder, folder / "clip_text_enc.pt", dtype=torch.float16)
    return folder


def _picture(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """A picture with structure (gradients and blocks), not pure noise."""
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack(
        [(xx * 255 // max(w - 1, 1)), (yy * 255 // max(h - 1, 1)), ((xx + yy) * 7) % 256], -1
    )
    block = rng.integers(0, 256, size=(3,))
    x0, y0 = int(rng.integers(0, w // 2)), int(rng.integers(0, h // 2))
    base[y0 : y0 + h // 3, x0 : x0 + w // 3] = block
    return base.astype(np.uint8)


CAPTION_WORDS = [
    ("a man riding a wave on top of a surfboard", "a surfer rides a large wave in the ocean"),
    ("two giraffes standing next to a tree", "giraffes eating leaves at the zoo"),
    ("a plate of food with broccoli and rice", "a healthy dinner on a white plate"),
    ("a red double decker bus on a city street", "a bus driving past tall buildings"),
    ("a cat sleeping on a laptop keyboard", "a kitten curled up on a computer"),
]


def make_coco(root: Path, n_images: int = 20, seed: int = 0) -> tuple[Path, Path]:
    """``root/annotations/captions_val2014.json`` and ``root/val2014/`` (two captions each)."""
    rng = np.random.default_rng(seed)
    images_dir = root / "val2014"
    images_dir.mkdir(parents=True)
    (root / "annotations").mkdir()
    images, annotations = [], []
    for i in range(n_images):
        image_id = 100000 + 37 * i
        w, h = int(rng.integers(96, 200)), int(rng.integers(80, 180))
        if i % 5 == 0:
            w = h  # some square ones
        pixels = _picture(rng, w, h)
        name = f"COCO_val2014_{image_id:012d}.jpg"
        kind = i % 6
        img = Image.fromarray(pixels, mode="RGB")
        if kind == 1:
            img.convert("L").save(images_dir / name, quality=90)  # grayscale JPEG
        elif kind == 2:
            img.convert("CMYK").save(images_dir / name, quality=90)  # CMYK JPEG
        elif kind == 3:
            exif = Image.Exif()
            exif[0x0112] = 6  # orientation: rotate 90 degrees when displayed
            img.save(images_dir / name, quality=90, exif=exif)
        elif kind == 4 and i == 4:
            name = name.replace(".jpg", ".png")  # one PNG, with alpha
            img.convert("RGBA").save(images_dir / name)
        else:
            img.save(images_dir / name, quality=90)
        images.append({"id": image_id, "file_name": name, "width": w, "height": h})
        for j, caption in enumerate(CAPTION_WORDS[i % len(CAPTION_WORDS)]):
            annotations.append(
                {"id": 500000 + 10 * i + j, "image_id": image_id, "caption": f" {caption}. "}
            )
    data = {
        "info": {"description": "stand-in for COCO 2014 val captions"},
        "licenses": [],
        "images": images,
        "annotations": annotations,
    }
    captions = root / "annotations" / "captions_val2014.json"
    captions.write_text(json.dumps(data))
    return captions, images_dir


def make_inception_weights(path: Path, seed: int = 0) -> Path:
    """torch-fidelity's Inception-v3 state dict (its key names and shapes, random values)."""
    from bench._torchvision import ensure_torchvision

    ensure_torchvision()
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    empty = path.with_suffix(".empty")
    torch.save({}, empty)
    torch.manual_seed(seed)
    with mock.patch.object(FeatureExtractorInceptionV3, "load_state_dict", lambda *a, **k: None):
        model = FeatureExtractorInceptionV3("stand-in", ["2048"], empty)
    empty.unlink()
    # Calibrate the batch norms on a few pictures, so that random weights give features that
    # vary with the image (uncalibrated, the deep random net maps every image to one point).
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average over the calibration batches
    rng = np.random.default_rng(seed)
    model.train()
    with torch.no_grad():
        for _ in range(2):
            batch = np.stack([_picture(rng, 128, 128) for _ in range(8)])
            model(torch.from_numpy(batch).permute(0, 3, 1, 2).contiguous())
    model.eval()
    torch.save(model.state_dict(), path)
    return path


def make_openai_clip(path: Path, seed: int = 0) -> torch.nn.Module:
    """A TorchScript archive of a random ViT-B/16 in OpenAI's layout (float16 weights).

    Returns the float32 open_clip ``ViT-B-16-quickgelu`` model holding exactly the saved
    (float16-rounded) weights, for computing expected values independently.
    """
    from bench._torchvision import ensure_torchvision

    ensure_torchvision()
    import open_clip

    torch.manual_seed(seed)
    model = open_clip.create_model("ViT-B-16-quickgelu").eval()
    with torch.no_grad():
        model.half().float()  # the values the float16 archive holds
        traced = torch.jit.trace(
            model,
            (torch.zeros(1, 3, 224, 224), torch.zeros(1, 77, dtype=torch.long)),
            check_trace=False,
            strict=False,
        )
    traced.half().save(str(path))
    return model


def make_all(root: Path) -> dict[str, Path]:
    """Every stand-in under ``root``, laid out as the README's command expects."""
    captions, images = make_coco(root / "coco")
    return {
        "checkpoints": make_official_checkpoints(root / "checkpoints"),
        "captions": captions,
        "images": images,
        "inception": make_inception_weights(root / INCEPTION_FILE),
        "clip": root / CLIP_FILE,
        "clip_model": make_openai_clip(root / CLIP_FILE),
    }
