"""The synthetic captioned dataset: indexable in memory, or written in MS-COCO captions format.

Item ``i`` of ``(seed, split)`` is drawn from its own random stream
``numpy.random.default_rng([seed, split_code, i])`` (split codes: train 0, val 1, test 2), so it
is the same however many items are generated, in whatever order (scene, then caption, then
layout), and the ``test`` split (added later, code 2) changed no ``train`` or ``val`` item. The
grammar, the vocabulary and the held-out (shape, colour) pairs (absent from ``train``, present
in ``val`` and ``test``) are in :mod:`glide.data.scene` and :mod:`glide.data.grammar`.

The splits' roles: ``train`` for training, ``val`` for model selection and tuning, ``test`` for
the final evaluation only (``glide.data.scene.check_development_split``).

CLI::

    python -m glide.data.synthetic --out data/synth --n-train 20000 --n-val 1000 \
        [--n-test 1000] --seed 0 --sizes 64,256

writes ``annotations/captions_{train,val}.json`` (and ``captions_test.json`` with
``--n-test``; ``images`` entries carry an ``attributes`` object with the ground truth), and PNG
folders ``train/``, ``val/``, ``test/`` (64x64) and ``train256/``, ``val256/``, ``test256/``.
Re-running resumes: PNGs already in place are kept (they are deterministic).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from glide.data.grammar import TEMPLATES, make_caption, parse_caption
from glide.data.render import Layout, render, sample_layout
from glide.data.scene import HELDOUT_PAIRS, SPLITS, Scene, check_split, sample_scene
from glide.errors import GlideError
from glide.io import atomic_write_bytes

__all__ = [
    "SyntheticCaptions",
    "SyntheticItem",
    "Scene",
    "parse_caption",
    "generate_dataset",
    "HELDOUT_PAIRS",
    "main",
]

SPLIT_CODES = {"train": 0, "val": 1, "test": 2}
ALLOWED_SIZES = (64, 128, 256)
GENERATOR_VERSION = 1


@dataclass(frozen=True)
class SyntheticItem:
    """One dataset item before rendering."""

    index: int
    scene: Scene
    caption: str
    layout: Layout


def _check_seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise GlideError(f"seed: {seed!r} is not a non-negative integer")
    return int(seed)


class SyntheticCaptions:
    """Indexable synthetic set: ``ds[i] -> (uint8 [size, size, 3], caption, Scene)``.

    ``length`` bounds the indices (and gives ``len``); ``None`` leaves the set unbounded.
    """

    def __init__(
        self, seed: int = 0, split: str = "train", size: int = 64, length: int | None = None
    ) -> None:
        self.seed = _check_seed(seed)
        self.split = check_split(split)
        if size not in ALLOWED_SIZES:
            raise GlideError(f"size: {size!r} is not one of {list(ALLOWED_SIZES)}")
        self.size = size
        if length is not None and (not isinstance(length, int) or length < 0):
            raise GlideError(f"length: {length!r} is not a non-negative integer or None")
        self.length = length

    def __len__(self) -> int:
        if self.length is None:
            raise TypeError("this SyntheticCaptions is unbounded; pass length= to give it a len")
        return self.length

    def _rng(self, index: int, stream: int = 0) -> np.random.Generator:
        key = [self.seed, SPLIT_CODES[self.split], index] + ([stream] if stream else [])
        return np.random.default_rng(key)

    def _check_index(self, index: int) -> int:
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or index < 0:
            raise GlideError(f"index: {index!r} is not a non-negative integer")
        if self.length is not None and index >= self.length:
            raise IndexError(f"index {index} out of range for a set of {self.length}")
        return int(index)

    def item(self, index: int) -> SyntheticItem:
        index = self._check_index(index)
        rng = self._rng(index)
        scene = sample_scene(rng, self.split)
        caption = make_caption(scene, rng)
        layout = sample_layout(scene, rng)
        return SyntheticItem(index, scene, caption, layout)

    def paraphrases(self, index: int, n: int) -> list[str]:
        """``n`` captions of item ``index``: its own, then ``n - 1`` other paraphrases."""
        item = self.item(index)
        return [item.caption] + [
            make_caption(item.scene, self._rng(item.index, k)) for k in range(1, n)
        ]

    def __getitem__(self, index: int) -> tuple[np.ndarray, str, Scene]:
        item = self.item(index)
        return render(item.layout, self.size), item.caption, item.scene


def image_attributes(item: SyntheticItem, split: str) -> dict[str, Any]:
    """The ground truth stored with each COCO image entry."""
    return {
        **item.scene.to_dict(),
        "heldout": item.scene.heldout,
        "split": split,
        "index": item.index,
        "background_rgb": list(item.layout.background_rgb),
        "drawn": [p.to_dict() for p in item.layout.objects],
    }


def _write_png(path: Path, image: np.ndarray) -> None:
    import io

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    atomic_write_bytes(path, buffer.getvalue())


def _png_ok(path: Path, size: int) -> bool:
    try:
        with Image.open(path) as im:
            return im.size == (size, size)
    except (OSError, ValueError):
        return False


def _check_sizes(sizes: Sequence[int]) -> tuple[int, ...]:
    sizes = tuple(sizes)
    if (
        64 not in sizes
        or any(s not in ALLOWED_SIZES for s in sizes)
        or len(set(sizes)) != len(sizes)
    ):
        raise GlideError(
            f"sizes: {sizes!r}; give distinct sizes from {list(ALLOWED_SIZES)} including 64, "
            "e.g. (64, 256)"
        )
    return sizes


def _folder(split: str, size: int) -> str:
    return split if size == 64 else f"{split}{size}"


def write_split(
    out_dir: Path,
    split: str,
    n: int,
    *,
    seed: int,
    sizes: tuple[int, ...],
    captions_per_image: int = 1,
    progress: bool = True,
) -> Path:
    """Write one split's images and ``annotations/captions_<split>.json``; returns the JSON."""
    from tqdm import tqdm

    ds = SyntheticCaptions(seed, split)
    for size in sizes:
        (out_dir / _folder(split, size)).mkdir(parents=True, exist_ok=True)
    images, annotations = [], []
    for index in tqdm(range(n), desc=f"synthetic {split}", disable=not progress, unit="img"):
        item = ds.item(index)
        name = f"{split}_{index:07d}.png"
        for size in sizes:
            path = out_dir / _folder(split, size) / name
            if not _png_ok(path, size):
                _write_png(path, render(item.layout, size))
        image_id = index + 1
        images.append(
            {
                "id": image_id,
                "file_name": name,
                "width": 64,
                "height": 64,
                "attributes": image_attributes(item, split),
            }
        )
        for k, caption in enumerate(ds.paraphrases(index, captions_per_image)):
            annotations.append({"id": image_id * 10 + k, "image_id": image_id, "caption": caption})
    data = {
        "info": {
            "description": "glide-bench synthetic captioned shapes (glide.data.synthetic)",
            "version": GENERATOR_VERSION,
            "seed": seed,
            "split": split,
            "sizes": list(sizes),
            "image_folders": {str(s): _folder(split, s) for s in sizes},
            "heldout_pairs": sorted([list(p) for p in HELDOUT_PAIRS]),
            # train and val keep the wording they had before the test split existed, so that
            # their JSON files stay byte-identical
            "heldout_rule": "these (shape, colour) pairs never occur in train; val samples all"
            + ("; test samples all" if split == "test" else ""),
            "templates": {k: list(v) for k, v in TEMPLATES.items()},
        },
        "licenses": [],
        "images": images,
        "annotations": annotations,
    }
    ann_dir = out_dir / "annotations"
    ann_dir.mkdir(parents=True, exist_ok=True)
    path = ann_dir / f"captions_{split}.json"
    atomic_write_bytes(path, json.dumps(data).encode("utf-8"))
    return path


