"""The diffusion-training task shared by the text2im, inpaint and upsample recipes.

Per step (GLIDE sec. 2 and 4; Nichol & Dhariwal 2021): draw examples, drop each caption with
probability ``uncond_prob`` (classifier-free guidance training, GLIDE sec. 2.3: the empty
caption is the unconditional row), draw t uniformly in [0, T) and eps ~ N(0, I), and minimise
the hybrid objective ``L_simple + lambda * L_vlb`` (``GaussianDiffusion.training_losses``).
The recipes differ only in the extra inputs they build from the clean images (low-res image,
inpainting image and mask).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from glide.errors import GlideError
from glide.train.data import CaptionedImages, to_model_range
from glide.train.loop import StepContext, Task

__all__ = ["ExtraInputs", "drop_captions", "flat_colour_warning", "make_diffusion_task"]

# (clean images x0 [n,3,S,S] in [-1,1] on device, ctx) -> extra model kwargs
ExtraInputs = Callable[[torch.Tensor, StepContext], dict[str, torch.Tensor]]


def drop_captions(captions: list[str], drop: torch.Tensor) -> list[str]:
    """Replace ``captions[i]`` by the empty caption where ``drop[i]`` (bool [n])."""
    return ["" if bool(d) else c for c, d in zip(captions, drop, strict=True)]


def flat_colour_warning(cfg: Any) -> str | None:
    """A warning when the U-Net's first level has one channel per GroupNorm group, else None.

    GroupNorm has 32 groups in the official architecture; at a level width of 32 every group
    holds a single channel, so each normalisation removes every channel's spatial mean. A flat
    colour (a constant shift of a channel of x_t) then reaches the output only through the
    decoder's concatenations and the zero padding at the borders: measured on the 32-channel
    embedded base, d mean(eps_c) / d mean(x_c) at t = 999 is 0.01 where 1.0 is right, against
    0.3-0.45 after 50 steps at width 64. Sampling then turns the random channel means of x_T
    into saturated background colours that the model cannot see to correct.
    """
    from glide.config import GROUPNORM_GROUPS

    top = cfg.level_channels[0]
    if top // GROUPNORM_GROUPS >= 2:
        return None
    return (
        f"warning: the first U-Net level is {top} channels wide, one channel per GroupNorm group "
        f"({GROUPNORM_GROUPS} groups): the model cannot see flat colours (per-channel means) and "
        f"its samples' background colours drift; use num_channels >= {2 * GROUPNORM_GROUPS} "
        f"(e.g. --set num_channels={2 * GROUPNORM_GROUPS})"
    )


def make_diffusion_task(
    name: str,
    model: nn.Module,
    data: CaptionedImages,
    *,
    uncond_prob: float,
    export_name: str,
    t_high_frac: float = 0.0,
    t_high_from: int = 900,
    high_t_weight: float = 1.0,
    export_dtype: str,
    recipe_config: dict[str, Any],
    extra_inputs: ExtraInputs | None = None,
    transform: Callable[[torch.Tensor, StepContext], torch.Tensor] | None = None,
    image_size: int | None = None,
) -> Task:
    """A :class:`Task` training a GLIDE U-Net with the hybrid diffusion loss.

    t is uniform on [0, T) (the paper). ``t_high_frac`` > 0 redraws that fraction of each
    batch's t uniformly from [``t_high_from``, T): on small flat-coloured images the caption
    only decides the picture at the last few percent of the noise levels (the background is
    visible through the noise until alpha_bar ~ 1e-4), so uniform t spends almost no updates
    where the text matters. ``high_t_weight`` W > 1 multiplies the eps MSE of each example by
    ``clip((1 - alpha_bar_t) / alpha_bar_t, 1, W)`` (1/SNR, truncated): the eps loss shrinks an
    error of the predicted x0 by SNR, so near t = T the caption's effect is otherwise below
    the loss's resolution. Both default to the paper's plain objective.

    ``transform(x0, ctx)`` (e.g. random crops) maps the clean images before noising; it must
    return [n, 3, image_size, image_size] (``image_size`` defaults to the model's).
    """
    from glide.diffusion import create_diffusion
    from glide.tokenizer import get_glide_tokenizer
    from glide.train.export import export_weights

    cfg = model.config
    diffusion = create_diffusion(steps=cfg.diffusion_steps, noise_schedule=cfg.noise_schedule)
    tokenizer = get_glide_tokenizer()
    size = image_size or cfg.image_size

    if t_high_frac > 0.0 and not 0 <= t_high_from < cfg.diffusion_steps:
        raise GlideError(
            f"--t-high-from {t_high_from!r} must be a timestep in [0, {cfg.diffusion_steps}) "
            f"of this model's {cfg.diffusion_steps}-step diffusion"
        )
    snr_inv = torch.from_numpy((1.0 - diffusion.alphas_cumprod) / diffusion.alphas_cumprod)
    mse_weight = snr_inv.clamp(1.0, max(1.0, high_t_weight)).float()

    def losses(wrapped: nn.Module, ctx: StepContext) -> dict[str, torch.Tensor]:
        d = ctx.draws
        _, idx = d.indices(len(ctx.data))
        drop = d.rand() < uncond_prob
        t = d.randint(cfg.diffusion_steps)
        noise = d.randn(3, size, size)
        if t_high_frac > 0.0:  # extra draws only when asked: uniform runs stay reproducible
            t_high = t_high_from + d.randint(cfg.diffusion_steps - t_high_from)
            t = torch.where(d.rand() < t_high_frac, t_high, t)
        images, captions = ctx.data.batch(idx)
        x0 = to_model_range(images, ctx.device)
        if transform is not None:
            x0 = transform(x0, ctx)
        kwargs: dict[str, Any] = {}
        if cfg.xf_width:
            tokens, mask = tokenizer.encode_batch(drop_captions(captions, drop), cfg.text_ctx)
            kwargs.update(tokens=tokens.to(ctx.device), mask=mask.to(ctx.device))
        if extra_inputs is not None:
            kwargs.update(extra_inputs(x0, ctx))
        out = diffusion.training_losses(
            wrapped, x0, t.to(ctx.device), noise=noise.to(ctx.device), model_kwargs=kwargs
        )
        out = {k: v for k, v in out.items() if k in ("loss", "mse", "vb")}
        if high_t_weight > 1.0:
            w = mse_weight.to(out["mse"].device)[t.to(out["mse"].device)]
            out["loss"] = out["loss"] + (w - 1.0) * out["mse"]
        return out

    def export(ema: nn.Module, folder: Path) -> list[Path]:
        return export_weights(
            folder, {export_name: ema}, {export_name: ema.config.to_options()}, dtype=export_dtype
        )

    return Task(
        name=name,
        module=model,
        data=data,
        losses=losses,
        export=export,
        recipe_config=recipe_config,
    )
