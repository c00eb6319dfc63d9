"""The embedded synthetic caption set (the ``test`` split) as a caption source, cached once.

The benchmark's default captions AND its reference images (the "real" set of FID, KID and
precision/recall) are the synthetic set's ``test`` split (``glide.data.scene.SPLITS``): the
split that no training, checkpoint choice or tuning of the embedded default ever read. The
``train`` split is what the models learned from and ``val`` is what their selection looked at
(MODEL_CARD.md), so numbers measured on either would be optimistic; ``split="val"`` stays
available for selection-time measurements.

``glide.data.synthetic.write_split`` is deterministic in its seed, so the set is built on first
use into ``<cache>/synthetic/<key>/`` (through a temp folder renamed into place under a file
lock, so concurrent processes never see half a dataset) and read like MS-COCO afterwards. The
key hashes the split, the seed, the size, the sizes and the source of the glide.data package,
so a changed grammar gives a new folder instead of stale images.
"""

from __future__ import annotations

import hashlib
import importlib
import shutil
import tempfile
from pathlib import Path

from filelock import FileLock

from bench.errors import BenchError
from bench.spec import content_hash

__all__ = [
    "DEFAULT_SYNTHETIC_SPLIT",
    "DEFAULT_SYNTHETIC_VAL",
    "SYNTHETIC_SEED",
    "SYNTHETIC_SPLITS",
    "ensure_synthetic_split",
    "ensure_synthetic_val",
    "synthetic_key",
]

DEFAULT_SYNTHETIC_VAL = 1000  # images (and captions) in the cached set; the sweep's default size
SYNTHETIC_SEED = 0
DEFAULT_SYNTHETIC_SPLIT = "test"
SYNTHETIC_SPLITS = ("test", "val")  # never "train": the generators learned from it


def _generator_module():
    try:
        return importlib.import_module("glide.data.synthetic")
    except ImportError as exc:
        raise BenchError(
            "the embedded synthetic caption set needs glide.data.synthetic, which is not "
            f"importable ({exc}); give real captions with --coco-captions/--coco-images"
        ) from exc


def _check_split(split: str) -> str:
    if split not in SYNTHETIC_SPLITS:
        raise BenchError(
            f"synthetic split {split!r}: the benchmark reads {' or '.join(SYNTHETIC_SPLITS)} "
            "(test: the final evaluation, the default; val: selection-time figures); train is "
            "what the embedded models learned from"
        )
    return split


def synthetic_key(
    seed: int, n_val: int, resolution: int, split: str = DEFAULT_SYNTHETIC_SPLIT
) -> str:
    module = _generator_module()
    digest = hashlib.sha256()
    for path in sorted(Path(module.__file__).parent.glob("*.py")):  # grammar, render, scene, ...
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return content_hash(
        {
            "split": _check_split(split),
            "seed": seed,
            "n_val": n_val,
            "resolution": resolution,
            "package": digest.hexdigest(),
        }
    )


def ensure_synthetic_split(
    cache_dir: Path,
    *,
    resolution: int,
    n: int = DEFAULT_SYNTHETIC_VAL,
    split: str = DEFAULT_SYNTHETIC_SPLIT,
    seed: int = SYNTHETIC_SEED,
) -> tuple[Path, Path]:
    """Generate (once) and return ``(captions_<split>.json, image folder)`` of the first ``n``
    items of ``split`` (default ``test``) at ``resolution``."""
    split = _check_split(split)
    if n < 1:
        raise BenchError(f"--synthetic-val-size: {n}; give a positive number of images")
    module = _generator_module()
    root = Path(cache_dir) / "synthetic"
    root.mkdir(parents=True, exist_ok=True)
    target = root / synthetic_key(seed, n, resolution, split)
    folder = split if resolution == 64 else f"{split}{resolution}"
    sizes = (64,) if resolution == 64 else (64, resolution)
    name = f"captions_{split}.json"
    with FileLock(str(target) + ".lock"):
        if not (target / "annotations" / name).is_file():
            tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=root))
            try:
                module.write_split(tmp, split, n, seed=seed, sizes=sizes, progress=False)
                if target.exists():
                    shutil.rmtree(target)
                tmp.rename(target)
            finally:
                if tmp.exists():
                    shutil.rmtree(tmp, ignore_errors=True)
    captions = target / "annotations" / name
    images = target / folder
    if not captions.is_file() or not images.is_dir():
        raise BenchError(
            f"synthetic set at {target} lacks annotations/{name} or {folder}/; "
            "delete that folder to rebuild it"
        )
    return captions, images


def ensure_synthetic_val(
    cache_dir: Path,
    *,
    resolution: int,
    n_val: int = DEFAULT_SYNTHETIC_VAL,
    seed: int = SYNTHETIC_SEED,
    split: str = DEFAULT_SYNTHETIC_SPLIT,
) -> tuple[Path, Path]:
    """The benchmark's synthetic captions and reference images (``bench.sweep`` calls this):
    :func:`ensure_synthetic_split` of ``split``, the ``test`` split by default. The name is
    historical: until the test split existed, the benchmark read ``val``, the split that model
    selection also read."""
    return ensure_synthetic_split(cache_dir, resolution=resolution, n=n_val, split=split, seed=seed)
