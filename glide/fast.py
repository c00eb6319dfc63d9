"""The inference fast path: reduced precision, attention kernel, memory layout, compile.

Applied to a loaded GLIDE U-Net by :func:`apply_fast_path`; the sampling math around the
network stays float32 (the network casts its output back to the input dtype), and the caption
encodings are computed once per sample by the pipeline, not at every step.

The knobs of :class:`FastPath`:

- ``dtype``: weights and activations in "bfloat16" or "float16" (normalisations and softmaxes
  still accumulate in float32, glide.nn); the weights are cast once, not per call as
  ``torch.autocast`` would.
- ``attention``: "math" or "sdpa" (``F.scaled_dot_product_attention``).
- ``channels_last``: NHWC activations for the convolutions (oneDNN's native layout).
- ``compile``: ``torch.compile`` of the forward with freezing (off by default).

:func:`default_fast_path` picks the settings for a device (README, "Performance", has the
measurements behind them).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import nn

from glide.devices import DTYPES
from glide.errors import GlideError
from glide.nn import ATTENTION_KERNELS
from glide.unet import AttentionBlock

__all__ = [
    "FastPath",
    "apply_fast_path",
    "cpu_has_bf16",
    "default_fast_path",
    "fast_path_for",
]


@dataclass(frozen=True)
class FastPath:
    """How to run a GLIDE U-Net for inference. ``FastPath.reference()`` is the float32 path."""

    dtype: str = "bfloat16"
    attention: str = "math"
    channels_last: bool = True
    compile: bool = False

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise GlideError(f"dtype={self.dtype!r} is invalid; choose one of {list(DTYPES)}")
        if self.attention not in ATTENTION_KERNELS:
            raise GlideError(
                f"attention={self.attention!r} is invalid; choose one of {list(ATTENTION_KERNELS)}"
            )

    @classmethod
    def reference(cls) -> FastPath:
        """float32, the reference's attention order, NCHW, eager."""
        return cls(dtype="float32", attention="math", channels_last=False, compile=False)

    @property
    def torch_dtype(self) -> torch.dtype:
        return DTYPES[self.dtype]

    def describe(self) -> dict[str, object]:
        return {
            "dtype": self.dtype,
            "attention": self.attention,
            "channels_last": self.channels_last,
            "compile": self.compile,
        }


def default_fast_path(device: torch.device | str = "cpu") -> FastPath:
    """The fastest settings measured for ``device``: bf16 where the hardware has it."""
    device = torch.device(device)
    if device.type == "cuda":
        bf16 = torch.cuda.is_bf16_supported()
        return FastPath(dtype="bfloat16" if bf16 else "float16", attention="sdpa")
    if device.type == "cpu" and cpu_has_bf16():
        return FastPath()
    return replace(FastPath.reference(), attention="sdpa", channels_last=True)


def fast_path_for(device: torch.device | str, dtype: str) -> FastPath | None:
    """The fast path for running at ``dtype`` on ``device`` (the device's default settings at
    that dtype); None for "float32", which keeps the reference path."""
    if dtype == "float32":
        return None
    if dtype not in DTYPES:
        raise GlideError(f"dtype={dtype!r} is invalid; choose one of {list(DTYPES)}")
    return replace(default_fast_path(device), dtype=dtype)


def cpu_has_bf16() -> bool:
    """True where oneDNN has native bf16 dot products (AVX-512 BF16 or AMX)."""
    check = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
    try:
        return bool(check()) if check is not None else False
    except RuntimeError:
        return False


def apply_fast_path(model: nn.Module, fast: FastPath) -> nn.Module:
    """Convert ``model`` in place (dtype, attention kernel, memory format); returns it, or its
    ``torch.compile`` wrapper when ``fast.compile`` (attributes such as ``config`` and
    ``encode_text`` still reach the model)."""
    if not isinstance(fast, FastPath):
        raise GlideError(f"fast must be a glide.fast.FastPath, got {type(fast).__name__}")
    model = model.to(fast.torch_dtype)
    for module in model.modules():
        if isinstance(module, AttentionBlock):
            module.kernel = fast.attention
    model = model.to(memory_format=torch.channels_last if fast.channels_last else
                     torch.contiguous_format)  # fmt: skip
    model.eval()
    if fast.compile:
        # freezing: weights become constants, so the CPU backend pre-packs them for oneDNN once
        # instead of re-laying them out at every convolution
        return torch.compile(model, dynamic=False, options={"freezing": True})
    return model
