"""Tiny stand-in run folders (random PNGs + spec.json + manifest.jsonl, CONTRACTS.md
"Run folders").

For tests, the load test and trying the app without a sweep: ``make_sweep(out, conditions)``
writes ``out/runs/<run_id>/`` for each (method, scale) with the same captions and seeds. The
manifest lines carry every key bench writes; spec.json holds the keys a reader needs (run_id,
label, method, scale, num_samples) and a few settings, not a full bench RunSpec (images are
``size`` pixels, smaller than any real resolution, so the tests stay fast).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from bench.runfolder import image_name

CAPTIONS = (
    "a red cube on a blue floor",
    "two green spheres next to a yellow cone",
    "a small purple cylinder behind a large orange cube",
    "a white torus above a black plane",
    "three blue cones in a row",
    "a pink sphere inside a gray ring",
)


def make_run_folder(
    run_dir: Path,
    method: str,
    scale: float | None,
    captions: Sequence[str],
    *,
    size: int = 16,
    seed: int = 0,
) -> Path:
    """Write one run folder; image i is random noise seeded by (seed, method, scale, i)."""
    label = method if scale is None else f"{method}@{scale:g}"
    spec = {
        "run_id": run_dir.name,
        "method": method,
        "scale": scale,
        "label": label,
        "sampler": "ancestral",
        "steps": "100",
        "resolution": size,
        "seed": seed,
        "num_samples": len(captions),
    }
    (run_dir / "images").mkdir(parents=True, exist_ok=True)
    (run_dir / "spec.json").write_text(json.dumps(spec, indent=2) + "\n", encoding="utf-8")
    lines = []
    for i, caption in enumerate(captions):
        digest = hashlib.sha256(f"{seed}/{label}/{i}".encode()).digest()
        rng = np.random.default_rng(int.from_bytes(digest[:8], "little"))
        pixels = rng.integers(0, 256, size=(size, size, 3), dtype=np.uint8)
        file = image_name(i, len(captions))
        Image.fromarray(pixels).save(run_dir / file)
        lines.append(
            json.dumps(
                {
                    "index": i,
                    "caption_id": i,
                    "image_id": i,
                    "caption": caption,
                    "seed": seed * 100003 + i,
                    "file": file,
                }
            )
            + "\n"
        )
    (run_dir / "manifest.jsonl").write_text("".join(lines), encoding="utf-8")
    return run_dir


def make_sweep(
    out: Path,
    conditions: Sequence[tuple[str, float | None]],
    n_captions: int = 6,
    *,
    size: int = 16,
    seed: int = 0,
) -> list[Path]:
    """Run folders under ``out/runs/`` for each (method, scale); returns their paths."""
    captions = [
        CAPTIONS[i % len(CAPTIONS)] + (f" #{i // len(CAPTIONS)}" if i >= len(CAPTIONS) else "")
        for i in range(n_captions)
    ]
    paths = []
    for method, scale in conditions:
        run_id = hashlib.sha256(f"{method}/{scale}/{seed}".encode()).hexdigest()[:12]
        paths.append(
            make_run_folder(out / "runs" / run_id, method, scale, captions, size=size, seed=seed)
        )
    return paths
