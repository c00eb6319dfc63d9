"""Small on-disk stores: atomic ``.npz`` feature files and the identity of bench/judges/assets.

Features and reference statistics are cached under names that are content hashes of everything
that changes them (extractor identity, image files, resolution, preprocessing), so a stale
entry can never be picked up: a change gives a new name.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
import torch

from glide.io import atomic_write_bytes

ASSETS_DIR = Path(__file__).resolve().parents[1] / "judges" / "assets"


def save_arrays(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write named arrays as an uncompressed ``.npz``, atomically."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    atomic_write_bytes(Path(path), buffer.getvalue())


def load_arrays(path: Path) -> dict[str, np.ndarray] | None:
    """Read an ``.npz`` written by :func:`save_arrays`; None if absent or unreadable."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except (OSError, ValueError):
        return None


def assets_sha256(pattern: str = "*") -> str | None:
    """sha256 over bench/judges/assets files matching ``pattern`` (names and bytes); None if
    none."""
    if not ASSETS_DIR.is_dir():
        return None
    files = sorted(p for p in ASSETS_DIR.rglob(pattern) if p.is_file())
    if not files:
        return None
    digest = hashlib.sha256()
    for path in files:
        digest.update(str(path.relative_to(ASSETS_DIR)).encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def state_dict_sha256(module: torch.nn.Module) -> str:
    """sha256 over a torch module's state dict (names, shapes, dtypes and values)."""
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{tuple(t.shape)}:{t.dtype}".encode())
        digest.update(t.view(-1).view(dtype=torch.uint8).numpy().tobytes())
    return digest.hexdigest()
