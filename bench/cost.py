"""What a run costs: network evaluations per image (counted from its settings) and seconds per
image (measured while its images were generated), kept in the run folder as ``cost.json``
(CONTRACTS.md "Run folders").

- **Network evaluations per image** (``evaluations_per_image``): U-Net rows one sample costs,
  base model and upsampler together (``glide.pipeline.evaluations_per_image``): a classifier-free
  guided step inside the guidance interval costs 2, any other step 1 (guidance scale 1: the
  conditional model only). CLIP guidance's noised-CLIP gradients are counted apart
  (``clip_gradients_per_image``). Counted for the ``glide`` generator; NaN for the others (a
  note in the results table says so).
- **Seconds per image**: the wall time of the generator calls that made the run's images in one
  invocation, divided by the images made (all batches, so a partial last batch is included),
  on the device and dtype recorded beside it. An invocation that generates nothing keeps the
  earlier measurement; one with the same device, dtype and batch size adds to it; one with
  other settings replaces it. Under torchrun each process times its own share; rank 0's is kept.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.spec import RunSpec
from glide.io import atomic_write_text

COST_FILE = "cost.json"
NOT_COUNTED = "network evaluations are counted for the glide generator only"


@dataclass(frozen=True)
class RunCost:
    """A run's cost (module docstring); the content of ``cost.json``."""

    images: int
    seconds: float
    device: str
    dtype: str
    batch_size: int
    evaluations_per_image: float
    clip_gradients_per_image: float

    @property
    def seconds_per_image(self) -> float:
        return self.seconds / self.images if self.images else math.nan

    @property
    def images_per_second(self) -> float:
        return self.images / self.seconds if self.seconds > 0 else math.nan

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["seconds_per_image"] = self.seconds_per_image
        out["images_per_second"] = self.images_per_second
        return out


def network_evaluations(spec: RunSpec) -> tuple[float, float]:
    """``(U-Net rows, CLIP gradients)`` per image of a run; NaN for generators other than
    glide (their networks are not known here)."""
    settings = spec.settings
    identity = settings.checkpoints
    if settings.generator != "glide" or not isinstance(identity, dict) or "base" not in identity:
        return math.nan, math.nan
    from glide.pipeline import evaluations_per_image

    upsample = identity.get("upsample") if settings.resolution == 256 else None
    counted = evaluations_per_image(
        identity["base"]["options"],
        None if upsample is None else upsample["options"],
        guidance=spec.method,
        scale=spec.scale,
        steps=settings.steps,
        guidance_interval=spec.guidance_interval,
        upsample_steps=settings.upsample_steps,
    )
    return float(counted["unet"]), float(counted["clip_gradients"])


def read_cost(run_dir: Path) -> RunCost | None:
    """The run folder's ``cost.json``; None when absent (never generated here, or a folder
    written before costs were recorded)."""
    path = Path(run_dir) / COST_FILE
    if not path.is_file():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    return RunCost(**{k: data[k] for k in RunCost.__dataclass_fields__})


def record_cost(
    run_dir: Path,
    spec: RunSpec,
    *,
    images: int,
    seconds: float,
    device: str,
    batch_size: int,
) -> RunCost | None:
    """Fold this invocation's measurement into ``cost.json`` (module docstring); returns what
    the file holds now."""
    earlier = read_cost(run_dir)
    if images <= 0:
        return earlier
    evaluations, clip_gradients = network_evaluations(spec)
    now = RunCost(
        images=int(images),
        seconds=float(seconds),
        device=str(device),
        dtype=spec.settings.dtype,
        batch_size=int(batch_size),
        evaluations_per_image=evaluations,
        clip_gradients_per_image=clip_gradients,
    )
    if earlier is not None and (earlier.device, earlier.dtype, earlier.batch_size) == (
        now.device,
        now.dtype,
        now.batch_size,
    ):
        now = RunCost(
            **{**asdict(now), "images": earlier.images + now.images,
               "seconds": earlier.seconds + now.seconds}
        )  # fmt: skip
    atomic_write_text(
        Path(run_dir) / COST_FILE, json.dumps(now.to_json(), indent=2, sort_keys=True) + "\n"
    )
    return now
