"""Guidance as wrappers around a denoiser ``fn(x_t, t, **cond) -> [N, 2C, H, W]``.

- :func:`classifier_free`: GLIDE sec. 2.3 / eq. 6. The conditional and the unconditional
  (empty caption) branches see the same x_t and t, in the reference's batch layout
  [cond rows; uncond rows]; eps = eps_uncond + s (eps_cond - eps_uncond); the variance channels
  are not guided (the conditional rows' own values are returned). s = 1 runs only the
  conditional branch and returns it unchanged.
- :func:`clip_guidance`: GLIDE sec. 2.4 / eq. 4: a ``cond_fn`` returning
  s * grad_x (exp(logit_scale) <f(x_t, t), g(c)>) with the noised CLIP; the samplers add it to
  the mean via Sigma (ancestral) or to the score (DDIM). g(c) is computed once, here.
- :func:`inpaint_denoised_fn`: GLIDE sec. 3.3 sampling for inpainting: after each x_0
  prediction the known region is replaced by the source image, so the final sample equals the
  source there exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch

from glide.errors import GlideError
from glide.sampling import Denoiser

__all__ = [
    "check_inpaint_inputs",
    "classifier_free",
    "clip_guidance",
    "inpaint_denoised_fn",
]


def _check_scale(scale: Any) -> float:
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or scale != scale:
        raise GlideError(f"scale={scale!r} is invalid: expected a number such as 3.0")
    return float(scale)


def _pair(cond: Any, uncond: Any) -> Any:
    """Stack the conditional and unconditional values of one keyword argument."""
    if cond is None and uncond is None:
        return None
    if isinstance(cond, torch.Tensor) and isinstance(uncond, torch.Tensor):
        return torch.cat([cond, uncond])
    if hasattr(type(cond), "cat") and type(cond) is type(uncond):  # e.g. TextEncoding
        return type(cond).cat([cond, uncond])
    raise GlideError(
        f"cannot batch {type(cond).__name__} with {type(uncond).__name__} for classifier-free "
        "guidance; pass tensors or TextEncodings with one row per sample"
    )


def classifier_free(denoiser: Denoiser, scale: float) -> Denoiser:
    """Classifier-free guidance at ``scale`` s around ``denoiser``.

    The returned ``guided(x_t [N,C,H,W], t [N], *, uncond: dict, **cond)`` runs ``denoiser``
    on 2N rows: ``cond`` for the first N, ``cond`` updated with ``uncond`` (the keyword
    arguments of the empty caption, e.g. ``{"text": empty_encoding}``, N rows) for the last N.
    Returns [N, 2C, H, W]: the guided eps and the conditional rows' variance values.
    """
    s = _check_scale(scale)

    def guided(x: torch.Tensor, t: torch.Tensor, *, uncond: Mapping[str, Any], **cond: Any):
        if s == 1.0:
            return denoiser(x, t, **cond)
        n, c = x.shape[:2]
        unknown = set(uncond) - set(cond)
        if unknown:
            raise GlideError(
                f"uncond has keys {sorted(unknown)} that the conditional branch lacks; uncond "
                "replaces conditional arguments (e.g. text=) for the empty-caption rows"
            )
        both = {k: _pair(v, uncond.get(k, v)) for k, v in cond.items()}
        out = denoiser(torch.cat([x, x]), torch.cat([t, t]), **both)
        cond_out, uncond_out = out[:n], out[n:]
        cond_eps, rest = cond_out[:, :c], cond_out[:, c:]
        uncond_eps = uncond_out[:, :c]
        eps = uncond_eps + s * (cond_eps - uncond_eps)
        return torch.cat([eps, rest], dim=1)

    return guided


def clip_guidance(
    clip: Any,
    text: Sequence[str] | torch.Tensor,
    scale: float,
) -> Callable[..., torch.Tensor]:
    """A ``cond_fn(x_t [N,3,S,S], t [N], **_) -> [N,3,S,S]`` for the samplers (GLIDE eq. 4).

    ``clip``: a noised CLIP (``image_embeddings(x_t, t)``, ``logit_scale``); ``text``: the
    captions (encoded once, now) or their embeddings g(c) [N, D]. The gradient of
    exp(logit_scale) * sum_i <f(x_t,i, t_i), g(c_i)> is taken row by row (rows do not interact).
    """
    s = _check_scale(scale)
    if isinstance(text, torch.Tensor):
        if text.ndim != 2:
            raise GlideError(f"text embeddings must be [N, D], got {tuple(text.shape)}")
        z_text = text.detach()
    else:
        if isinstance(text, str):
            raise GlideError("text must be a list of captions (one per sample), not one string")
        with torch.no_grad():
            z_text = clip.caption_embeddings(list(text)).detach()
    logit_scale = clip.logit_scale.detach().exp()

    def cond_fn(x: torch.Tensor, t: torch.Tensor, **_: Any) -> torch.Tensor:
        if x.shape[0] != z_text.shape[0]:
            raise GlideError(
                f"CLIP guidance got {x.shape[0]} images for {z_text.shape[0]} captions"
            )
        with torch.enable_grad():
            x_var = x.detach().requires_grad_(True)
            z_image = clip.image_embeddings(x_var, t)
            energy = logit_scale * (z_image * z_text.to(z_image.dtype)).sum()
            (grad,) = torch.autograd.grad(energy, x_var)
        return grad.detach() * s

    return cond_fn


def check_inpaint_inputs(
    image: torch.Tensor, mask: torch.Tensor, shape: Sequence[int] | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate an inpainting source ``image`` [N,3,H,W] in [-1,1] and ``mask`` [N,1,H,W]
    (1 = keep the source pixel, 0 = generate), optionally against a sample ``shape``."""
    if not isinstance(image, torch.Tensor) or image.ndim != 4 or image.shape[1] != 3:
        raise GlideError(
            f"inpaint image must be [N, 3, H, W] in [-1, 1], got "
            f"{tuple(getattr(image, 'shape', ()))}"
        )
    if shape is not None and tuple(image.shape) != tuple(shape):
        raise GlideError(
            f"inpaint image has shape {tuple(image.shape)} but the samples are {tuple(shape)}; "
            "resize the source image to the model's resolution"
        )
    want = (image.shape[0], 1, *image.shape[2:])
    if not isinstance(mask, torch.Tensor) or tuple(mask.shape) != want:
        raise GlideError(
            f"inpaint mask must have shape [N, 1, H, W] = {want} (1 = keep, 0 = generate), got "
            f"{tuple(getattr(mask, 'shape', ()))}"
        )
    if mask.numel() and (float(mask.min()) < 0 or float(mask.max()) > 1):
        raise GlideError(
            f"inpaint mask has values in [{float(mask.min())}, {float(mask.max())}]; "
            "expected [0, 1] (1 = keep)"
        )
    return image, mask


def inpaint_denoised_fn(
    image: torch.Tensor, mask: torch.Tensor
) -> Callable[[torch.Tensor], torch.Tensor]:
    """``x_0 -> x_0 * (1 - mask) + image * mask``: the known region is the source image."""
    image, mask = check_inpaint_inputs(image, mask)

    def denoised_fn(x0: torch.Tensor) -> torch.Tensor:
        if x0.shape != image.shape:
            raise GlideError(
                f"x_0 has shape {tuple(x0.shape)} but the inpaint image {tuple(image.shape)}"
            )
        m = mask.to(device=x0.device, dtype=x0.dtype)
        return x0 * (1 - m) + image.to(device=x0.device, dtype=x0.dtype) * m

    return denoised_fn