def generate_dataset(
    out_dir: str | os.PathLike,
    *,
    seed: int = 0,
    n_train: int,
    n_val: int,
    n_test: int = 0,
    sizes: Sequence[int] = (64, 256),
    captions_per_image: int = 1,
    progress: bool = False,
) -> dict[str, Path]:
    """Write train and val (and test when ``n_test > 0``) in MS-COCO captions format under
    ``out_dir``; returns the JSONs by split."""
    seed = _check_seed(seed)
    sizes = _check_sizes(sizes)
    for name, value in (("n_train", n_train), ("n_val", n_val), ("n_test", n_test)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise GlideError(f"{name}: {value!r} is not a non-negative integer")
    if not isinstance(captions_per_image, int) or not 1 <= captions_per_image <= 9:
        raise GlideError(f"captions_per_image: {captions_per_image!r}; give 1 to 9")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    counts = dict(zip(SPLITS, (n_train, n_val, n_test), strict=True))
    return {
        split: write_split(
            out,
            split,
            n,
            seed=seed,
            sizes=sizes,
            captions_per_image=captions_per_image,
            progress=progress,
        )
        for split, n in counts.items()
        if split != "test" or n > 0
    }


def _parse_sizes(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError:
        raise GlideError(
            f"--sizes: {text!r} is not a comma-separated list such as 64,256"
        ) from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m glide.data.synthetic",
        description="Write the synthetic captioned shapes dataset in MS-COCO captions format.",
    )
    parser.add_argument("--out", required=True, help="output folder (created; resumable)")
    parser.add_argument("--n-train", type=int, required=True, help="number of train images")
    parser.add_argument("--n-val", type=int, required=True, help="number of val images")
    parser.add_argument(
        "--n-test",
        type=int,
        default=0,
        help="number of test images (default 0: none); the test split is for the final "
        "evaluation only, never for training or model selection",
    )
    parser.add_argument("--seed", type=int, default=0, help="dataset seed (default 0)")
    parser.add_argument(
        "--sizes",
        default="64,256",
        help="comma-separated image sides to render, must include 64 "
        "(default 64,256; 256 feeds the upsampler)",
    )
    parser.add_argument(
        "--captions-per-image",
        type=int,
        default=1,
        help="paraphrases per image in the annotations (default 1)",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    args = parser.parse_args(argv)
    try:
        paths = generate_dataset(
            args.out,
            seed=args.seed,
            n_train=args.n_train,
            n_val=args.n_val,
            n_test=args.n_test,
            sizes=_parse_sizes(args.sizes),
            captions_per_image=args.captions_per_image,
            progress=not args.no_progress,
        )
    except GlideError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for split, path in paths.items():
        print(f"{split}: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
