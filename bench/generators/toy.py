"""The ``toy`` generator: a tiny fixed random-weight network with no checkpoint, for tests and
smoke runs of the harness itself. Its images mean nothing."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import torch

from bench.generators.registry import GenerateFn, GeneratorOptions, register_generator
from bench.spec import step_count

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
    steps = step_count(options.steps)

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
