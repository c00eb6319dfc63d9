"""The ``glide`` generator: :class:`glide.pipeline.Text2ImPipeline` (official checkpoints from
``--checkpoints`` or the embedded default), the real thing. A ``dtype`` other than float32 runs
the U-Nets on the inference fast path (``glide.fast.default_fast_path`` of the device, at that
dtype)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from bench.errors import BenchError
from bench.generators.registry import (
    GenerateFn,
    GeneratorOptions,
    identity_of,
    register_generator,
)


def torch_dtype(name: str) -> torch.dtype:
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
        dtype=torch_dtype(options.dtype),
        upsample=upsample,
        clip="clip" in options.methods,
    )
    from glide.fast import fast_path_for

    fast = fast_path_for(options.device, options.dtype)
    if fast is not None:  # reduced precision runs on the inference fast path
        pipe.use_fast_path(fast)

    def generate(
        captions: Sequence[str],
        seeds: Sequence[int],
        method: str,
        scale: float,
        guidance_interval: tuple[float, float] | None = None,
    ):
        # guidance_interval: passed by bench.generate only for runs that have one (issue 24)
        return pipe(
            list(captions),
            [int(s) for s in seeds],
            guidance=method,
            scale=float(scale),
            sampler=options.sampler,
            steps=options.steps,
            guidance_interval=guidance_interval,
            upsample=upsample,
            upsample_steps=options.upsample_steps,
            upsample_sampler=options.upsample_sampler,
            upsample_temp=options.upsample_temp,
            progress=False,
        )

    description = pipe.describe()
    return generate, {"identity": identity_of(description), "pipeline": description}
