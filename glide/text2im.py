"""Text-conditional GLIDE U-Nets: base 64x64, 64->256 super-resolution, and inpainting.

GLIDE (Nichol et al., 2021) sec. 2.3/4: the caption tokens are encoded by a transformer; the
projection of its last position is added to the timestep embedding, and the whole sequence
(after ``final_ln``) is given to every attention layer of the U-Net as extra keys/values.

The network returns ``[N, 6, H, W]``: eps (channels 0-2) and the variance interpolation value v
(channels 3-5, Nichol & Dhariwal 2021, eq. 15). It knows nothing of the diffusion process.

Input variants (extra channels concatenated to ``x_t``, in this order):

- super-resolution: ``low_res`` [N, 3, h, w] in [-1, 1], bilinearly resized to x_t's size;
- inpainting: ``inpaint_image * inpaint_mask`` (3) and ``inpaint_mask`` (1), both zero when
  not given (the reference's default), where the mask is 1 on pixels to KEEP;
- super-resolution inpainting: ``[x_t, image*mask, mask, upsampled low_res]``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from glide.config import UNetConfig
from glide.errors import GlideError
from glide.nn import LayerNorm32, timestep_embedding
from glide.text_encoder import TextTransformer
from glide.unet import UNet

__all__ = [
    "InpaintText2ImUNet",
    "SuperResInpaintText2ImUNet",
    "SuperResText2ImUNet",
    "Text2ImUNet",
    "TextEncoding",
    "build_model",
    "model_class_for",
]


@dataclass(frozen=True)
class TextEncoding:
    """The caption encoder's output, computed once per sample and reused at every step.

    ``proj``: [N, 4*model_channels], added to the timestep embedding.
    ``seq``: [N, xf_width, text_ctx], the token features the attention layers attend to.
    """

    proj: torch.Tensor
    seq: torch.Tensor

    def __getitem__(self, index: Any) -> TextEncoding:
        """Select rows, e.g. ``enc[:2]`` or ``enc[torch.tensor([0, 0, 1])]``."""
        return TextEncoding(self.proj[index], self.seq[index])

    @staticmethod
    def cat(encodings: list[TextEncoding]) -> TextEncoding:
        return TextEncoding(
            torch.cat([e.proj for e in encodings]), torch.cat([e.seq for e in encodings])
        )


class Text2ImUNet(UNet):
    """The base text-to-image U-Net (reference class ``Text2ImUNet``)."""

    def __init__(self, config: UNetConfig) -> None:
        super().__init__(config, encoder_channels=config.xf_width or None)
        self.xf_width = config.xf_width
        if config.xf_width:
            w, ctx = config.xf_width, config.text_ctx
            self.transformer = TextTransformer(w, config.xf_layers, config.xf_heads)
            self.final_ln = LayerNorm32(w, eps=1e-5) if config.xf_final_ln else None
            self.token_embedding = nn.Embedding(config.n_vocab, w)
            # The reference leaves these two uninitialised (torch.empty); we use N(0, 0.01^2)
            # so that a model trained from scratch starts from finite values.
            self.positional_embedding = nn.Parameter(torch.randn(ctx, w) * 0.01)
            if config.xf_padding:
                self.padding_embedding = nn.Parameter(torch.randn(ctx, w) * 0.01)
            self.transformer_proj = nn.Linear(w, config.time_embed_dim)

    # ----- text -----
    def encode_text(self, tokens: torch.Tensor, mask: torch.Tensor | None = None) -> TextEncoding:
        """Encode caption tokens once; pass the result as ``forward(..., text=enc)``.

        ``tokens``: [N, text_ctx] int64 ids from ``GlideTokenizer.encode_batch``; ``mask``:
        [N, text_ctx] bool, True on real tokens (needed when the model uses ``xf_padding``:
        masked positions are REPLACED by the learned padding embedding).
        """
        cfg = self.config
        if not cfg.xf_width:
            raise GlideError("encode_text: this model has xf_width=0 (no text conditioning)")
        if not isinstance(tokens, torch.Tensor) or tokens.ndim != 2:
            raise GlideError(
                f"tokens must be a LongTensor [N, text_ctx={cfg.text_ctx}], got "
                f"{getattr(tokens, 'shape', type(tokens).__name__)}; use "
                "glide.tokenizer.get_glide_tokenizer().encode_batch(captions, text_ctx)"
            )
        if tokens.shape[1] != cfg.text_ctx:
            raise GlideError(
                f"tokens has {tokens.shape[1]} positions but this model has text_ctx="
                f"{cfg.text_ctx}; tokenize with encode_batch(captions, text_ctx={cfg.text_ctx})"
            )
        if cfg.xf_padding:
            if mask is None:
                raise GlideError(
                    "mask=None: this model (xf_padding=True) needs the token mask from "
                    "encode_batch (True = real token, False = padding)"
                )
            if mask.shape != tokens.shape:
                raise GlideError(
                    f"mask shape {tuple(mask.shape)} differs from tokens shape "
                    f"{tuple(tokens.shape)}; pass the mask returned with the tokens"
                )
        dtype = self.dtype
        tokens = tokens.to(self.device)
        x = self.token_embedding(tokens.long()) + self.positional_embedding[None]
        if cfg.xf_padding:
            keep = mask.to(device=self.device, dtype=torch.bool)[..., None]
            x = torch.where(keep, x, self.padding_embedding[None].to(x.dtype))
        x = self.transformer(x.to(dtype))  # (N, L, W)
        if self.final_ln is not None:
            x = self.final_ln(x)
        proj = self.transformer_proj(x[:, -1])  # last position, (N, 4C)
        return TextEncoding(proj=proj, seq=x.permute(0, 2, 1))  # seq (N, W, L)

    # ----- inputs -----
    def prepare_input(
        self,
        x: torch.Tensor,
        low_res: torch.Tensor | None,
        inpaint_image: torch.Tensor | None,
        inpaint_mask: torch.Tensor | None,
    ) -> torch.Tensor:
        """Concatenate the variant's extra input channels to ``x`` ([N, 3, H, W])."""
        for name, value in (
            ("low_res", low_res),
            ("inpaint_image", inpaint_image),
            ("inpaint_mask", inpaint_mask),
        ):
            if value is not None:
                raise GlideError(
                    f"{name} was given but this model ({self.config.model_class}) does not "
                    "take it; use an upsample/inpaint model or drop the argument"
                )
        return x

    # ----- forward -----
    def forward(
        self,
        x: torch.Tensor,
        timesteps: torch.Tensor,
        tokens: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
        *,
        text: TextEncoding | None = None,
        low_res: torch.Tensor | None = None,
        inpaint_image: torch.Tensor | None = None,
        inpaint_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Predict eps and the variance value for a noisy batch.

        ``x``: [N, 3, H, W] noisy images x_t; ``timesteps``: [N] int64 indices into the
        ORIGINAL 1000-step schedule (a scalar is broadcast); ``tokens``/``mask``: [N, text_ctx]
        or ``text``: a :class:`TextEncoding` from :meth:`encode_text`. Returns [N, 6, H, W] in
        ``x``'s dtype (computed in the model's dtype).
        """
        cfg = self.config
        if x.ndim != 4 or x.shape[1] != 3:
            raise GlideError(f"x must be [N, 3, H, W] noisy images, got shape {tuple(x.shape)}")
        step = 2 ** (len(cfg.channel_mult) - 1)
        if x.shape[2] % step or x.shape[3] % step:
            raise GlideError(
                f"x has spatial size {tuple(x.shape[2:])}; height and width must be multiples "
                f"of {step} (the U-Net downsamples {len(cfg.channel_mult) - 1} times)"
            )
        n = x.shape[0]
        timesteps = torch.as_tensor(timesteps, device=x.device)
        if timesteps.ndim == 0:
            timesteps = timesteps.expand(n)
        if timesteps.shape != (n,):
            raise GlideError(f"timesteps must have shape [N]=[{n}], got {tuple(timesteps.shape)}")
        dtype, device = self.dtype, self.device
        h = self.prepare_input(x, low_res, inpaint_image, inpaint_mask)
        emb = self.time_embed(timestep_embedding(timesteps.to(device), cfg.model_channels, dtype))
        seq = None
        if cfg.xf_width:
            if text is None:
                if tokens is None:
                    raise GlideError(
                        "pass tokens= and mask= (from encode_batch; the empty caption is the "
                        "unconditional row) or text=model.encode_text(tokens, mask)"
                    )
                text = self.encode_text(tokens, mask)
            elif tokens is not None:
                raise GlideError("pass either tokens=/mask= or text=, not both")
            if text.proj.shape[0] != n:
                raise GlideError(
                    f"text encoding has {text.proj.shape[0]} rows but x has {n}; select rows "
                    "with enc[index] so they line up with x"
                )
            emb = emb + text.proj.to(emb.dtype)
            seq = text.seq.to(dtype)
        elif tokens is not None or text is not None:
            raise GlideError("this model has xf_width=0 (no text); drop tokens=/mask=/text=")
        out = self.run_trunk(h.to(device=device, dtype=dtype), emb, seq)
        return out.to(x.dtype)


def _resize_low_res(low_res: torch.Tensor | None, x: torch.Tensor) -> torch.Tensor:
    if low_res is None:
        raise GlideError(
            "low_res=None: the upsampler needs low_res=[N, 3, h, w] images in [-1, 1] "
            "(the 64x64 samples to upsample)"
        )
    if low_res.ndim != 4 or low_res.shape[:2] != (x.shape[0], 3):
        raise GlideError(
            f"low_res must be [N={x.shape[0]}, 3, h, w], got shape {tuple(low_res.shape)}"
        )
    low_res = low_res.to(x.dtype)
    return F.interpolate(low_res, size=x.shape[2:], mode="bilinear", align_corners=False)


def _inpaint_channels(
    x: torch.Tensor, image: torch.Tensor | None, mask: torch.Tensor | None
) -> list[torch.Tensor]:
    image = torch.zeros_like(x) if image is None else image.to(x.dtype)
    mask = torch.zeros_like(x[:, :1]) if mask is None else mask.to(x.dtype)
    if image.shape != x.shape:
        raise GlideError(
            f"inpaint_image must match x's shape {tuple(x.shape)}, got {tuple(image.shape)}"
        )
    if mask.shape != (x.shape[0], 1, *x.shape[2:]):
        raise GlideError(
            f"inpaint_mask must be [N, 1, H, W] = {(x.shape[0], 1, *x.shape[2:])} (1 = keep), "
            f"got {tuple(mask.shape)}"
        )
    return [image * mask, mask]


class SuperResText2ImUNet(Text2ImUNet):
    """64->256 upsampler: ``x_t`` concatenated with the bilinearly resized ``low_res``."""

    def prepare_input(self, x, low_res, inpaint_image, inpaint_mask):  # noqa: D102
        super().prepare_input(x, None, inpaint_image, inpaint_mask)
        return torch.cat([x, _resize_low_res(low_res, x)], dim=1)


class InpaintText2ImUNet(Text2ImUNet):
    """Inpainting base model: ``[x_t, image * mask, mask]``."""

    def prepare_input(self, x, low_res, inpaint_image, inpaint_mask):  # noqa: D102
        super().prepare_input(x, low_res, None, None)
        return torch.cat([x, *_inpaint_channels(x, inpaint_image, inpaint_mask)], dim=1)


class SuperResInpaintText2ImUNet(Text2ImUNet):
    """Inpainting upsampler: ``[x_t, image * mask, mask, resized low_res]``."""

    def prepare_input(self, x, low_res, inpaint_image, inpaint_mask):  # noqa: D102
        extra = _inpaint_channels(x, inpaint_image, inpaint_mask)
        return torch.cat([x, *extra, _resize_low_res(low_res, x)], dim=1)


_CLASSES: dict[tuple[bool, bool], type[Text2ImUNet]] = {
    (False, False): Text2ImUNet,
    (True, False): SuperResText2ImUNet,
    (False, True): InpaintText2ImUNet,
    (True, True): SuperResInpaintText2ImUNet,
}


def model_class_for(config: UNetConfig) -> type[Text2ImUNet]:
    return _CLASSES[(config.super_res, config.inpaint)]


def resolve_config(spec: str | Mapping[str, Any] | UNetConfig) -> UNetConfig:
    """A preset name, a reference-style options dict, or a UNetConfig -> UNetConfig."""
    if isinstance(spec, UNetConfig):
        return spec
    if isinstance(spec, str):
        return UNetConfig.preset(spec)
    if isinstance(spec, Mapping):
        return UNetConfig.from_options(spec)
    raise GlideError(
        f"model spec {spec!r} is invalid: pass a preset name ('base', 'upsample', "
        "'base-inpaint', 'upsample-inpaint'), an options dict, or a UNetConfig"
    )


def build_model(
    spec: str | Mapping[str, Any] | UNetConfig,
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> Text2ImUNet:
    """Build a GLIDE U-Net (randomly initialised, in eval mode).

    ``spec``: preset name, reference-style options dict (a manifest's ``options``), or
    :class:`UNetConfig`. ``device="meta"`` builds without allocating memory (for checking key
    names and shapes of the full-size models). ``dtype`` defaults to float32.
    """
    config = resolve_config(spec)
    cls = model_class_for(config)
    with torch.device(device if device is not None else "cpu"):
        model = cls(config)
    if dtype is not None:
        model = model.to(dtype)
    return model.eval()
