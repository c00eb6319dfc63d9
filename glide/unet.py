"""The GLIDE U-Net (Nichol et al., 2021, sec. 4; the ADM architecture of Dhariwal & Nichol,
2021, sec. 3, with text-token keys in every attention layer).

Module names mirror the official checkpoints (``time_embed.{0,2}``, ``input_blocks.N.M``,
``middle_block.M``, ``output_blocks.N.M``, ``out.{0,2}``; ResBlocks hold ``in_layers``,
``emb_layers``, ``out_layers``, ``skip_connection``; attention blocks hold ``norm``, ``qkv``,
``encoder_kv``, ``proj_out``), so a strict ``load_state_dict`` of the released files works.

This module knows nothing of text or diffusion: :class:`UNet` maps an image, a conditioning
vector ``emb`` and an optional token sequence to an output image. ``glide.text2im`` adds the
caption encoder and the input variants (super-resolution, inpainting).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from glide.config import UNetConfig
from glide.nn import attention, normalization, zero_module

__all__ = ["AttentionBlock", "Downsample", "ResBlock", "TimestepBlockSequence", "UNet", "Upsample"]


class Upsample(nn.Module):
    """Nearest-neighbour x2 upsampling, optionally followed by a 3x3 conv (key ``conv``)."""

    def __init__(self, channels: int, use_conv: bool, out_channels: int | None = None) -> None:
        super().__init__()
        out_channels = out_channels or channels
        self.conv = nn.Conv2d(channels, out_channels, 3, padding=1) if use_conv else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=2, mode="nearest")
        return self.conv(x) if self.conv is not None else x


class Downsample(nn.Module):
    """x2 downsampling: a stride-2 3x3 conv (key ``op``) or a 2x2 average pool."""

    def __init__(self, channels: int, use_conv: bool, out_channels: int | None = None) -> None:
        super().__init__()
        out_channels = out_channels or channels
        if use_conv:
            self.op: nn.Module = nn.Conv2d(channels, out_channels, 3, stride=2, padding=1)
        else:
            assert out_channels == channels
            self.op = nn.AvgPool2d(kernel_size=2, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class ResBlock(nn.Module):
    """Residual block conditioned on the embedding ``emb`` (timestep + caption).

    ``h = conv(resample(SiLU(GN(x))))``; with scale-shift norm (ADM sec. 3, "AdaGN"):
    ``h = conv(dropout(SiLU(GN(h) * (1 + scale) + shift)))`` where ``[scale, shift] =
    Linear(SiLU(emb))`` (scale is the FIRST half); otherwise the projection is added to ``h``
    before the norm. The skip path is identity, or a 1x1 conv when the width changes; with
    ``up``/``down`` the same resampling is applied to the skip input.
    """

    def __init__(
        self,
        channels: int,
        emb_channels: int,
        dropout: float,
        out_channels: int | None = None,
        use_scale_shift_norm: bool = True,
        up: bool = False,
        down: bool = False,
    ) -> None:
        super().__init__()
        out_channels = out_channels or channels
        self.use_scale_shift_norm = use_scale_shift_norm
        self.in_layers = nn.Sequential(
            normalization(channels), nn.SiLU(), nn.Conv2d(channels, out_channels, 3, padding=1)
        )
        if up:
            self.resample: nn.Module | None = Upsample(channels, use_conv=False)
        elif down:
            self.resample = Downsample(channels, use_conv=False)
        else:
            self.resample = None
        emb_out = 2 * out_channels if use_scale_shift_norm else out_channels
        self.emb_layers = nn.Sequential(nn.SiLU(), nn.Linear(emb_channels, emb_out))
        self.out_layers = nn.Sequential(
            normalization(out_channels),
            nn.SiLU(),
            nn.Dropout(p=dropout),
            zero_module(nn.Conv2d(out_channels, out_channels, 3, padding=1)),
        )
        if out_channels == channels:
            self.skip_connection: nn.Module = nn.Identity()
        else:
            self.skip_connection = nn.Conv2d(channels, out_channels, 1)

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        """x: [N, C, H, W], emb: [N, E] -> [N, C_out, H', W']."""
        norm, act, conv = self.in_layers
        h = act(norm(x))
        if self.resample is not None:
            h = self.resample(h)
            x = self.resample(x)
        h = conv(h)
        e = self.emb_layers(emb).to(h.dtype)[:, :, None, None]
        out_norm, out_act, drop, out_conv = self.out_layers
        if self.use_scale_shift_norm:
            scale, shift = e.chunk(2, dim=1)
            h = out_norm(h) * (1 + scale) + shift
        else:
            h = out_norm(h + e)
        h = out_conv(drop(out_act(h)))
        return self.skip_connection(x) + h


class AttentionBlock(nn.Module):
    """Spatial self-attention whose keys/values also include the caption tokens.

    GN -> 1x1 ``qkv`` conv (head-major: per head its q, k, v slices); the token sequence goes
    through ``encoder_kv`` (per head: k then v) and its L keys/values are placed BEFORE the H*W
    spatial ones; no mask. Output ``x + proj_out(attn)``.

    ``kernel`` (an attribute, not a parameter: "auto", "math" or "sdpa"; see
    :func:`glide.nn.attention`) picks the attention implementation; ``glide.fast`` sets it.
    """

    kernel: str = "auto"

    def __init__(self, channels: int, num_heads: int, encoder_channels: int | None) -> None:
        super().__init__()
        assert channels % num_heads == 0
        self.num_heads = num_heads
        self.norm = normalization(channels)
        self.qkv = nn.Conv1d(channels, 3 * channels, 1)
        if encoder_channels is not None:
            self.encoder_kv: nn.Conv1d | None = nn.Conv1d(encoder_channels, 2 * channels, 1)
        else:
            self.encoder_kv = None
        self.proj_out = zero_module(nn.Conv1d(channels, channels, 1))

    def forward(self, x: torch.Tensor, encoder_out: torch.Tensor | None = None) -> torch.Tensor:
        """x: [N, C, H, W], encoder_out: [N, W_text, L] or None -> [N, C, H, W]."""
        n, c, *spatial = x.shape
        heads = self.num_heads
        qkv = self.qkv(self.norm(x).reshape(n, c, -1))  # (N, 3C, T)
        q, k, v = qkv.reshape(n, heads, 3 * c // heads, -1).chunk(3, dim=2)  # (N, H, d, T)
        if self.encoder_kv is not None and encoder_out is not None:
            ekv = self.encoder_kv(encoder_out.to(x.dtype))  # (N, 2C, L)
            ek, ev = ekv.reshape(n, heads, 2 * c // heads, -1).chunk(2, dim=2)  # (N, H, d, L)
            k = torch.cat([ek, k], dim=-1)
            v = torch.cat([ev, v], dim=-1)
        a = attention(
            q.transpose(-1, -2), k.transpose(-1, -2), v.transpose(-1, -2), kernel=self.kernel
        )
        a = a.transpose(-1, -2).reshape(n, c, -1)  # (N, C, T)
        return x + self.proj_out(a).reshape(n, c, *spatial)


class TimestepBlockSequence(nn.Sequential):
    """A sequence of layers; ResBlocks get ``emb``, attention blocks get the token sequence."""

    def forward(  # type: ignore[override]
        self, x: torch.Tensor, emb: torch.Tensor, encoder_out: torch.Tensor | None = None
    ) -> torch.Tensor:
        for layer in self:
            if isinstance(layer, ResBlock):
                x = layer(x, emb)
            elif isinstance(layer, AttentionBlock):
                x = layer(x, encoder_out)
            else:
                x = layer(x)
        return x


class UNet(nn.Module):
    """The U-Net trunk: ``time_embed``, ``input_blocks``, ``middle_block``, ``output_blocks``,
    ``out``. Built from a :class:`glide.config.UNetConfig`; ``encoder_channels`` is the width
    of the token sequence given to attention (None: no text keys)."""

    def __init__(self, config: UNetConfig, encoder_channels: int | None = None) -> None:
        super().__init__()
        self.config = config
        mc = config.model_channels
        emb_dim = config.time_embed_dim
        heads_up = config.num_heads_upsample if config.num_heads_upsample != -1 else None

        def res(ch_in: int, ch_out: int, up: bool = False, down: bool = False) -> ResBlock:
            return ResBlock(
                ch_in, emb_dim, config.dropout, ch_out, config.use_scale_shift_norm, up, down
            )

        def attn(ch: int, upsample_side: bool = False) -> AttentionBlock:
            if config.num_head_channels != -1:
                heads = ch // config.num_head_channels
            else:
                heads = (heads_up or config.num_heads) if upsample_side else config.num_heads
            return AttentionBlock(ch, heads, encoder_channels)

        attn_rates = set(config.attention_downsample_rates)
        self.time_embed = nn.Sequential(
            nn.Linear(mc, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim)
        )
        ch = config.level_channels[0]
        self.input_blocks = nn.ModuleList(
            [TimestepBlockSequence(nn.Conv2d(config.in_channels, ch, 3, padding=1))]
        )
        skip_channels = [ch]
        ds = 1
        last = len(config.channel_mult) - 1
        for level, width in enumerate(config.level_channels):
            for _ in range(config.num_res_blocks):
                layers: list[nn.Module] = [res(ch, width)]
                ch = width
                if ds in attn_rates:
                    layers.append(attn(ch))
                self.input_blocks.append(TimestepBlockSequence(*layers))
                skip_channels.append(ch)
            if level != last:
                down = res(ch, ch, down=True) if config.resblock_updown else Downsample(ch, True)
                self.input_blocks.append(TimestepBlockSequence(down))
                skip_channels.append(ch)
                ds *= 2
        self.middle_block = TimestepBlockSequence(res(ch, ch), attn(ch), res(ch, ch))
        self.output_blocks = nn.ModuleList()
        for level, width in reversed(list(enumerate(config.level_channels))):
            for i in range(config.num_res_blocks + 1):
                layers = [res(ch + skip_channels.pop(), width)]
                ch = width
                if ds in attn_rates:
                    layers.append(attn(ch, upsample_side=True))
                if level and i == config.num_res_blocks:
                    up = res(ch, ch, up=True) if config.resblock_updown else Upsample(ch, True)
                    layers.append(up)
                    ds //= 2
                self.output_blocks.append(TimestepBlockSequence(*layers))
        assert not skip_channels
        self.out = nn.Sequential(
            normalization(ch),
            nn.SiLU(),
            zero_module(nn.Conv2d(ch, config.out_channels, 3, padding=1)),
        )

    @property
    def dtype(self) -> torch.dtype:
        return self.time_embed[0].weight.dtype

    @property
    def device(self) -> torch.device:
        return self.time_embed[0].weight.device

    def run_trunk(
        self, x: torch.Tensor, emb: torch.Tensor, encoder_out: torch.Tensor | None
    ) -> torch.Tensor:
        """x: [N, in_channels, H, W] (model dtype), emb: [N, 4*model_channels],
        encoder_out: [N, W_text, L] or None -> [N, out_channels, H, W]."""
        skips = []
        h = x
        for block in self.input_blocks:
            h = block(h, emb, encoder_out)
            skips.append(h)
        h = self.middle_block(h, emb, encoder_out)
        for block in self.output_blocks:
            h = block(torch.cat([h, skips.pop()], dim=1), emb, encoder_out)
        return self.out(h)
