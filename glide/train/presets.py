"""Named model sizes for training, as reference-style options dicts.

``embedded-*`` are the sizes of the shipped embedded default (glide/assets/embedded): the
official architectures (same classes, flags and key layout) with small widths, chosen so the
base model learns the synthetic captions in about an hour and a half of a 2-core CPU (see its
MODEL_CARD.md). The base is 64 wide because GroupNorm has 32 groups: at width 32 each group
holds one channel and the model can neither see nor draw a flat colour. The base and the noised
CLIP use the linear noise schedule, whose last step amplifies the eps error 156x where the
cosine schedule's amplifies it 2e4x. ``tiny-*`` are for tests (seconds). The official full
sizes are available as ``base``, ``upsample``, ``base-inpaint`` and ``upsample-inpaint``
(``glide.config.UNetConfig.preset``) and ``clip``.
"""

from __future__ import annotations

from typing import Any

from glide.errors import GlideError

__all__ = ["CLIP_PRESETS", "UNET_PRESETS", "clip_options", "unet_options"]

_EMBEDDED_TEXT = {"text_ctx": 24, "xf_width": 64, "xf_layers": 2, "xf_heads": 2}
UNET_PRESETS: dict[str, dict[str, Any]] = {
    "embedded-base": {
        "image_size": 64,
        "num_channels": 64,
        "num_res_blocks": 1,
        "channel_mult": "1,1,2,2",
        "attention_resolutions": "16,8",
        "num_head_channels": 32,
        "dropout": 0.0,
        "noise_schedule": "linear",
        **_EMBEDDED_TEXT,
    },
    "embedded-upsample": {
        "image_size": 256,
        "num_channels": 32,
        "num_res_blocks": 1,
        "channel_mult": "1,1,1,2,2",
        "attention_resolutions": "16",
        "num_head_channels": 32,
        "dropout": 0.0,
        "noise_schedule": "linear",
        "super_res": True,
        "text_ctx": 24,
        "xf_width": 32,
        "xf_layers": 1,
        "xf_heads": 1,
    },
    "tiny-base": {
        "image_size": 16,
        "num_channels": 32,
        "num_res_blocks": 1,
        "channel_mult": "1,2",
        "attention_resolutions": "8",
        "num_head_channels": 32,
        "dropout": 0.0,
        "text_ctx": 20,
        "xf_width": 16,
        "xf_layers": 1,
        "xf_heads": 1,
        "diffusion_steps": 100,
    },
    "tiny-upsample": {
        "image_size": 32,
        "num_channels": 32,
        "num_res_blocks": 1,
        "channel_mult": "1,1",
        "attention_resolutions": "16",
        "num_head_channels": 32,
        "dropout": 0.0,
        "text_ctx": 20,
        "xf_width": 16,
        "xf_layers": 1,
        "xf_heads": 1,
        "diffusion_steps": 100,
        "noise_schedule": "linear",
        "super_res": True,
    },
}

CLIP_PRESETS: dict[str, dict[str, Any]] = {
    "embedded-clip": {
        "image_size": 64,
        "patch_size": 8,
        "n_vocab": 49408,
        "max_text_len": 77,
        "n_embd": 64,
        "n_head_text": 1,
        "n_head_state_text": 32,
        "n_xf_blocks_text": 3,
        "n_head_image": 2,
        "n_head_state_image": 32,
        "n_xf_blocks_image": 3,
        "beta_schedule": "linear",
    },
    "tiny-clip": {
        "image_size": 16,
        "patch_size": 4,
        "n_vocab": 49408,
        "max_text_len": 77,
        "n_embd": 16,
        "n_head_text": 1,
        "n_head_state_text": 16,
        "n_xf_blocks_text": 1,
        "n_head_image": 1,
        "n_head_state_image": 16,
        "n_xf_blocks_image": 1,
        "n_timesteps": 100,
    },
}


def unet_options(name: str) -> dict[str, Any]:
    """Options dict of a training preset or an official preset name."""
    from glide.config import UNetConfig

    if name in UNET_PRESETS:
        return dict(UNET_PRESETS[name])
    try:
        return UNetConfig.preset(name).to_options()
    except GlideError:
        raise GlideError(
            f"--model {name!r} is unknown; choose one of "
            f"{sorted(UNET_PRESETS) + ['base', 'upsample', 'base-inpaint', 'upsample-inpaint']}"
        ) from None


def clip_options(name: str) -> dict[str, Any]:
    """CLIP config dict (reference ``config.yaml`` keys) of a preset name."""
    from glide.config import CLIPConfig

    if name in CLIP_PRESETS:
        return dict(CLIP_PRESETS[name])
    if name == "clip":
        return CLIPConfig.preset("clip").to_yaml_dict()
    raise GlideError(
        f"--model {name!r} is unknown; choose one of {sorted(CLIP_PRESETS) + ['clip']}"
    )
