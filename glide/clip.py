"""The noised CLIP of GLIDE: an image encoder f(x_t, t) and a text encoder g(caption).

GLIDE (Nichol et al., 2021, sec. 2.4) guides sampling with a CLIP model trained on NOISED images,
so that f sees the same x_t as the diffusion model:

    mu_hat(x_t | c) = mu(x_t | c) + s * Sigma(x_t | c) * grad_{x_t} (f(x_t, t) . g(c))   (eq. 4)

Both encoders are pre-LN transformers (Radford et al., 2021):

- image encoder: pixels in [0, 255] are normalised with CLIP's per-channel mean/std, cut into
  ``patch_size`` patches by a bias-free strided convolution, and a learned per-timestep token
  ``w_t[t]`` is put in front (position 0); positional embedding, LayerNorm, ``n_xf_blocks_image``
  blocks with full (non-causal) attention; the output is LayerNorm + a bias-free projection of
  position 0.
- text encoder: token + positional embeddings, ``n_xf_blocks_text`` blocks with causal attention;
  the output is LayerNorm + a bias-free projection of the hidden state at ``text_len - 1`` (the
  end-of-text token of the CLIP tokenizer).

Each block is ``x + attn(ln(x))`` then ``x + mlp(ln(x))``: separate q/k/v projections (k has no
bias), q and k both scaled by head_dim^(-1/4), softmax, output projection ``f_c``; MLP 4x with exact
(erf) GELU; LayerNorm eps 1e-5. The reference pads sequences to multiples of 32 and masks the
padded keys with -1e10; masked keys get exactly zero weight, so this implementation computes the
same outputs without the padding.

Module and parameter names follow the official checkpoints (``blocks.input.w_t``,
``blocks.block_3.f_attn.f_q.w``, ``blocks.output.f.w``, ...), so ``clip_image_enc.pt`` and
``clip_text_enc.pt`` load strictly into ``clip.image_encoder`` and ``clip.text_encoder``. The
pixel statistics and ``logit_scale`` (log 100) are non-persistent buffers: they follow
``.to(device, dtype)`` but are not part of any state dict, as in the released files.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from glide.config import CLIPConfig
from glide.errors import GlideError

__all__ = [
    "CLIP_PRESETS",
    "CLIP_SMALL",
    "ImageEncoder",
    "NoisedCLIP",
    "TextEncoder",
    "build_clip",
    "clip_config",
]

# CLIP's pixel statistics on the [0, 255] scale (Radford et al., 2021).
IMAGE_CHANNEL_MEANS = (122.77093945, 116.74601272, 104.09373519)
IMAGE_CHANNEL_STDS = (68.50053285, 66.63215831, 70.32316309)
_LN_EPS = 1e-5


def _param(
    *shape: int, device: torch.device | str | None, dtype: torch.dtype | None
) -> nn.Parameter:
    return nn.Parameter(torch.empty(shape, device=device, dtype=dtype))


class LayerNorm(nn.Module):
    """LayerNorm with parameters ``g``/``b``; half-precision inputs are normalised in float32."""

    def __init__(self, width: int, *, device=None, dtype=None) -> None:
        super().__init__()
        self.g = nn.Parameter(torch.ones(width, device=device, dtype=dtype))
        self.b = nn.Parameter(torch.zeros(width, device=device, dtype=dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        compute = torch.float32 if x.dtype in (torch.float16, torch.bfloat16) else x.dtype
        out = F.layer_norm(
            x.to(compute), x.shape[-1:], self.g.to(compute), self.b.to(compute), _LN_EPS
        )
        return out.to(x.dtype)


class Affine(nn.Module):
    """``x @ w.T + b`` with weight ``w`` [out, in] and an optional bias ``b`` [out]."""

    def __init__(self, n_in: int, n_out: int, *, bias: bool = True, device=None, dtype=None):
        super().__init__()
        self.w = _param(n_out, n_in, device=device, dtype=dtype)
        self.b = _param(n_out, device=device, dtype=dtype) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.w, self.b)


class Attention(nn.Module):
    """Pre-LN multi-head self-attention residual branch: ``x + f_c(attn(ln(x)))``."""

    def __init__(self, width: int, n_head: int, *, causal: bool, device=None, dtype=None):
        super().__init__()
        self.n_head, self.causal = n_head, causal
        kw = {"device": device, "dtype": dtype}
        self.ln = LayerNorm(width, **kw)
        self.f_q = Affine(width, width, **kw)
        self.f_k = Affine(width, width, bias=False, **kw)
        self.f_v = Affine(width, width, **kw)
        self.f_c = Affine(width, width, **kw)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, length, width = x.shape
        h = self.ln(x)

        def heads(t: torch.Tensor) -> torch.Tensor:  # (N, L, W) -> (N, heads, L, W / heads)
            return t.view(n, length, self.n_head, width // self.n_head).transpose(1, 2)

        q, k, v = heads(self.f_q(h)), heads(self.f_k(h)), heads(self.f_v(h))
        # softmax(q k^T / sqrt(d)) v; the reference scales q and k by d^(-1/4) each: same product
        out = F.scaled_dot_product_attention(q, k, v, is_causal=self.causal)
        return x + self.f_c(out.transpose(1, 2).reshape(n, length, width))


class MLP(nn.Module):
    """Pre-LN MLP residual branch: ``x + f_2(gelu(f_1(ln(x))))``, hidden width 4x."""

    def __init__(self, width: int, *, device=None, dtype=None) -> None:
        super().__init__()
        kw = {"device": device, "dtype": dtype}
        self.ln = LayerNorm(width, **kw)
        self.f_1 = Affine(width, 4 * width, **kw)
        self.f_2 = Affine(4 * width, width, **kw)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.f_2(F.gelu(self.f_1(self.ln(x))))


class Block(nn.Module):
    """One transformer block: attention then MLP, each with its own residual."""

    def __init__(self, width: int, n_head: int, *, causal: bool, device=None, dtype=None):
        super().__init__()
        self.f_attn = Attention(width, n_head, causal=causal, device=device, dtype=dtype)
        self.f_mlp = MLP(width, device=device, dtype=dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.f_mlp(self.f_attn(x))


class ImageEmbedding(nn.Module):
    """Pixels [N, 3, S, S] in [0, 255] and timesteps [N] -> tokens [N, 1 + (S/P)^2, W]."""

    def __init__(self, cfg: CLIPConfig, width: int, *, device=None, dtype=None) -> None:
        super().__init__()
        self.image_size, self.patch_size = cfg.image_size, cfg.patch_size
        n_context = 1 + (cfg.image_size // cfg.patch_size) ** 2
        self.w_t = _param(cfg.n_timesteps, width, device=device, dtype=dtype)
        self.patch_proj = _param(
            width, 3, cfg.patch_size, cfg.patch_size, device=device, dtype=dtype
        )
        self.w_pos = _param(n_context, width, device=device, dtype=dtype)
        self.ln = LayerNorm(width, device=device, dtype=dtype)
        stats = {"device": device, "dtype": dtype or torch.get_default_dtype()}
        means = torch.tensor(IMAGE_CHANNEL_MEANS, **stats).view(1, 3, 1, 1)
        stds = torch.tensor(IMAGE_CHANNEL_STDS, **stats).view(1, 3, 1, 1)
        self.register_buffer("channel_means", means, persistent=False)
        self.register_buffer("channel_stds", stds, persistent=False)

    def forward(self, image: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        x = (image - self.channel_means) / self.channel_stds
        x = F.conv2d(x, self.patch_proj, stride=self.patch_size)  # (N, W, S/P, S/P)
        x = x.flatten(2).transpose(1, 2)  # (N, (S/P)^2, W), patches in row-major order
        time_token = F.embedding(t, self.w_t)[:, None]  # (N, 1, W)
        return self.ln(torch.cat([time_token, x], dim=1) + self.w_pos)


class TextEmbedding(nn.Module):
    """Token ids [N, max_text_len] -> token + positional embeddings [N, max_text_len, W]."""

    def __init__(self, cfg: CLIPConfig, width: int, *, device=None, dtype=None) -> None:
        super().__init__()
        self.w_voc = _param(cfg.n_vocab, width, device=device, dtype=dtype)
        self.w_pos = _param(cfg.max_text_len, width, device=device, dtype=dtype)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return F.embedding(tokens, self.w_voc) + self.w_pos


class PooledProjection(nn.Module):
    """LayerNorm then a bias-free projection W -> n_embd of one position per row."""

    def __init__(self, width: int, n_embd: int, *, device=None, dtype=None) -> None:
        super().__init__()
        self.ln = LayerNorm(width, device=device, dtype=dtype)
        self.f = Affine(width, n_embd, bias=False, device=device, dtype=dtype)

    def forward(self, x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        pooled = x[torch.arange(x.shape[0], device=x.device), index]  # (N, W)
        return self.f(self.ln(pooled))


class ImageEncoder(nn.Module):
    """Noised-image encoder: ``forward(image_0_255 [N,3,S,S], t [N]) -> features [N, n_embd]``."""

    def __init__(self, cfg: CLIPConfig, *, device=None, dtype=None) -> None:
        super().__init__()
        width = cfg.n_head_image * cfg.n_head_state_image  # 768 for the official model
        kw = {"device": device, "dtype": dtype}
        blocks: dict[str, nn.Module] = {"input": ImageEmbedding(cfg, width, **kw)}
        for i in range(cfg.n_xf_blocks_image):
            blocks[f"block_{i}"] = Block(width, cfg.n_head_image, causal=False, **kw)
        blocks["output"] = PooledProjection(width, cfg.n_embd, **kw)
        self.blocks = nn.ModuleDict(blocks)
        self.n_xf_blocks, self.width = cfg.n_xf_blocks_image, width

    def forward(self, image: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        h = self.blocks["input"](image, t)
        for i in range(self.n_xf_blocks):
            h = self.blocks[f"block_{i}"](h)
        return self.blocks["output"](h, torch.zeros_like(t))  # the timestep token, position 0


class TextEncoder(nn.Module):
    """Caption encoder: ``forward(tokens [N, max_text_len], text_len [N]) -> [N, n_embd]``."""

    def __init__(self, cfg: CLIPConfig, *, device=None, dtype=None) -> None:
        super().__init__()
        width = cfg.n_head_text * cfg.n_head_state_text  # 512 for the official model
        kw = {"device": device, "dtype": dtype}
        blocks: dict[str, nn.Module] = {"input": TextEmbedding(cfg, width, **kw)}
        for i in range(cfg.n_xf_blocks_text):
            blocks[f"block_{i}"] = Block(width, cfg.n_head_text, causal=True, **kw)
        blocks["output"] = PooledProjection(width, cfg.n_embd, **kw)
        self.blocks = nn.ModuleDict(blocks)
        self.n_xf_blocks, self.width = cfg.n_xf_blocks_text, width

    def forward(self, tokens: torch.Tensor, text_len: torch.Tensor) -> torch.Tensor:
        h = self.blocks["input"](tokens)
        for i in range(self.n_xf_blocks):
            h = self.blocks[f"block_{i}"](h)
        return self.blocks["output"](h, text_len - 1)  # the end-of-text token


def _unit(z: torch.Tensor) -> torch.Tensor:
    return z / (torch.linalg.vector_norm(z, dim=-1, keepdim=True) + 1e-12)


class NoisedCLIP(nn.Module):
    """GLIDE's noised CLIP: ``image_embeddings(x_t, t)`` and ``text_embeddings(tokens, len)``.

    Both return unit-norm embeddings [N, n_embd]; the guidance signal of GLIDE eq. 4 is
    ``logit_scale.exp() * (f * g).sum(-1)`` with ``logit_scale = log(100)``.
    """

    def __init__(self, config: CLIPConfig, *, device=None, dtype=None) -> None:
        super().__init__()
        self.config = config
        self.image_encoder = ImageEncoder(config, device=device, dtype=dtype)
        self.text_encoder = TextEncoder(config, device=device, dtype=dtype)
        scale = torch.tensor(math.log(config.logit_scale), device=device, dtype=dtype)
        self.register_buffer("logit_scale", scale, persistent=False)

    @torch.no_grad()
    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Initialise every weight with the reference's scales (a training starting point).

        Embeddings: text tokens N(0, 0.02^2), text positions N(0, 0.01^2), image positions and
        timestep tokens N(0, 1/W); patch projection N(0, 2/(W P^2)); q/k/v N(0, 1/W); the residual
        output layers (``f_c``, ``f_2``) N(0, 1/(W (2B)^2)) for B blocks; ``f_1`` N(0, 2/(4W));
        the output projection N(0, 2/(W + n_embd)); biases 0, LayerNorm gains 1.
        """

        def normal(p: torch.Tensor, std: float) -> None:
            p.copy_(torch.randn(p.shape, generator=generator, dtype=torch.float64) * std)

        cfg = self.config
        for encoder, n_blocks in (
            (self.image_encoder, cfg.n_xf_blocks_image),
            (self.text_encoder, cfg.n_xf_blocks_text),
        ):
            width = encoder.width
            for module in encoder.modules():
                if isinstance(module, LayerNorm):
                    module.g.fill_(1.0)
                    module.b.zero_()
                elif isinstance(module, Affine) and module.b is not None:
                    module.b.zero_()
            for i in range(n_blocks):
                block = encoder.blocks[f"block_{i}"]
                for lin in (block.f_attn.f_q, block.f_attn.f_k, block.f_attn.f_v):
                    normal(lin.w, 1 / math.sqrt(width))
                normal(block.f_attn.f_c.w, 1 / math.sqrt(width * (2 * n_blocks) ** 2))
                normal(block.f_mlp.f_1.w, math.sqrt(2 / (4 * width)))
                normal(block.f_mlp.f_2.w, 1 / math.sqrt(width * (2 * n_blocks) ** 2))
            normal(encoder.blocks["output"].f.w, math.sqrt(2 / (width + cfg.n_embd)))
        image_in = self.image_encoder.blocks["input"]
        width = self.image_encoder.width
        normal(image_in.w_t, 1 / math.sqrt(width))
        normal(image_in.patch_proj, math.sqrt(2 / (width * cfg.patch_size**2)))
        normal(image_in.w_pos, 1 / math.sqrt(width))
        text_in = self.text_encoder.blocks["input"]
        normal(text_in.w_voc, 0.02)
        normal(text_in.w_pos, 0.01)

    def _dtype(self) -> torch.dtype:
        return self.image_encoder.blocks["input"].w_pos.dtype

    def image_embeddings(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Unit-norm f(x_t, t) [N, n_embd] of noised images x_t [N, 3, S, S] in [-1, 1].

        ``t`` [N] int64 indexes the ORIGINAL ``n_timesteps``-step schedule (0 = least noisy).
        Differentiable with respect to ``x_t`` (CLIP guidance takes its gradient).
        """
        cfg = self.config
        size = cfg.image_size
        if x_t.dim() != 4 or tuple(x_t.shape[1:]) != (3, size, size):
            raise GlideError(
                f"x_t has shape {tuple(x_t.shape)}; the noised CLIP expects [N, 3, {size}, {size}]"
            )
        t = _check_index("t", t, x_t.shape[0], 0, cfg.n_timesteps - 1)
        image = (x_t.to(self._dtype()) + 1) * 127.5  # [-1, 1] -> [0, 255]
        return _unit(self.image_encoder(image, t))

    def text_embeddings(self, tokens: torch.Tensor, text_len: torch.Tensor) -> torch.Tensor:
        """Unit-norm g(c) [N, n_embd] from CLIP tokenizer output (tokens [N, L], text_len [N])."""
        cfg = self.config
        if tokens.dim() != 2 or tokens.shape[1] != cfg.max_text_len:
            raise GlideError(
                f"tokens has shape {tuple(tokens.shape)}; expected [N, {cfg.max_text_len}] from "
                f"get_clip_tokenizer().encode_batch(captions, context_length={cfg.max_text_len})"
            )
        tokens = _check_index("tokens", tokens, tokens.shape[0], 0, cfg.n_vocab - 1)
        text_len = _check_index("text_len", text_len, tokens.shape[0], 1, cfg.max_text_len)
        return _unit(self.text_encoder(tokens, text_len))

    def caption_embeddings(self, captions: Sequence[str]) -> torch.Tensor:
        """Unit-norm g(c) [N, n_embd] of raw captions (CLIP tokenizer, truncation warned)."""
        from glide.tokenizer import get_clip_tokenizer

        tokens, text_len = get_clip_tokenizer().encode_batch(
            captions, self.config.max_text_len, device=self.logit_scale.device
        )
        return self.text_embeddings(tokens, text_len)


def _check_index(name: str, x: torch.Tensor, n: int, low: int, high: int) -> torch.Tensor:
    """Validate an integer tensor argument (batch size and value range); return it as int64."""
    if not isinstance(x, torch.Tensor) or x.dtype.is_floating_point or x.dtype.is_complex:
        raise GlideError(f"{name} must be an integer tensor, got {type(x).__name__} {x!r:.80}")
    ndim = 2 if name == "tokens" else 1
    if x.dim() != ndim or x.shape[0] != n:
        expected = f"[{n}]" if ndim == 1 else f"[{n}, L]"
        raise GlideError(f"{name} has shape {tuple(x.shape)}; expected {expected}")
    if x.device.type != "meta" and x.numel() and (int(x.min()) < low or int(x.max()) > high):
        raise GlideError(
            f"{name} has values in [{int(x.min())}, {int(x.max())}]; allowed range is "
            f"[{low}, {high}]"
        )
    return x.long()


# Presets: the official size and a small one for CPU training (the embedded default's guide).
CLIP_SMALL = CLIPConfig(
    n_vocab=49408,  # the CLIP tokenizer's vocabulary; the official table has 65536 rows
    n_embd=64,
    n_head_text=2,
    n_head_state_text=32,
    n_xf_blocks_text=4,
    patch_size=8,  # 8x8 patches: 1 + 64 image tokens instead of 1 + 256
    n_head_image=4,
    n_head_state_image=32,
    n_xf_blocks_image=4,
)
CLIP_PRESETS: dict[str, CLIPConfig] = {"clip": CLIPConfig.preset("clip"), "clip-small": CLIP_SMALL}


def clip_config(config: str | Mapping[str, Any] | CLIPConfig) -> CLIPConfig:
    """CLIPConfig from a preset name (``CLIP_PRESETS``), a ``config_yaml`` dict or a CLIPConfig."""
    if isinstance(config, CLIPConfig):
        return config
    if isinstance(config, str):
        if config not in CLIP_PRESETS:
            raise GlideError(
                f"CLIP preset config={config!r} is unknown; choose one of {sorted(CLIP_PRESETS)}, "
                "or pass a config_yaml dict or a CLIPConfig"
            )
        return CLIP_PRESETS[config]
    if isinstance(config, Mapping):
        return CLIPConfig.from_yaml_dict(config)
    raise GlideError(
        f"config={config!r} is not a CLIP preset name, a config_yaml dict or a CLIPConfig"
    )


def build_clip(
    config: str | Mapping[str, Any] | CLIPConfig = "clip",
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> NoisedCLIP:
    """Build the noised CLIP with freshly initialised weights (``NoisedCLIP.reset_parameters``).

    ``config``: a preset name ("clip" = the official size of clip_image_enc.pt /
    clip_text_enc.pt, "clip-small" = :data:`CLIP_SMALL`), a reference-style ``config_yaml`` dict
    (as in ``manifests/clip_*.json``), or a CLIPConfig. ``device="meta"`` builds the structure
    without allocating memory (and skips the initialisation). Returned in eval mode.
    """
    model = NoisedCLIP(clip_config(config), device=device, dtype=dtype)
    if torch.device(device or "cpu").type != "meta":
        model.reset_parameters()
    return model.eval()
