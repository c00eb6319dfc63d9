"""A torch ``Dataset`` over the synthetic captioned set, for training without files on disk."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from glide.data.render import render
from glide.data.scene import check_development_split
from glide.data.synthetic import ALLOWED_SIZES, SyntheticCaptions
from glide.errors import GlideError


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """uint8 ``[H, W, 3]`` -> float32 ``[3, H, W]`` in [-1, 1] (the diffusion models' range)."""
    return torch.from_numpy(image).permute(2, 0, 1).float().div(127.5).sub(1.0)


class SyntheticTorchDataset(Dataset):
    """``ds[i] -> {"image": [3,64,64] in [-1,1], "caption": str, "index": int, "heldout": bool}``
    plus ``"image<size>"`` (e.g. ``"image256"``, the same scene) for every other size asked.

    Items are rendered on the fly (about a millisecond at 64x64), deterministically from
    ``(seed, split, index)``; the default collate function batches them. ``split`` is ``train``
    or ``val``: the ``test`` split is refused (final evaluation only).
    """

    def __init__(
        self, seed: int = 0, split: str = "train", length: int = 10000, sizes: Sequence[int] = (64,)
    ) -> None:
        if not isinstance(length, int) or length < 1:
            raise GlideError(f"length: {length!r} is not a positive integer")
        sizes = tuple(sizes)
        if 64 not in sizes or any(s not in ALLOWED_SIZES for s in sizes):
            raise GlideError(f"sizes: {sizes!r}; give sizes from {list(ALLOWED_SIZES)} with 64")
        self.source = SyntheticCaptions(seed, check_development_split(split), length=length)
        self.sizes = sizes

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, index: int) -> dict[str, Any]:
        item = self.source.item(int(index))
        out: dict[str, Any] = {
            "caption": item.caption,
            "index": item.index,
            "heldout": item.scene.heldout,
        }
        for size in self.sizes:
            key = "image" if size == 64 else f"image{size}"
            out[key] = to_tensor(render(item.layout, size))
        return out
