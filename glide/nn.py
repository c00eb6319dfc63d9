"""Small building blocks shared by the GLIDE networks.

Precision rule used throughout: normalisations and softmaxes run in at least float32 (float16
and bfloat16 activations are upcast, float64 stays float64) and the result is cast back to the
input dtype, as the reference does for its mixed-precision path. For bfloat16 on the CPU the
upcast happens inside PyTorch's kernels (GroupNorm with float32 affine parameters, softmax),
which accumulate in float32 themselves: the same rule without two extra copies of every
activation (the fast path's bfloat16; the softmax result is identical, GroupNorm within one bf16
ulp).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "ATTENTION_KERNELS",
    "GroupNorm32",
    "LayerNorm32",
    "attention",
    "compute_dtype",
    "normalization",
    "timestep_embedding",
    "zero_module",
]


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype in which numerically sensitive ops run for activations of ``dtype``."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def timestep_embedding(
    timesteps: torch.Tensor, dim: int, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """Sinusoidal features of the diffusion timestep (Vaswani et al., 2017, sec. 3.5; used by
    Ho et al., 2020 and GLIDE).

    ``timesteps``: [N] integer (or float) indices into the ORIGINAL 1000-step schedule.
    Returns [N, dim]: first half ``cos(t * f_i)``, second half ``sin(t * f_i)`` with
    ``f_i = exp(-ln(10000) * i / half)``, ``i = 0 .. half-1``; an odd ``dim`` gets a zero column.
    Computed in float32 (float64 when ``dtype`` is float64) and returned as ``dtype``.
    """
    work = compute_dtype(dtype)
    half = dim // 2
    idx = torch.arange(half, device=timesteps.device, dtype=work)
    freqs = torch.exp(-math.log(10000.0) * idx / half)
    args = timesteps.to(work)[:, None] * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        emb = torch.cat([emb, torch.zeros_like(emb[:, :1])], dim=-1)
    return emb.to(dtype)


class GroupNorm32(nn.GroupNorm):
    """GroupNorm computed in at least float32, returned in the input dtype."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        work = compute_dtype(x.dtype)
        weight = None if self.weight is None else self.weight.to(work)
        bias = None if self.bias is None else self.bias.to(work)
        if _cpu_low_precision(x):  # the CPU kernel computes in float32 for bf16 input
            return F.group_norm(x, self.num_groups, weight, bias, self.eps).to(x.dtype)
        y = F.group_norm(x.to(work), self.num_groups, weight, bias, self.eps)
        return y.to(x.dtype)


def _cpu_low_precision(x: torch.Tensor) -> bool:
    """bfloat16 on the CPU outside autocast: kernels there accumulate in float32 internally."""
    if x.dtype != torch.bfloat16 or x.device.type != "cpu":
        return False
    return not torch.is_autocast_enabled("cpu")


class LayerNorm32(nn.LayerNorm):
    """LayerNorm computed in at least float32, returned in the input dtype."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        work = compute_dtype(x.dtype)
        weight = None if self.weight is None else self.weight.to(work)
        bias = None if self.bias is None else self.bias.to(work)
        y = F.layer_norm(x.to(work), self.normalized_shape, weight, bias, self.eps)
        return y.to(x.dtype)


def normalization(channels: int, groups: int = 32) -> GroupNorm32:
    """The U-Net's GroupNorm: 32 groups, eps 1e-5."""
    return GroupNorm32(groups, channels, eps=1e-5)


def zero_module(module: nn.Module) -> nn.Module:
    """Zero every parameter of ``module`` (in place) and return it.

    Used on the last layer of residual branches so a freshly built network starts as (close to)
    the identity, as in the reference training setup. Skipped on the meta device.
    """
    with torch.no_grad():
        for p in module.parameters():
            if not p.is_meta:
                p.zero_()
    return module


ATTENTION_KERNELS = ("auto", "math", "sdpa")


def attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    kernel: str = "auto",
) -> torch.Tensor:
    """Scaled dot-product attention with the softmax in at least float32.

    ``q``: [B, H, T, d], ``k``/``v``: [B, H, S, d], optional additive/boolean ``mask``
    broadcastable to [B, H, T, S]. Returns [B, H, T, d] in ``q``'s dtype. The logits are
    ``(q d^-1/4) . (k d^-1/4)``, i.e. the usual ``q.k / sqrt(d)``.

    ``kernel``: "math" (two matmuls and a softmax, the reference's order of operations),
    "sdpa" (``F.scaled_dot_product_attention`` on contiguous inputs: PyTorch's fused kernels,
    float32 accumulation; on the CPU 2x faster than "math" in float32 for the 64x64 base's
    32x32 attention, but slower than "math" in bfloat16), or "auto" (sdpa on CUDA, else math).
    """
    if kernel not in ATTENTION_KERNELS:
        raise ValueError(f"kernel={kernel!r} is invalid; choose one of {ATTENTION_KERNELS}")
    if mask is None and (kernel == "sdpa" or (kernel == "auto" and q.is_cuda)):
        # fused kernels accumulate the softmax in float32 themselves; on the CPU they take
        # their fast path only for contiguous inputs
        return F.scaled_dot_product_attention(q.contiguous(), k.contiguous(), v.contiguous())
    scale = q.shape[-1] ** -0.25
    logits = torch.matmul(q * scale, (k * scale).transpose(-1, -2))
    if mask is not None:
        if mask.dtype == torch.bool:
            logits = logits.masked_fill(~mask, float("-inf"))
        else:
            logits = logits + mask
    if _cpu_low_precision(logits):  # the CPU softmax computes in float32 for bf16 input
        return torch.matmul(torch.softmax(logits, dim=-1), v)
    weights = torch.softmax(logits.to(compute_dtype(q.dtype)), dim=-1).to(q.dtype)
    return torch.matmul(weights, v)
