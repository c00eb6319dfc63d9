"""GLIDE's caption encoder: a pre-LayerNorm transformer over the caption tokens.

GLIDE sec. 2.3 / 4: the caption is encoded into K tokens by a transformer (16 layers, width 512
for the official models); the final token embedding is projected into the timestep embedding
and the whole token sequence is fed to every attention layer of the U-Net.

Module names mirror the official checkpoints: ``transformer.resblocks.i.{ln_1, attn.c_qkv,
attn.c_proj, ln_2, mlp.c_fc, mlp.c_proj}``. The fused ``c_qkv`` projection is HEAD-MAJOR: its
3*width outputs are grouped per head, and within a head come that head's q, k and v.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from glide.nn import LayerNorm32, attention

__all__ = ["MultiheadSelfAttention", "TextTransformer"]


class MultiheadSelfAttention(nn.Module):
    """Unmasked multi-head self-attention with a fused head-major qkv projection."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.c_qkv = nn.Linear(width, 3 * width)
        self.c_proj = nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: [B, L, W] -> [B, L, W]."""
        b, n, _ = x.shape
        qkv = self.c_qkv(x).view(b, n, self.heads, -1)  # (B, L, H, 3*hd), head-major
        q, k, v = qkv.transpose(1, 2).chunk(3, dim=-1)  # each (B, H, L, hd)
        out = attention(q, k, v)  # (B, H, L, hd)
        return self.c_proj(out.transpose(1, 2).reshape(b, n, -1))


class MLP(nn.Module):
    """Position-wise feed-forward: Linear(W, 4W), exact (erf) GELU, Linear(4W, W)."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.c_fc = nn.Linear(width, 4 * width)
        self.c_proj = nn.Linear(4 * width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c_proj(F.gelu(self.c_fc(x)))


class ResidualAttentionBlock(nn.Module):
    """Pre-LN block: ``x + attn(ln_1(x))`` then ``x + mlp(ln_2(x))``."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        # registration order matches the official state_dict order
        self.attn = MultiheadSelfAttention(width, heads)
        self.ln_1 = LayerNorm32(width, eps=1e-5)
        self.mlp = MLP(width)
        self.ln_2 = LayerNorm32(width, eps=1e-5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class TextTransformer(nn.Module):
    """A stack of ``layers`` residual attention blocks (``.resblocks``), no attention mask."""

    def __init__(self, width: int, layers: int, heads: int) -> None:
        super().__init__()
        self.width = width
        self.resblocks = nn.ModuleList(ResidualAttentionBlock(width, heads) for _ in range(layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: [B, L, W] -> [B, L, W]."""
        for block in self.resblocks:
            x = block(x)
        return x
