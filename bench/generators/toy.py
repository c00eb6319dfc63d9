"""Image generators behind one small interface, in a registry that refuses duplicates.

A generator is a function ``fn(captions, seeds, method, scale) -> uint8 [N, H, W, 3]`` whose
image ``i`` depends only on ``(captions[i], seeds[i], method, scale)`` and the settings it was
built with (never on batch-mates or batch size). A factory builds it from
:class:`GeneratorOptions` and also returns a description for the run metadata, whose
``"identity"`` part (checkpoint hashes, options) enters every run id.

- ``glide``: :class:`glide.pipeline.Text2ImPipeline` (official checkpoints from ``--checkpoints``
  or the embedded default), the real thing. A ``dtype`` other than float32 runs the U-Nets on
  the inference fast path (``glide.fast.default_fast_path`` of the device, at that dtype).
- ``toy``: a tiny fixed random-weight network with no checkpoint, for tests and smoke runs of
  the harness itself. Its images mean nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.errors import BenchError

GenerateFn = Callable[[Sequence[str], Sequence[int], str, float], np.ndarray]


@dataclass(frozen=True)
class GeneratorOptions:
    checkpoints_dir: Path | None
    device: str
    dtype: str
    sampler: str
    steps: str
    resolution: int
    methods: tuple[str, ...]
    upsample_steps: str = "fast27"
    upsample_temp: float = 0.997


Factory = Callable[[GeneratorOptions], tuple[GenerateFn, dict[str, Any]]]
GENERATORS: dict[str, Factory] = {}


def register_generator(name: str) -> Callable[[Factory], Factory]:
    def decorate(factory: Factory) -> Factory:
        if name in GENERATORS:
            raise KeyError(f"generator {name!r} is already registered")
        GENERATORS[name] = factory
        return factory

    return decorate


def check_generator_name(name: str) -> None:
    if name not in GENERATORS:
        raise BenchError(f"--generator: unknown {name!r}; choose from {', '.join(GENERATORS)}")


def build_generator(name: str, options: GeneratorOptions) -> tuple[GenerateFn, dict[str, Any]]:
    check_generator_name(name)
    return GENERATORS[name](options)


def _torch_dtype(name: str) -> torch.dtype:
    table = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
    if name not in table:
        raise BenchError(f"--dtype: {name!r}; choose from {', '.join(table)}")
    return table[name]


@register_generator("glide")
def glide_generator(options: GeneratorOptions) -> tuple[GenerateFn, dict[str, Any]]:
    """The GLIDE pipeline: base model at 64x64, plus the upsampler for 256x256."""
    from glide.pipeline import Text2ImPipeline

    upsample = options.resolution == 256
    pipe = Text2ImPipeline.from_checkpoints(
        checkpoints_dir=None if options.checkpoints_dir is None else str(options.checkpoints_dir),
        device=options.device,
        dtype=_torch_dtype(options.dtype),
        upsample=upsample,
        clip="clip" in options.methods,
    )
    from glide.fast import fast_path_for

    fast = fast_path_for(options.device, options.dtype)
    if fast is not None:  # reduced precision runs on the inference fast path
        pipe.use_fast_path(fast)

    def generate(captions: Sequence[str], seeds: Sequence[int], method: str, scale: float):
        return pipe(
            list(captions),
            [int(s) for s in seeds],
            guidance=method,
            scale=float(scale),
            sampler=options.sampler,
            steps=options.steps,
            upsample=upsample,
            upsample_steps=options.upsample_steps,
            upsample_temp=options.upsample_temp,
            progress=False,
        )

    description = pipe.describe()
    return generate, {"identity": _identity(description), "pipeline": description}


def _identity(description: Any) -> Any:
    """What of a pipeline description changes images: everything except file locations."""
    if isinstance(description, dict):
        return {
            k: _identity(v)
            for k, v in description.items()
            if not any(word in k.lower() for word in ("path", "dir", "file", "device"))
        }
    if isinstance(description, (list, tuple)):
        return [_identity(v) for v in description]
    return description


# -- the toy generator ------------------------------------------------------------------------
_TOY_VERSION = 1


def _caption_code(caption: str, channels: int) -> torch.Tensor:
    digest = hashlib.sha256(caption.encode("utf-8")).digest()
    return torch.tensor([b / 127.5 - 1.0 for b in digest[:channels]], dtype=torch.float32)


@register_generator("toy")
def toy_generator(options: GeneratorOptions) -> tuple[GenerateFn, dict[str, Any]]:
    """A fixed random conv net on per-sample noise, tinted by a caption code times the scale."""
    torch_gen = torch.Generator().manual_seed(1234)
    width = 8
    conv1 = torch.randn(width, 3, 3, 3, generator=torch_gen) / 3.0
    conv2 = torch.randn(3, width, 3, 3, generator=torch_gen) / (3.0 * width**0.5)
    size = options.resolution
    sign = {"cfg": 1.0, "clip": -1.0}
    steps = int("".join(c for c in options.steps if c.isdigit()) or 1)

    def generate(captions: Sequence[str], seeds: Sequence[int], method: str, scale: float):
        out = []
        for caption, seed in zip(captions, seeds, strict=True):
            gen = torch.Generator().manual_seed(int(seed))
            x = torch.randn(1, 3, size, size, generator=gen)
            h = torch.tanh(torch.nn.functional.conv2d(x, conv1, padding=1))
            for _ in range(min(steps, 4) - 1):
                h = torch.tanh(h + 0.1 * torch.randn(h.shape, generator=gen))
            y = torch.nn.functional.conv2d(h, conv2, padding=1)
            code = _caption_code(caption, 3).view(1, 3, 1, 1)
            y = torch.tanh(y + sign[method] * 0.4 * float(scale) * code)
            out.append(((y[0].permute(1, 2, 0) + 1) * 127.5).round().clamp(0, 255))
        return torch.stack(out).to(torch.uint8).numpy()

    identity = {"toy_version": _TOY_VERSION, "weights": "torch.Generator(1234) random"}
    return generate, {"identity": identity, "pipeline": dict(identity, kind="toy")}
