"""Captions -> images: the GLIDE base model, then optionally the 64 -> 256 upsampler.

As in the released GLIDE notebooks (Nichol et al. 2021, sec. 4): the base model samples at 64x64
with classifier-free guidance (or CLIP guidance, or none); its output is quantised to 8 bits and
given to the upsampler as ``low_res`` (resized bilinearly inside the model), whose initial noise
is scaled by ``upsample_temp`` (0.997) and which is sampled with DDIM over "fast27" steps,
conditioned on the caption, unguided (any registered sampler may replace DDIM:
``upsample_sampler``). ``guidance_interval`` limits guidance to a range of noise levels
(:class:`glide.guidance.GuidanceInterval`: sigma of the base model's original timesteps); outside
it a step costs one network row per sample instead of two. :func:`evaluations_per_image` counts
the cost of a setting (network rows and CLIP gradients per sample). Inpainting uses the
inpainting variants of both models and replaces the known region of every x_0 prediction by
the source image.

Sample ``i`` draws all of its randomness from ``torch.Generator().manual_seed(seeds[i])`` (x_T
of the base model, one draw per step, then the upsampler's x_T and steps), so it depends only on
``(captions[i], seeds[i], settings)``, not on its batch-mates.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from glide.diffusion import create_diffusion
from glide.errors import GlideError
from glide.guidance import (
    GuidanceInterval,
    check_inpaint_inputs,
    classifier_free,
    clip_guidance,
    guided_steps,
    inpaint_denoised_fn,
    network_evaluations,
)
from glide.io import sha256_file
from glide.samplers import SAMPLERS, get_sampler  # SAMPLERS: re-exported
from glide.sampling import randn_rows
from glide.schedule import get_named_beta_schedule, space_timesteps
from glide.tokenizer import get_glide_tokenizer

__all__ = [
    "GUIDANCE",
    "OFFICIAL",
    "SAMPLERS",
    "PipelineOutput",
    "Text2ImPipeline",
    "evaluations_per_image",
    "guidance_timesteps",
    "to_uint8",
]

GUIDANCE = ("cfg", "clip", "none")
OFFICIAL = "official"  # checkpoints_dir value: OpenAI's released files (download cache)


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """[N, 3, H, W] in [-1, 1] -> uint8 [N, H, W, 3] (round to nearest, as the reference)."""
    scaled = ((x.float() + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)
    return scaled.permute(0, 2, 3, 1).cpu().numpy()


def quantize(x: torch.Tensor) -> torch.Tensor:
    """The 8-bit version of x in [-1, 1] (the upsampler's ``low_res`` input)."""
    return ((x + 1) * 127.5).round().clamp(0, 255) / 127.5 - 1


def resize_inpaint_inputs(
    image: np.ndarray, keep: np.ndarray, size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 image [N, H, W, 3] and keep-mask [N, H, W] (1 = keep) -> tensors at ``size``:
    image [N, 3, size, size] in [-1, 1] (bicubic, as the notebooks), mask [N, 1, size, size]
    (nearest)."""
    from PIL import Image

    image, keep = np.asarray(image), np.asarray(keep)
    if image.ndim != 4 or image.shape[-1] != 3 or image.dtype != np.uint8:
        raise GlideError(
            f"inpaint_image must be uint8 [N, H, W, 3], got {image.dtype} {image.shape}"
        )
    if keep.shape != image.shape[:3]:
        raise GlideError(
            f"inpaint_mask must be [N, H, W] = {image.shape[:3]} (1 = keep, 0 = generate), got "
            f"{keep.shape}"
        )
    images, masks = [], []
    for img, m in zip(image, keep, strict=True):
        pil = Image.fromarray(img)
        mask = Image.fromarray((np.asarray(m, dtype=np.float32) > 0.5).astype(np.uint8) * 255)
        if pil.size != (size, size):
            pil = pil.resize((size, size), resample=Image.BICUBIC)
            mask = mask.resize((size, size), resample=Image.NEAREST)
        images.append(np.asarray(pil))
        masks.append(np.asarray(mask) > 127)
    x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 127.5 - 1
    return x, torch.from_numpy(np.stack(masks))[:, None].float()


@dataclass
class PipelineOutput:
    """Float samples in [-1, 1]: ``base`` [N, 3, 64, 64], ``upsampled`` [N, 3, 256, 256]."""

    base: torch.Tensor
    upsampled: torch.Tensor | None = None

    @property
    def final(self) -> torch.Tensor:
        return self.base if self.upsampled is None else self.upsampled


def _state_sha256(model: nn.Module) -> str:
    digest = hashlib.sha256()
    for key, value in model.state_dict().items():
        digest.update(key.encode())
        digest.update(value.detach().float().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def _as_interval(interval: Any) -> GuidanceInterval | None:
    if interval is None or isinstance(interval, GuidanceInterval):
        return interval
    if isinstance(interval, str):
        return GuidanceInterval.parse(interval, "guidance_interval")
    try:
        low, high = interval
    except (TypeError, ValueError):
        raise GlideError(
            f"guidance_interval={interval!r} is invalid: give (low, high) noise levels, a "
            "glide.guidance.GuidanceInterval, or None for guidance at every step"
        ) from None
    return GuidanceInterval(low, high)


def guidance_timesteps(
    diffusion_steps: int, noise_schedule: str, interval: Any
) -> torch.Tensor | None:
    """Bool [T] over a model's original timesteps: inside ``interval`` (None: no interval)."""
    interval = _as_interval(interval)
    if interval is None:
        return None
    abar = np.cumprod(1.0 - get_named_beta_schedule(noise_schedule, diffusion_steps))
    return interval.timesteps(abar)


def _check_respacing(cfg: Any, respacing: str, argument: str) -> None:
    """A GlideError naming ``argument`` when ``respacing`` cannot respace this model's steps."""
    try:
        space_timesteps(cfg.diffusion_steps, respacing)
    except GlideError as err:
        raise GlideError(
            f"{argument}={respacing!r} for the {cfg.model_class} ({cfg.diffusion_steps} "
            f"training steps): {err}"
        ) from None


def evaluations_per_image(
    base: Mapping[str, Any],
    upsample: Mapping[str, Any] | None = None,
    *,
    guidance: str = "cfg",
    scale: float = 3.0,
    steps: str = "100",
    guidance_interval: Any = None,
    upsample_steps: str = "fast27",
) -> dict[str, int]:
    """What one sample of :meth:`Text2ImPipeline.generate` costs, counted from the settings:
    ``base`` / ``upsample`` network rows (U-Net evaluations: 2 per classifier-free guided step
    inside the interval, 1 otherwise), ``unet`` their sum, and ``clip_gradients`` (noised-CLIP
    forward and backward passes of CLIP guidance, one per step inside the interval). ``base``
    and ``upsample`` are the models' options (``diffusion_steps``, ``noise_schedule``);
    ``upsample`` None: 64x64 only. The caption encodings (once per sample) are not counted."""
    _choice("guidance", guidance, GUIDANCE)

    def timesteps(options: Mapping[str, Any], respacing: str) -> list[int]:
        d = create_diffusion(int(options["diffusion_steps"]), options["noise_schedule"], respacing)
        return [int(t) for t in d.timestep_map]

    guide_at = guidance_timesteps(
        int(base["diffusion_steps"]), base["noise_schedule"], guidance_interval
    )
    base_t = timesteps(base, steps)
    cfg = guidance == "cfg" and float(scale) != 1.0
    out = {
        "base": network_evaluations(base_t, guided=cfg, guide_at=guide_at),
        "upsample": 0 if upsample is None else len(timesteps(upsample, upsample_steps)),
        "clip_gradients": guided_steps(base_t, guide_at) if guidance == "clip" else 0,
    }
    out["unet"] = out["base"] + out["upsample"]
    return out


def _choice(name: str, value: Any, allowed: Sequence[str]) -> str:
    if value not in allowed:
        raise GlideError(f"{name}={value!r} is invalid; choose one of {list(allowed)}")
    return value


class Text2ImPipeline:
    """GLIDE text-to-image (and inpainting) sampling; see the module docstring."""

    def __init__(
        self,
        base: nn.Module,
        *,
        upsampler: nn.Module | None = None,
        clip: nn.Module | None = None,
        checkpoints_dir: str | Path | None = None,
    ) -> None:
        if base.config.super_res:
            raise GlideError("base must be a 64x64 base model, got an upsampler")
        if upsampler is not None and not upsampler.config.super_res:
            raise GlideError("upsampler must be a super-resolution model (super_res=True)")
        if upsampler is not None and upsampler.config.inpaint != base.config.inpaint:
            raise GlideError("base and upsampler must both be inpainting models, or neither")
        self.base, self.upsampler, self.clip = base, upsampler, clip
        self.checkpoints_dir = checkpoints_dir
        self.tokenizer = get_glide_tokenizer()
        self._description: dict[str, Any] | None = None
        self.fast_path: Any = None  # a glide.fast.FastPath once use_fast_path() was called

    @classmethod
    def from_checkpoints(
        cls,
        checkpoints_dir: str | Path | None = None,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
        upsample: bool = False,
        clip: bool = False,
        inpaint: bool = False,
        progress: bool = True,
    ) -> Text2ImPipeline:
        """Load the models. ``checkpoints_dir``: None = the embedded default, ``"official"`` =
        OpenAI's released files (downloaded once to the cache), or a folder of ``.pt`` files
        with official names (and ``glide_options.json`` for non-official sizes)."""
        from glide.checkpoints import load_checkpoint, load_clip
        from glide.embedded import embedded_checkpoints_dir

        if checkpoints_dir is None:
            folder: Path | None = embedded_checkpoints_dir()
        elif str(checkpoints_dir) == OFFICIAL:
            folder = None
        else:
            folder = Path(checkpoints_dir)
        suffix = "-inpaint" if inpaint else ""
        kw = dict(checkpoints_dir=folder, device=device, dtype=dtype, progress=progress)
        base = load_checkpoint("base" + suffix, **kw)
        up = load_checkpoint("upsample" + suffix, **kw) if upsample else None
        noised_clip = load_clip(**kw) if clip else None
        return cls(base, upsampler=up, clip=noised_clip, checkpoints_dir=folder or OFFICIAL)

    def use_fast_path(self, fast: Any) -> Text2ImPipeline:
        """Run the U-Nets on the inference fast path (a :class:`glide.fast.FastPath`: dtype,
        attention kernel, channels-last, compile); recorded in :meth:`describe`. The noised
        CLIP is left as loaded. Returns ``self``."""
        from glide.fast import apply_fast_path

        self.base = apply_fast_path(self.base, fast)
        if self.upsampler is not None:
            self.upsampler = apply_fast_path(self.upsampler, fast)
        self.fast_path = fast
        self._description = None
        return self

    def describe(self) -> dict[str, Any]:
        """Checkpoint names, files, sha256 and options: for run metadata."""
        if self._description is not None:
            return self._description

        def unet(model: nn.Module) -> dict[str, Any]:
            path = getattr(model, "checkpoint_path", None)
            return {
                "class": model.config.model_class,
                "file": str(path) if path else None,
                "sha256": sha256_file(path) if path else None,
                "state_dict_sha256": None if path else _state_sha256(model),
                "options": model.config.to_options(),
                "dtype": str(next(model.parameters()).dtype).removeprefix("torch."),
            }

        out: dict[str, Any] = {
            "checkpoints_dir": str(self.checkpoints_dir),
            "base": unet(self.base),
        }
        if self.upsampler is not None:
            out["upsample"] = unet(self.upsampler)
        if self.fast_path is not None:
            out["fast_path"] = self.fast_path.describe()
        if self.clip is not None:
            paths = getattr(self.clip, "checkpoint_paths", {})
            out["clip"] = {
                "files": {k: str(v) for k, v in paths.items()},
                "sha256": {k: sha256_file(v) for k, v in paths.items()},
                "state_dict_sha256": None if paths else _state_sha256(self.clip),
                "config": self.clip.config.to_yaml_dict(),
            }
        self._description = out
        return out

    # ----- sampling -----
    def _stage(
        self,
        model: nn.Module,
        captions: list[str],
        generators: list[torch.Generator],
        *,
        steps: str,
        sampler: str,
        eta: float,
        guidance: str,
        scale: float,
        noise: torch.Tensor | None,
        extra: Mapping[str, Any],
        denoised_fn: Any,
        progress: bool,
        interval: GuidanceInterval | None = None,
    ) -> torch.Tensor:
        cfg = model.config
        guide_at = guidance_timesteps(cfg.diffusion_steps, cfg.noise_schedule, interval)
        d = create_diffusion(cfg.diffusion_steps, cfg.noise_schedule, steps)
        n, device = len(captions), next(model.parameters()).device
        use_cfg = guidance == "cfg" and scale != 1.0
        tokens, mask = self.tokenizer.encode_batch(
            captions + ([""] if use_cfg else []), cfg.text_ctx
        )
        with torch.no_grad():
            enc = model.encode_text(tokens.to(device), mask.to(device))  # once per sample
        cond: dict[str, Any] = {"text": enc[:n], **extra}
        denoiser = model
        if use_cfg:
            denoiser = classifier_free(model, scale, guide_at)
            cond["uncond"] = {"text": enc[torch.full((n,), n, dtype=torch.long)]}
        cond_fn = None
        if guidance == "clip":
            if self.clip is None:
                raise GlideError(
                    "guidance='clip' needs the noised CLIP: load with from_checkpoints(clip=True)"
                )
            if self.clip.config.image_size != cfg.image_size:
                raise GlideError(
                    f"the noised CLIP sees {self.clip.config.image_size}px images but the base "
                    f"model makes {cfg.image_size}px ones"
                )
            clip_noise = (self.clip.config.beta_schedule, self.clip.config.n_timesteps)
            if clip_noise != (cfg.noise_schedule, cfg.diffusion_steps):
                raise GlideError(
                    f"the noised CLIP was trained on noise schedule {clip_noise[0]!r} with "
                    f"{clip_noise[1]} steps but the base model uses {cfg.noise_schedule!r} with "
                    f"{cfg.diffusion_steps}: its gradients at timestep t would describe another "
                    "noise level; use a noised CLIP trained on the base model's schedule "
                    "(python -m glide.train.clip --set beta_schedule=...)"
                )
            cond_fn = clip_guidance(self.clip, captions, scale, guide_at)
        size = cfg.image_size
        run = get_sampler(sampler)
        kwargs = {"eta": eta} if run.takes_eta else {}
        return run.fn(
            denoiser, d, (n, 3, size, size), noise=noise, generators=generators, cond=cond,
            cond_fn=cond_fn, denoised_fn=denoised_fn, progress=progress, device=device, **kwargs,
        )  # fmt: skip

    def generate(
        self,
        captions: Sequence[str],
        seeds: Sequence[int],
        *,
        guidance: str = "cfg",
        scale: float = 3.0,
        sampler: str = "ancestral",
        steps: str = "100",
        eta: float = 0.0,
        guidance_interval: GuidanceInterval | tuple[float, float] | str | None = None,
        upsample: bool = False,
        upsample_steps: str = "fast27",
        upsample_sampler: str = "ddim",
        upsample_temp: float = 0.997,
        inpaint_image: np.ndarray | None = None,
        inpaint_mask: np.ndarray | None = None,
        progress: bool = False,
    ) -> PipelineOutput:
        """Sample; returns float images in [-1, 1] of both stages. Arguments as ``__call__``."""
        if isinstance(captions, str) or not all(isinstance(c, str) for c in captions):
            raise GlideError("captions must be a list of strings (one per sample)")
        captions = list(captions)
        if not captions or len(seeds) != len(captions):
            raise GlideError(
                f"got {len(captions)} captions and {len(seeds)} seeds; pass one seed per caption"
            )
        if not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) for s in seeds):
            raise GlideError(f"seeds must be integers, got {list(seeds)[:5]}")
        _choice("guidance", guidance, GUIDANCE)
        interval = _as_interval(guidance_interval)
        if interval is not None and guidance == "none":
            raise GlideError(
                f"guidance_interval={interval.text()!r} needs guidance 'cfg' or 'clip' (got "
                "'none', which guides at no step)"
            )
        get_sampler(sampler, "sampler")
        get_sampler(upsample_sampler, "upsample_sampler")
        if isinstance(scale, bool) or not isinstance(scale, (int, float)):
            raise GlideError(f"scale={scale!r} is invalid: expected a number such as 3.0")
        if not isinstance(upsample_temp, (int, float)) or not 0 < upsample_temp <= 2:
            raise GlideError(f"upsample_temp={upsample_temp!r} is invalid: expected (0, 2]")
        if upsample and self.upsampler is None:
            raise GlideError("upsample=True needs the upsampler: from_checkpoints(upsample=True)")
        # both respacings checked before any sampling, not after the base stage has run
        _check_respacing(self.base.config, steps, "steps")
        if upsample:
            _check_respacing(self.upsampler.config, upsample_steps, "upsample_steps")
        inpainting = self.base.config.inpaint
        if inpainting != (inpaint_image is not None) or (inpaint_image is None) != (
            inpaint_mask is None
        ):
            raise GlideError(
                "inpaint_image and inpaint_mask are required with an inpainting pipeline "
                "(from_checkpoints(inpaint=True)) and refused without one"
            )
        gens = [torch.Generator().manual_seed(int(s)) for s in seeds]
        n = len(captions)

        def inpaint_inputs(size: int, device: torch.device) -> tuple[dict[str, Any], Any]:
            if not inpainting:
                return {}, None
            image, mask = resize_inpaint_inputs(inpaint_image, inpaint_mask, size)
            image, mask = check_inpaint_inputs(
                image.to(device), mask.to(device), (n, 3, size, size)
            )
            return {"inpaint_image": image, "inpaint_mask": mask}, inpaint_denoised_fn(image, mask)

        device = next(self.base.parameters()).device
        extra, denoised_fn = inpaint_inputs(self.base.config.image_size, device)
        base = self._stage(
            self.base, captions, gens, steps=steps, sampler=sampler, eta=eta, guidance=guidance,
            scale=float(scale), noise=None, extra=extra, denoised_fn=denoised_fn,
            progress=progress, interval=interval,
        )  # fmt: skip
        if not upsample:
            return PipelineOutput(base)
        up_model = self.upsampler
        device = next(up_model.parameters()).device
        size = up_model.config.image_size
        extra, denoised_fn = inpaint_inputs(size, device)
        extra["low_res"] = quantize(base).to(device)
        noise = randn_rows((n, 3, size, size), gens, device=device) * upsample_temp
        up = self._stage(
            up_model, captions, gens, steps=upsample_steps, sampler=upsample_sampler, eta=0.0,
            guidance="none", scale=1.0, noise=noise, extra=extra, denoised_fn=denoised_fn,
            progress=progress,
        )  # fmt: skip
        return PipelineOutput(base, up)

    def __call__(
        self,
        captions: Sequence[str],
        seeds: Sequence[int],
        *,
        guidance: str = "cfg",
        scale: float = 3.0,
        sampler: str = "ancestral",
        steps: str = "100",
        eta: float = 0.0,
        guidance_interval: GuidanceInterval | tuple[float, float] | str | None = None,
        upsample: bool = False,
        upsample_steps: str = "fast27",
        upsample_sampler: str = "ddim",
        upsample_temp: float = 0.997,
        inpaint_image: np.ndarray | None = None,
        inpaint_mask: np.ndarray | None = None,
        progress: bool = False,
    ) -> np.ndarray:
        """uint8 images [N, H, W, 3] (64x64, or 256x256 with ``upsample``).

        ``guidance``: "cfg" (classifier-free, ``scale``), "clip" (noised CLIP, ``scale``) or
        "none" (the conditional model). ``sampler``: a name of ``glide.samplers.SAMPLERS``
        ("ancestral", "ddim", "dpm++2m", "dpm++2m-sde"). ``sampler``/``steps``/``eta``:
        base-model sampling (``steps`` is any respacing string: "100", "250", "ddim50",
        "fast27", ...; ``eta`` goes to the samplers that take it, DDIM). ``guidance_interval``:
        guide only at noise levels ``low <= sigma <= high`` of the base model's original
        timesteps ((low, high), "low,high" or a GuidanceInterval; None: every step). Upsampling:
        ``upsample_steps`` with ``upsample_sampler`` (DDIM), x_T scaled by ``upsample_temp``.
        Inpainting pipelines take ``inpaint_image`` uint8 [N, H, W, 3] and ``inpaint_mask``
        [N, H, W] (1 = keep the source pixel, 0 = generate), resized to each stage's size.
        """
        out = self.generate(
            captions, seeds, guidance=guidance, scale=scale, sampler=sampler, steps=steps,
            eta=eta, guidance_interval=guidance_interval, upsample=upsample,
            upsample_steps=upsample_steps, upsample_sampler=upsample_sampler,
            upsample_temp=upsample_temp, inpaint_image=inpaint_image, inpaint_mask=inpaint_mask,
            progress=progress,
        )  # fmt: skip
        return to_uint8(out.final)
