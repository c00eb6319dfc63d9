"""Devices and dtypes: checking a ``--device`` before anything is loaded onto it, and the dtype
names that the CLIs and the inference fast path accept."""

from __future__ import annotations

import torch

from glide.errors import GlideError

__all__ = ["DTYPES", "check_device"]

#: dtype name (as in ``--dtype``) -> torch dtype
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def check_device(device: str, option: str = "--device") -> str:
    """Return ``device`` if this torch build and machine can use it; else a clear GlideError.

    torch's own failure for a CUDA device on a CPU-only build is a bare ``AssertionError:
    Torch not compiled with CUDA enabled`` from deep inside the first ``.to()``.
    """
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise GlideError(
            f"{option}: {device!r} is not a torch device ({exc}); give cpu, cuda or cuda:N"
        ) from None
    if parsed.type == "cuda":
        if not torch.backends.cuda.is_built():
            raise GlideError(
                f"{option}: {device!r}, but this torch ({torch.__version__}) is a CPU-only "
                "build; use --device cpu, or install a CUDA build of torch (e.g. make install "
                "TORCH_PINS='torch==2.13.0 torchvision==0.28.0' TORCH_INDEX=<PyTorch's CUDA "
                "wheel index>)"
            )
        count = torch.cuda.device_count()
        if count == 0:
            raise GlideError(
                f"{option}: {device!r}, but torch finds no CUDA device on this machine (driver "
                "missing, or CUDA_VISIBLE_DEVICES empty); use --device cpu"
            )
        if parsed.index is not None and parsed.index >= count:
            raise GlideError(
                f"{option}: {device!r}, but this machine has {count} CUDA device(s) "
                f"(cuda:0 to cuda:{count - 1})"
            )
    elif parsed.type == "mps" and not torch.backends.mps.is_available():
        raise GlideError(f"{option}: {device!r}, but MPS is not available here; use cpu")
    return device
