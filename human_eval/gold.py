"""Gold pairs for quality control: a clean sample against a heavily noised copy of itself.

The noised copy is ``(1 - s) * x + s * u`` with ``u`` uniform noise per pixel and channel and
``s = strength`` (default 0.75): the clean image is the right answer to both questions (more
photorealistic, and a better match to the caption), so a rater who picks the noised image or
cannot decide has not looked. The copy is stored in the database as PNG bytes, so the run
folders stay untouched.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from human_eval.errors import HumanEvalError


def degrade_image(path: str | Path, *, strength: float, seed: int) -> bytes:
    """PNG bytes of the image at ``path`` blended with uniform noise (``strength`` in (0, 1])."""
    if not 0.0 < strength <= 1.0:
        raise HumanEvalError(f"--gold-noise: {strength!r}; give a noise strength in (0, 1]")
    with Image.open(path) as img:
        x = np.asarray(img.convert("RGB"), dtype=np.float64) / 255.0
    rng = np.random.default_rng(seed)
    noised = (1.0 - strength) * x + strength * rng.random(x.shape)
    out = np.clip(np.rint(noised * 255.0), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(out).save(buf, format="PNG")
    return buf.getvalue()
