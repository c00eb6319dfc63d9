"""Guidance as wrappers around a denoiser ``fn(x_t, t, **cond) -> [N, 2C, H, W]``.

- :func:`classifier_free`: GLIDE sec. 2.3 / eq. 6. The conditional and the unconditional
  (empty caption) branches see the same x_t and t, in the reference's batch layout
  [cond rows; uncond rows]; eps = eps_uncond + s (eps_cond - eps_uncond); the variance channels
  are not guided (the conditional rows' own values are returned). s = 1 runs only the
  conditional branch and returns it unchanged.
- :class:`GuidanceInterval`: guidance applied only in a limited range of noise levels
  (Kynkaanniemi et al. 2024, "Applying Guidance in a Limited Interval Improves Sample and
  Distribution Quality in Diffusion Models"). The interval is in noise-level terms, independent
  of the sampler and its respacing: sigma(t) = sqrt((1 - abar_t) / abar_t) of the ORIGINAL
  timestep t (the one the denoiser receives) of the model's own, unrespaced schedule; guidance
  acts where ``low <= sigma(t) <= high`` (closed at both ends). Outside it the classifier-free
  wrapper runs the conditional rows only (the unconditional half of the batch is not evaluated)
  and returns them as they are (guidance scale 1 there); CLIP guidance adds no gradient and does
  not evaluate the CLIP. :func:`network_evaluations` counts the cost.
- :func:`clip_guidance`: GLIDE sec. 2.4 / eq. 4: a ``cond_fn`` returning
  s * grad_x (exp(logit_scale) <f(x_t, t), g(c)>) with the noised CLIP; the samplers add it to
  the mean via Sigma (ancestral) or to the score (DDIM). g(c) is computed once, here.
- :func:`inpaint_denoised_fn`: GLIDE sec. 3.3 sampling for inpainting: after each x_0
  prediction the known region is replaced by the source image, so the final sample equals the
  source there exactly.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from glide.errors import GlideError
from glide.sampling import Denoiser

__all__ = [
    "GuidanceInterval",
    "check_inpaint_inputs",
    "classifier_free",
    "clip_guidance",
    "guided_steps",
    "inpaint_denoised_fn",
    "network_evaluations",
    "noise_levels",
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


def noise_levels(alphas_cumprod: Sequence[float] | np.ndarray) -> np.ndarray:
    """sigma_t = sqrt((1 - abar_t) / abar_t) (float64 [T]) of every timestep of a schedule."""
    abar = np.asarray(alphas_cumprod, dtype=np.float64)
    return np.sqrt((1.0 - abar) / abar)


@dataclass(frozen=True)
class GuidanceInterval:
    """Guide only where ``low <= sigma(t) <= high`` (module docstring: sigma of the ORIGINAL
    timestep t of the model's unrespaced schedule). ``low`` >= 0 and ``high`` > ``low``, both
    finite; ``GuidanceInterval(0, sigma_max)`` (or any ``high`` >= the schedule's largest
    sigma) guides at every step, exactly as no interval."""

    low: float
    high: float

    def __post_init__(self) -> None:
        for name in ("low", "high"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise GlideError(
                    f"guidance interval {name}={value!r} is invalid: expected a number "
                    "(a noise level sigma = sqrt((1 - abar_t) / abar_t), e.g. 0.28)"
                )
            object.__setattr__(self, name, float(value))
        if not (math.isfinite(self.low) and math.isfinite(self.high)):
            raise GlideError(
                f"guidance interval [{self.low}, {self.high}] is invalid: give finite noise "
                "levels (a high above the schedule's largest sigma guides up to x_T)"
            )
        if not 0.0 <= self.low < self.high:
            raise GlideError(
                f"guidance interval [{self.low:g}, {self.high:g}] is invalid: expected "
                "0 <= low < high in noise levels sigma, e.g. 0.28,5.42"
            )

    @classmethod
    def parse(cls, text: str, option: str = "--guidance-interval") -> GuidanceInterval:
        """``"LO,HI"`` (noise levels sigma) -> an interval; errors name ``option``."""
        parts = str(text).split(",")
        try:
            low, high = (float(p) for p in parts)
        except ValueError:
            raise GlideError(
                f"{option}: {text!r} is not LO,HI; give two noise levels sigma = "
                "sqrt((1 - abar_t) / abar_t) separated by a comma, e.g. 0.28,5.42"
            ) from None
        try:
            return cls(low, high)
        except GlideError as err:
            raise GlideError(f"{option}: {err}") from None

    def text(self) -> str:
        """``"0.28,5.42"``: the interval as ``--guidance-interval`` takes it."""
        return f"{self.low:g},{self.high:g}"

    def timesteps(self, alphas_cumprod: Sequence[float] | np.ndarray) -> torch.Tensor:
        """Bool [T]: whether each original timestep of the schedule ``alphas_cumprod`` [T]
        (the model's, unrespaced) lies in the interval."""
        sigma = noise_levels(alphas_cumprod)
        return torch.from_numpy((sigma >= self.low) & (sigma <= self.high))


def _guided_rows(guide_at: torch.Tensor | None, t: torch.Tensor) -> torch.Tensor | None:
    """Bool [N]: rows whose timestep is inside the interval (None: every row)."""
    if guide_at is None:
        return None
    t_cpu = t.detach().to("cpu", torch.long)
    if t_cpu.numel() and (int(t_cpu.min()) < 0 or int(t_cpu.max()) >= guide_at.shape[0]):
        raise GlideError(
            f"timesteps {t_cpu.tolist()} are outside the guidance interval's schedule of "
            f"{guide_at.shape[0]} steps; build guide_at from the model's own schedule"
        )
    return guide_at[t_cpu].to(t.device)


def _check_guide_at(guide_at: Any) -> torch.Tensor | None:
    if guide_at is None:
        return None
    if not isinstance(guide_at, torch.Tensor) or guide_at.dtype != torch.bool or guide_at.ndim != 1:
        raise GlideError(
            "guide_at must be a bool tensor [T] over the model's original timesteps "
            "(GuidanceInterval.timesteps(alphas_cumprod)), or None to guide at every step"
        )
    return guide_at.detach().cpu()


def network_evaluations(
    timesteps: Sequence[int], *, guided: bool, guide_at: torch.Tensor | None = None
) -> int:
    """Denoiser rows one sample costs over the original ``timesteps`` of its steps: 2 at a
    classifier-free guided step inside the interval (conditional and unconditional rows), 1
    elsewhere (``guided=False``: the conditional model, or CLIP guidance, whose CLIP gradients
    are counted apart: :func:`guided_steps`)."""
    return len(timesteps) + (guided_steps(timesteps, guide_at) if guided else 0)


def guided_steps(timesteps: Sequence[int], guide_at: torch.Tensor | None = None) -> int:
    """How many of the original ``timesteps`` lie inside the interval (all of them without)."""
    if guide_at is None:
        return len(timesteps)
    return int(sum(bool(guide_at[int(t)]) for t in timesteps))


def classifier_free(
    denoiser: Denoiser, scale: float, guide_at: torch.Tensor | None = None
) -> Denoiser:
    """Classifier-free guidance at ``scale`` s around ``denoiser``.

    The returned ``guided(x_t [N,C,H,W], t [N], *, uncond: dict, **cond)`` runs ``denoiser``
    on 2N rows: ``cond`` for the first N, ``cond`` updated with ``uncond`` (the keyword
    arguments of the empty caption, e.g. ``{"text": empty_encoding}``, N rows) for the last N.
    Returns [N, 2C, H, W]: the guided eps and the conditional rows' variance values.

    ``guide_at``: bool [T] over the original timesteps, True where guidance acts
    (:meth:`GuidanceInterval.timesteps`); None guides everywhere. A call whose rows all lie
    outside runs ``denoiser`` on the N conditional rows only and returns its output as it is;
    all inside is the 2N-row call above, unchanged. (Rows at timesteps on both sides, which
    no sampler makes, run all 2N rows and keep the conditional output outside.)
    """
    s = _check_scale(scale)
    guide_at = _check_guide_at(guide_at)

    def guided(x: torch.Tensor, t: torch.Tensor, *, uncond: Mapping[str, Any], **cond: Any):
        if s == 1.0:
            return denoiser(x, t, **cond)
        inside = _guided_rows(guide_at, t)
        if inside is not None and not bool(inside.any()):
            return denoiser(x, t, **cond)  # outside the interval: no unconditional rows
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
        out = torch.cat([eps, rest], dim=1)
        if inside is not None and not bool(inside.all()):
            out = torch.where(inside.view(-1, 1, 1, 1), out, cond_out)
        return out

    return guided


def clip_guidance(
    clip: Any,
    text: Sequence[str] | torch.Tensor,
    scale: float,
    guide_at: torch.Tensor | None = None,
) -> Callable[..., torch.Tensor]:
    """A ``cond_fn(x_t [N,3,S,S], t [N], **_) -> [N,3,S,S]`` for the samplers (GLIDE eq. 4).

    ``clip``: a noised CLIP (``image_embeddings(x_t, t)``, ``logit_scale``); ``text``: the
    captions (encoded once, now) or their embeddings g(c) [N, D]. The gradient of
    exp(logit_scale) * sum_i <f(x_t,i, t_i), g(c_i)> is taken row by row (rows do not interact).
    ``guide_at``: as :func:`classifier_free`; at a step outside the interval the CLIP is not
    run and the gradient is zero (the samplers add nothing).
    """
    s = _check_scale(scale)
    guide_at = _check_guide_at(guide_at)
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
        inside = _guided_rows(guide_at, t)
        if inside is not None and not bool(inside.any()):
            return torch.zeros_like(x)  # outside the interval: no CLIP evaluation
        with torch.enable_grad():
            x_var = x.detach().requires_grad_(True)
            z_image = clip.image_embeddings(x_var, t)
            energy = logit_scale * (z_image * z_text.to(z_image.dtype)).sum()
            (grad,) = torch.autograd.grad(energy, x_var)
        grad = grad.detach() * s
        if inside is not None and not bool(inside.all()):
            grad = torch.where(inside.view(-1, 1, 1, 1), grad, torch.zeros_like(grad))
        return grad

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
