"""Captioned images held in memory for the training recipes.

Two sources, one result (:class:`CaptionedImages`):

- ``load_coco_folder(root, split, size)``: an MS-COCO captions folder on disk
  (``annotations/captions_<split>.json`` + an image folder), such as the one
  ``python -m glide.data.synthetic`` writes, or real MS-COCO, brought to ``size x size`` by
  ``fit``: ``"center-crop"`` (default: the central square of the shorter side, then a bicubic
  resize, as the paper and the benchmark's reference images) or ``"squash"`` (the whole image
  resized, aspect ratio lost; the only behaviour before ``--image-fit``);
- ``generate_synthetic(seed, n, size)``: the synthetic set rendered in memory
  (:class:`glide.data.synthetic.SyntheticCaptions`), no files needed.

Images are kept as uint8 ``[M, 3, size, size]``; every caption (COCO annotation) is one training
example pointing at its image, so an image with 5 captions is seen 5 times as often as one with 1.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from glide.errors import GlideError
from glide.train.config import IMAGE_FITS

__all__ = [
    "CaptionedImages",
    "fit_image",
    "generate_synthetic",
    "load_coco_folder",
    "load_data",
    "to_model_range",
]


@dataclass(frozen=True)
class CaptionedImages:
    """``images`` uint8 [M, 3, S, S]; example ``k`` is (images[image_index[k]], captions[k])."""

    images: torch.Tensor
    captions: tuple[str, ...]
    image_index: torch.Tensor  # int64 [K]
    source: str = "memory"

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.dim() != 4 or self.images.shape[1] != 3:
            raise GlideError(
                f"images must be uint8 [M, 3, S, S], got {self.images.dtype} "
                f"{tuple(self.images.shape)}"
            )
        if len(self.captions) != len(self.image_index) or len(self.captions) == 0:
            raise GlideError(
                f"need one image index per caption and at least one caption; got "
                f"{len(self.captions)} captions and {len(self.image_index)} indices"
            )
        ids: dict[str, int] = {}
        keys = torch.tensor([ids.setdefault(c, len(ids)) for c in self.captions])
        object.__setattr__(self, "_keys", keys)

    def __len__(self) -> int:
        return len(self.captions)

    @property
    def size(self) -> int:
        return int(self.images.shape[-1])

    def batch(self, indices: torch.Tensor) -> tuple[torch.Tensor, list[str]]:
        """Examples ``indices`` [n] -> (uint8 images [n, 3, S, S], captions)."""
        images = self.images[self.image_index[indices]]
        return images, [self.captions[int(i)] for i in indices]

    def fingerprint(self) -> str:
        """sha256 of the images, the captions and the caption -> image map (cached): a resumed
        run checks that it trains on the very same examples."""
        cached = getattr(self, "_sha256", None)
        if cached is None:
            h = hashlib.sha256()
            h.update(json.dumps([list(self.images.shape), list(self.captions)]).encode("utf-8"))
            h.update(self.image_index.to(torch.int64).contiguous().numpy().tobytes())
            h.update(self.images.contiguous().numpy())
            cached = h.hexdigest()
            object.__setattr__(self, "_sha256", cached)
        return cached

    def caption_keys(self, indices: torch.Tensor) -> torch.Tensor:
        """An int64 id per example [n], equal exactly when the caption strings are equal."""
        return self._keys[indices]


def to_model_range(images: torch.Tensor, device: torch.device | str | None = None) -> torch.Tensor:
    """uint8 [N, 3, S, S] -> float32 in [-1, 1] on ``device`` (the diffusion models' range)."""
    return images.to(device=device, dtype=torch.float32).div_(127.5).sub_(1.0)


def _squash(image: Image.Image, size: int) -> Image.Image:
    if image.size == (size, size):
        return image
    return image.resize((size, size), Image.Resampling.BOX if image.width > size else Image.BICUBIC)


def _center_crop(image: Image.Image, size: int) -> Image.Image:
    """The central square of the shorter side, bicubic-resized to ``size`` (the policy of
    ``bench.images.center_crop_resize``, the benchmark's reference images)."""
    w, h = image.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    if (w, h) != (side, side):
        image = image.crop((left, top, left + side, top + side))
    if side != size:
        image = image.resize((size, size), resample=Image.Resampling.BICUBIC)
    return image


def fit_image(image: Image.Image, size: int, fit: str = "center-crop") -> Image.Image:
    """``image`` -> ``size x size`` by ``fit`` (:data:`glide.train.config.IMAGE_FITS`)."""
    if fit == "center-crop":
        return _center_crop(image, size)
    if fit == "squash":
        return _squash(image, size)
    raise GlideError(_unknown_fit(fit))


def _unknown_fit(fit: str) -> str:
    return f"--image-fit {fit!r} is unknown; choose one of {sorted(IMAGE_FITS)}"


def load_coco_folder(
    root: str | Path,
    split: str = "train",
    size: int = 64,
    *,
    fit: str = "center-crop",
    limit: int | None = None,
    progress: bool = True,
) -> CaptionedImages:
    """Read ``root/annotations/captions_<split>.json`` and its images, brought to
    ``size x size`` by ``fit`` (``"center-crop"`` or ``"squash"``, see :func:`fit_image`).

    The image folder is the one named by the JSON's ``info.image_folders[size]`` when present
    (the synthetic set's ``train``/``train256``), else ``root/<split><size>``, ``root/<split>``
    or ``root/<split>2014`` (MS-COCO), the first that exists. ``limit`` keeps the first images.
    """
    from tqdm import tqdm

    if fit not in IMAGE_FITS:
        raise GlideError(_unknown_fit(fit))
    root = Path(root)
    ann_path = root / "annotations" / f"captions_{split}.json"
    if not ann_path.is_file():
        raise GlideError(
            f"--data {str(root)!r}: no {ann_path.relative_to(root)} there; give a folder in "
            f"MS-COCO captions format (python -m glide.data.synthetic --out DIR ... writes one) "
            f"or --data synthetic"
        )
    data = json.loads(ann_path.read_text())
    folders = data.get("info", {}).get("image_folders", {})
    candidates = ([folders[str(size)]] if str(size) in folders else []) + [
        f"{split}{size}",
        split,
        f"{split}2014",
        f"{split}2017",
    ]
    image_dir = next((root / c for c in candidates if (root / c).is_dir()), None)
    if image_dir is None:
        raise GlideError(
            f"--data {str(root)!r}: none of the image folders {candidates} exists for split "
            f"{split!r} at size {size}"
        )
    entries = data["images"][:limit] if limit else data["images"]
    row_of: dict[int, int] = {}
    images = np.empty((len(entries), size, size, 3), dtype=np.uint8)
    for row, entry in enumerate(tqdm(entries, desc=f"load {split}", disable=not progress)):
        with Image.open(image_dir / entry["file_name"]) as im:
            images[row] = np.asarray(fit_image(im.convert("RGB"), size, fit))
        row_of[entry["id"]] = row
    captions, index = [], []
    for ann in data["annotations"]:
        row = row_of.get(ann["image_id"])
        if row is not None:
            captions.append(ann["caption"])
            index.append(row)
    return CaptionedImages(
        torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(),
        tuple(captions),
        torch.tensor(index, dtype=torch.long),
        source=f"{ann_path} ({image_dir.name}/, {fit} to {size}x{size})",
    )


def generate_synthetic(
    seed: int,
    n: int,
    size: int = 64,
    *,
    split: str = "train",
    captions_per_image: int = 1,
    progress: bool = True,
) -> CaptionedImages:
    """Render ``n`` items of the synthetic set (``glide.data.synthetic``) into memory."""
    from tqdm import tqdm

    from glide.data.render import render
    from glide.data.synthetic import SyntheticCaptions

    if not isinstance(n, int) or n < 1:
        raise GlideError(f"--data-size {n!r} must be a positive integer")
    source = SyntheticCaptions(seed, split, size=64, length=n)
    images = np.empty((n, size, size, 3), dtype=np.uint8)
    captions, index = [], []
    for i in tqdm(range(n), desc=f"render synthetic {split}", disable=not progress):
        item = source.item(i)
        images[i] = render(item.layout, size)
        texts = (
            source.paraphrases(i, captions_per_image) if captions_per_image > 1 else [item.caption]
        )
        captions.extend(texts)
        index.extend([i] * len(texts))
    return CaptionedImages(
        torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(),
        tuple(captions),
        torch.tensor(index, dtype=torch.long),
        source=f"synthetic(seed={seed}, split={split}, n={n}, size={size})",
    )


def load_data(
    data: str,
    size: int,
    *,
    seed: int = 0,
    n: int = 10000,
    split: str = "train",
    captions_per_image: int = 1,
    image_fit: str = "center-crop",
    progress: bool = True,
) -> CaptionedImages:
    """``--data synthetic`` -> :func:`generate_synthetic` (rendered at ``size``: ``image_fit``
    does not apply); a folder -> :func:`load_coco_folder` with ``fit=image_fit``."""
    if data == "synthetic":
        return generate_synthetic(
            seed, n, size, split=split, captions_per_image=captions_per_image, progress=progress
        )
    if captions_per_image != 1:
        warnings.warn(
            "--captions-per-image applies to --data synthetic only; a folder brings "
            "its own captions",
            stacklevel=2,
        )
    return load_coco_folder(data, split, size, fit=image_fit, progress=progress)
