"""What bench.perf times: one sampler step of a GLIDE U-Net, run the way a variant says.

A variant is a :class:`glide.fast.FastPath` (dtype, attention kernel, layout, compile) plus how
the caption is handled (encoded once per sample, or at every step as the reference does) and
optional ``torch.autocast``. See ``bench.perf`` for the list and what each measures.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import torch

from bench.errors import BenchError
from glide.devices import DTYPES

VARIANT_NAMES = (
    "fp32-ref", "fp32", "fp32-sdpa", "bf16", "bf16-autocast", "fp16", "fast", "fast-compile",
)  # fmt: skip


@dataclass(frozen=True)
class Variant:
    """How a step runs: the network's fast-path settings, text handling and autocast."""

    name: str
    fast: Any  # glide.fast.FastPath
    text_every_step: bool = False
    autocast: str | None = None  # dtype name for torch.autocast, or None

    def describe(self) -> dict[str, Any]:
        return {
            **self.fast.describe(),
            "text": "every step" if self.text_every_step else "once",
            "autocast": self.autocast,
        }


def make_variant(name: str, device: str) -> Variant:
    """The variant called ``name`` (listed in ``bench.perf``'s docstring) for ``device``."""
    from glide.fast import FastPath, default_fast_path

    ref = FastPath.reference()
    table = {
        "fp32-ref": Variant(name, ref, text_every_step=True),
        "fp32": Variant(name, ref),
        "fp32-sdpa": Variant(name, replace(ref, attention="sdpa")),
        "bf16": Variant(name, replace(ref, dtype="bfloat16")),
        "bf16-autocast": Variant(name, ref, autocast="bfloat16"),
        "fp16": Variant(name, replace(ref, dtype="float16")),
        "fast": Variant(name, default_fast_path(device)),
        "fast-compile": Variant(name, replace(default_fast_path(device), compile=True)),
    }
    if name not in table:
        raise BenchError(f"--variants: unknown {name!r}; choose from {', '.join(VARIANT_NAMES)}")
    return table[name]


def build(spec: Any, dtype: torch.dtype, device: str) -> torch.nn.Module:
    from glide.text2im import build_model

    return build_model(spec, device=device, dtype=dtype)


def make_step(
    model: torch.nn.Module,
    batch: int,
    device: str,
    *,
    text_every_step: bool = False,
    autocast: str | None = None,
) -> Callable[[], torch.Tensor]:
    """One sampler step of ``model`` for ``batch`` network rows (CFG pairs for a base model).

    ``text_every_step``: pass tokens to the network (the text transformer runs inside every
    forward, as in the reference) instead of an encoding computed once beforehand.
    ``autocast``: run the step under ``torch.autocast`` with this dtype name.
    """
    from glide.diffusion import create_diffusion
    from glide.guidance import classifier_free
    from glide.sampling import p_sample_step
    from glide.tokenizer import get_glide_tokenizer

    cfg = model.config
    g = torch.Generator().manual_seed(0)
    guided = not cfg.super_res
    n = batch // 2 if guided else batch
    captions = ["an oil painting of a corgi"] * n + ([""] if guided else [])
    tokens, mask = get_glide_tokenizer().encode_batch(captions, cfg.text_ctx)
    tokens, mask = tokens.to(device), mask.to(device)
    rows = [n] * n if guided else []  # the empty caption's row, once per sample
    if text_every_step:
        cond: dict[str, Any] = {"tokens": tokens[:n], "mask": mask[:n]}
        uncond = {"tokens": tokens[rows], "mask": mask[rows]}
    else:
        with torch.no_grad():
            enc = model.encode_text(tokens, mask)
        cond, uncond = {"text": enc[:n]}, {"text": enc[rows]}
    size = cfg.image_size
    x = torch.randn(n, 3, size, size, generator=g).to(device)
    z = torch.randn(n, 3, size, size, generator=g).to(device)
    denoiser = model
    if guided:
        denoiser = classifier_free(model, 3.0)
        cond["uncond"] = uncond
    else:
        cond["low_res"] = torch.rand(n, 3, 64, 64, generator=g).to(device) * 2 - 1
    d = create_diffusion(cfg.diffusion_steps, cfg.noise_schedule, "100")
    device_type = torch.device(device).type

    def step() -> torch.Tensor:
        ctx = (
            torch.autocast(device_type, dtype=DTYPES[autocast])
            if autocast
            else contextlib.nullcontext()
        )
        with torch.no_grad(), ctx:
            return p_sample_step(denoiser, d, x, 50, z, cond=cond)["sample"]

    return step


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def count_flops(step: Callable[[], Any]) -> tuple[float, dict[str, float]]:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        step()
    by_op = {str(op).removeprefix("aten."): float(v) for op, v in counter.get_flop_counts()[
        "Global"].items()}  # fmt: skip
    return float(counter.get_total_flops()), by_op


def time_step(step: Callable[[], Any], repeats: int, warmup: int, device: str) -> list[float]:
    for _ in range(warmup):
        step()
    _sync(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        _sync(device)
        times.append(time.perf_counter() - start)
    return times


def matmul_peak(dtype: torch.dtype, device: str, size: int = 2048, repeats: int = 3) -> float:
    """Achieved GFLOP/s of a size x size matmul (best of ``repeats``)."""
    a = torch.randn(size, size, device=device).to(dtype)
    b = torch.randn(size, size, device=device).to(dtype)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        a @ b
        _sync(device)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def prepare(
    spec: Any, variant: Variant, batch: int, device: str
) -> tuple[Callable[[], torch.Tensor], float, dict[str, float], torch.nn.Module]:
    """Build the model of ``variant``, count the step's FLOPs on the eager model with the
    "math" attention kernel (FlopCounterMode does not see inside PyTorch's fused CPU attention,
    and the work is the same), then compile if asked. Returns (step, FLOPs, FLOPs by op,
    model)."""
    from glide.fast import apply_fast_path
    from glide.unet import AttentionBlock

    eager = replace(variant.fast, compile=False)
    model = apply_fast_path(build(spec, torch.float32, device), eager)
    kw = dict(text_every_step=variant.text_every_step, autocast=variant.autocast)
    step = make_step(model, batch, device, **kw)
    blocks = [m for m in model.modules() if isinstance(m, AttentionBlock)]
    for block in blocks:
        block.kernel = "math"
    flops, by_op = count_flops(step)
    for block in blocks:
        block.kernel = variant.fast.attention
    if variant.fast.compile:
        step = make_step(apply_fast_path(model, variant.fast), batch, device, **kw)
    return step, flops, by_op, model


def _tiny(kind: str):
    from glide.config import UNetConfig

    options = dict(
        image_size=16, num_channels=32, num_res_blocks=1, channel_mult="1,2",
        attention_resolutions="8", num_head_channels=32, text_ctx=8, xf_width=8, xf_layers=1,
        xf_heads=1, dropout=0.0,
    )  # fmt: skip
    if kind == "upsample":
        options.update(super_res=True, noise_schedule="linear")
    return UNetConfig.from_options(options)
