"""The embedded synthetic validation set as a caption source, generated once into a cache.

``glide.data.synthetic.generate_dataset`` is deterministic in its seed, so the set is built on
first use into ``<cache>/synthetic/<key>/`` (through a temp folder renamed into place under a
file lock, so concurrent processes never see half a dataset) and read like MS-COCO afterwards.
The key hashes the seed, the sizes and the source of the glide.data package, so a changed
grammar gives a new folder instead of stale images.
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

DEFAULT_SYNTHETIC_VAL = 1000
SYNTHETIC_SEED = 0


def _generator_module():
    try:
        return importlib.import_module("glide.data.synthetic")
    except ImportError as exc:
        raise BenchError(
            "the embedded synthetic caption set needs glide.data.synthetic, which is not "
            f"importable ({exc}); give real captions with --coco-captions/--coco-images"
        ) from exc


def synthetic_key(seed: int, n_val: int, resolution: int) -> str:
    module = _generator_module()
    digest = hashlib.sha256()
    for path in sorted(Path(module.__file__).parent.glob("*.py")):  # grammar, render, scene, ...
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return content_hash(
        {"seed": seed, "n_val": n_val, "resolution": resolution, "package": digest.hexdigest()}
    )


def ensure_synthetic_val(
    cache_dir: Path,
    *,
    resolution: int,
    n_val: int = DEFAULT_SYNTHETIC_VAL,
    seed: int = SYNTHETIC_SEED,
) -> tuple[Path, Path]:
    """Generate (once) and return ``(captions_val.json, image folder)`` for ``resolution``."""
    if n_val < 1:
        raise BenchError(f"--synthetic-val-size: {n_val}; give a positive number of images")
    module = _generator_module()
    root = Path(cache_dir) / "synthetic"
    root.mkdir(parents=True, exist_ok=True)
    target = root / synthetic_key(seed, n_val, resolution)
    folder = "val" if resolution == 64 else f"val{resolution}"
    sizes = (64,) if resolution == 64 else (64, resolution)
    with FileLock(str(target) + ".lock"):
        if not (target / "annotations" / "captions_val.json").is_file():
            tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=root))
            try:
                module.generate_dataset(tmp, seed=seed, n_train=0, n_val=n_val, sizes=sizes)
                if target.exists():
                    shutil.rmtree(target)
                tmp.rename(target)
            finally:
                if tmp.exists():
                    shutil.rmtree(tmp, ignore_errors=True)
    captions = target / "annotations" / "captions_val.json"
    images = target / folder
    if not captions.is_file() or not images.is_dir():
        raise BenchError(
            f"synthetic set at {target} lacks annotations/captions_val.json or {folder}/; "
            "delete that folder to rebuild it"
        )
    return captions, images
