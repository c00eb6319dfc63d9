"""Image I/O at the edges: atomic PNG writes, reading, the reference crop-and-resize policy."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from bench.errors import BenchError
from glide.io import atomic_write

#: How reference images are brought to the evaluated resolution (recorded in sweep.json).
REFERENCE_PREPROCESS = "center-crop to the shorter side, then PIL bicubic resize to R x R"


def write_png(path: Path, image: np.ndarray) -> None:
    """Atomically write a uint8 RGB image ``[H, W, 3]`` as PNG."""
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise TypeError(f"expected a uint8 [H, W, 3] image, got {image.dtype} {image.shape}")
    atomic_write(path, lambda handle: Image.fromarray(image, mode="RGB").save(handle, format="PNG"))


def read_png(path: Path) -> np.ndarray:
    """Read an image file as uint8 RGB ``[H, W, 3]``."""
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"), dtype=np.uint8).copy()


def center_crop_resize(path: Path, size: int) -> np.ndarray:
    """Load an image, center-crop it to a square, resize to ``size`` (bicubic): uint8 [S, S, 3].

    This is the paper's reference policy ("center-cropped", never squeezed).
    """
    try:
        with Image.open(path) as img:
            img = img.convert("RGB")
            w, h = img.size
            side = min(w, h)
            left, top = (w - side) // 2, (h - side) // 2
            img = img.crop((left, top, left + side, top + side))
            if side != size:
                img = img.resize((size, size), resample=Image.Resampling.BICUBIC)
            return np.asarray(img, dtype=np.uint8).copy()
    except (OSError, ValueError) as exc:
        raise BenchError(f"reference image {path}: cannot be read ({exc}); check the file") from exc


def iter_batches(items: Sequence, batch_size: int) -> Iterator[Sequence]:
    """Consecutive slices of ``items`` of at most ``batch_size``."""
    for start in range(0, len(items), batch_size):
        yield items[start : start + batch_size]


def stack_images(paths: Sequence[Path], loader=read_png) -> np.ndarray:
    """Load several images of one size into ``[N, H, W, 3]`` uint8."""
    arrays = [loader(p) for p in paths]
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        raise BenchError(f"images of different sizes {sorted(shapes)} in one set: {paths[0]} ...")
    return np.stack(arrays, axis=0)
