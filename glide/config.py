"""Typed, frozen configurations of the GLIDE networks, with named presets.

- :class:`UNetConfig` describes every text-conditional U-Net of GLIDE (Nichol et al., 2021,
  sec. 4 and appendix): the 64x64 base model, the 64->256 upsampler and their inpainting
  variants. It converts to and from the reference's flat ``options`` dict (the ``options`` object
  of ``manifests/*.json``), so any size can be described either way.
- :class:`CLIPConfig` describes the noised CLIP (GLIDE sec. 2.4) and converts to and from the
  reference's ``config.yaml`` dict (the ``config_yaml`` object of the CLIP manifests).

Both validate on construction and raise :class:`glide.errors.GlideError` naming the field, the
bad value and the fix.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from glide.errors import GlideError

__all__ = ["CLIPConfig", "UNetConfig", "default_channel_mult"]

GROUPNORM_GROUPS = 32
NOISE_SCHEDULES = ("squaredcos_cap_v2", "linear")


def _require(ok: bool, name: str, value: Any, fix: str) -> None:
    if not ok:
        raise GlideError(f"{name}={value!r} is invalid: {fix}")


def _positive_int(name: str, value: Any) -> None:
    ok = isinstance(value, int) and not isinstance(value, bool) and value > 0
    _require(ok, name, value, "expected a positive integer")


def _int_tuple(name: str, value: Any) -> tuple[int, ...]:
    """Accept a reference-style comma string ("32,16,8", "" = empty) or a sequence of ints."""
    if isinstance(value, str):
        parts = [p.strip() for p in value.split(",") if p.strip()]
        try:
            return tuple(int(p) for p in parts)
        except ValueError:
            raise GlideError(
                f"{name}={value!r} is invalid: expected comma-separated integers such as '32,16,8'"
            ) from None
    if isinstance(value, (list, tuple)):
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            raise GlideError(f"{name}={value!r} is invalid: expected a sequence of integers")
        return tuple(value)
    raise GlideError(
        f"{name}={value!r} is invalid: expected a comma-separated string or a sequence of ints"
    )


def default_channel_mult(image_size: int) -> tuple[int, ...]:
    """The reference's channel multipliers for an empty ``channel_mult`` option."""
    table = {256: (1, 1, 2, 2, 4, 4), 128: (1, 1, 2, 3, 4), 64: (1, 2, 3, 4)}
    if image_size not in table:
        raise GlideError(
            f"channel_mult='' (default) is only defined for image_size in {sorted(table)}, "
            f"got image_size={image_size}; pass channel_mult explicitly, e.g. '1,1,2'"
        )
    return table[image_size]


# ---------------------------------------------------------------------------------------------
# U-Net
# ---------------------------------------------------------------------------------------------

# reference option name -> UNetConfig field name, where they differ
_OPTION_TO_FIELD = {"num_channels": "model_channels"}
_FIELD_TO_OPTION = {v: k for k, v in _OPTION_TO_FIELD.items()}


@dataclass(frozen=True)
class UNetConfig:
    """Architecture (and diffusion defaults) of a GLIDE text-conditional U-Net.

    Field names follow the reference, except ``model_channels`` (option ``num_channels``).
    ``channel_mult`` and ``attention_resolutions`` are tuples of ints; ``attention_resolutions``
    lists feature-map RESOLUTIONS (e.g. 32, 16, 8 for the base model) where self-attention (with
    the text tokens as extra keys) is applied. ``xf_width = 0`` builds a model without text.
    """

    image_size: int = 64
    model_channels: int = 192
    num_res_blocks: int = 3
    channel_mult: tuple[int, ...] = (1, 2, 3, 4)
    attention_resolutions: tuple[int, ...] = (32, 16, 8)
    num_heads: int = 1
    num_head_channels: int = 64
    num_heads_upsample: int = -1
    dropout: float = 0.1
    text_ctx: int = 128
    xf_width: int = 512
    xf_layers: int = 16
    xf_heads: int = 8
    xf_final_ln: bool = True
    xf_padding: bool = True
    n_vocab: int = 50257
    use_scale_shift_norm: bool = True
    resblock_updown: bool = True
    inpaint: bool = False
    super_res: bool = False
    diffusion_steps: int = 1000
    noise_schedule: str = "squaredcos_cap_v2"
    # Runtime flags of the reference kept only so options dicts round-trip; they do not change
    # the architecture and are ignored by equality. Choose precision with build_model(dtype=...).
    timestep_respacing: str = field(default="", compare=False)
    use_fp16: bool = field(default=False, compare=False)
    cache_text_emb: bool = field(default=False, compare=False)

    def __post_init__(self) -> None:
        # normalise sequences to tuples (lists from JSON) before freezing checks
        for name in ("channel_mult", "attention_resolutions"):
            object.__setattr__(self, name, _int_tuple(name, getattr(self, name)))
        for name in ("image_size", "model_channels", "num_res_blocks", "text_ctx", "n_vocab"):
            _positive_int(name, getattr(self, name))
        _positive_int("diffusion_steps", self.diffusion_steps)
        _require(
            len(self.channel_mult) > 0,
            "channel_mult",
            self.channel_mult,
            "give at least one multiplier, e.g. (1, 2, 3, 4)",
        )
        for m in self.channel_mult:
            _positive_int("channel_mult entry", m)
        levels = len(self.channel_mult)
        _require(
            self.image_size % 2 ** (levels - 1) == 0,
            "image_size",
            self.image_size,
            f"must be divisible by 2**(len(channel_mult)-1) = {2 ** (levels - 1)}",
        )
        for ch in self.level_channels:
            _require(
                ch % GROUPNORM_GROUPS == 0,
                "model_channels",
                self.model_channels,
                f"every level width model_channels*mult must be divisible by "
                f"{GROUPNORM_GROUPS} (GroupNorm groups); level width {ch} is not",
            )
        reachable = {self.image_size // 2**i for i in range(levels)}
        for res in self.attention_resolutions:
            _require(
                res in reachable,
                "attention_resolutions",
                self.attention_resolutions,
                f"each entry must be a feature-map resolution of the U-Net, one of "
                f"{sorted(reachable, reverse=True)}",
            )
        _require(
            self.num_head_channels == -1 or self.num_head_channels > 0,
            "num_head_channels",
            self.num_head_channels,
            "use -1 (then num_heads is used) or a positive channel count per head",
        )
        if self.num_head_channels == -1:
            _positive_int("num_heads", self.num_heads)
        for ds, ch in zip(self._level_rates(), self.level_channels, strict=True):
            if self.image_size // ds in self.attention_resolutions:
                if self.num_head_channels > 0:
                    _require(
                        ch % self.num_head_channels == 0,
                        "num_head_channels",
                        self.num_head_channels,
                        f"must divide the width {ch} of every attention level",
                    )
                else:
                    _require(
                        ch % self.num_heads == 0,
                        "num_heads",
                        self.num_heads,
                        f"must divide the width {ch} of every attention level",
                    )
        _require(
            self.num_heads_upsample == -1 or self.num_heads_upsample > 0,
            "num_heads_upsample",
            self.num_heads_upsample,
            "use -1 or a positive count",
        )
        _require(
            isinstance(self.dropout, (int, float)) and 0.0 <= self.dropout < 1.0,
            "dropout",
            self.dropout,
            "expected a probability in [0, 1)",
        )
        _require(
            isinstance(self.xf_width, int) and self.xf_width >= 0,
            "xf_width",
            self.xf_width,
            "expected a non-negative integer (0 = no text conditioning)",
        )
        if self.xf_width:
            _positive_int("xf_layers", self.xf_layers)
            _positive_int("xf_heads", self.xf_heads)
            _require(
                self.xf_width % self.xf_heads == 0,
                "xf_heads",
                self.xf_heads,
                f"must divide xf_width={self.xf_width}",
            )
        _require(
            self.noise_schedule in NOISE_SCHEDULES,
            "noise_schedule",
            self.noise_schedule,
            f"expected one of {list(NOISE_SCHEDULES)}",
        )
        _require(
            isinstance(self.timestep_respacing, str),
            "timestep_respacing",
            self.timestep_respacing,
            "expected a string such as '' or '100'",
        )

    # ----- derived values -----
    def _level_rates(self) -> list[int]:
        return [2**i for i in range(len(self.channel_mult))]

    @property
    def level_channels(self) -> tuple[int, ...]:
        """Width of each resolution level, ``model_channels * mult``."""
        return tuple(self.model_channels * m for m in self.channel_mult)

    @property
    def attention_downsample_rates(self) -> tuple[int, ...]:
        """``image_size // r`` for each attention resolution (base: 2, 4, 8)."""
        return tuple(self.image_size // r for r in self.attention_resolutions)

    @property
    def in_channels(self) -> int:
        """3 image channels, +3 for the low-res image (super_res), +4 image+mask (inpaint)."""
        return 3 + (3 if self.super_res else 0) + (4 if self.inpaint else 0)

    @property
    def out_channels(self) -> int:
        """6: eps (3 channels) and the learned-variance interpolation value v (3 channels)."""
        return 6

    @property
    def time_embed_dim(self) -> int:
        return 4 * self.model_channels

    @property
    def pad_token(self) -> int:
        return self.n_vocab - 1

    @property
    def model_class(self) -> str:
        """The reference's class name for this variant."""
        return {
            (False, False): "Text2ImUNet",
            (True, False): "SuperResText2ImUNet",
            (False, True): "InpaintText2ImUNet",
            (True, True): "SuperResInpaintText2ImUnet",
        }[(self.super_res, self.inpaint)]

    # ----- conversions -----
    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> UNetConfig:
        """Build from a reference-style options dict (e.g. a manifest's ``options``).

        Missing keys take the base model's defaults. ``channel_mult = ""`` means the reference
        default for the image size. Unknown keys are refused.
        """
        if isinstance(options, UNetConfig):
            return options
        if not isinstance(options, Mapping):
            raise GlideError(
                f"options={options!r} is invalid: expected a dict of reference-style options"
            )
        known = {_FIELD_TO_OPTION.get(f.name, f.name) for f in fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise GlideError(
                f"options has unknown key(s) {unknown}; allowed keys are {sorted(known)}"
            )
        kwargs = {_OPTION_TO_FIELD.get(k, k): v for k, v in options.items()}
        if kwargs.get("channel_mult", None) == "":
            size = kwargs.get("image_size", cls.image_size)
            kwargs["channel_mult"] = default_channel_mult(size)
        return cls(**kwargs)

    def to_options(self) -> dict[str, Any]:
        """The reference-style options dict; ``from_options(cfg.to_options()) == cfg``.

        ``n_vocab`` (not a reference option: the GPT-2 vocabulary is fixed there) is included
        only when it differs from 50257; ``channel_mult`` is always written explicitly.
        """
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "n_vocab" and value == f.default:
                continue
            if isinstance(value, tuple):
                value = ",".join(str(v) for v in value)
            out[_FIELD_TO_OPTION.get(f.name, f.name)] = value
        return out

    def replace(self, **changes: Any) -> UNetConfig:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def preset(cls, name: str) -> UNetConfig:
        """The official architectures: "base", "upsample", "base-inpaint", "upsample-inpaint"."""
        if name not in _UNET_PRESETS:
            raise GlideError(
                f"preset name={name!r} is unknown; choose one of {sorted(_UNET_PRESETS)}"
            )
        return _UNET_PRESETS[name]


_BASE = UNetConfig()
_UPSAMPLE = UNetConfig(
    image_size=256,
    num_res_blocks=2,
    channel_mult=(1, 1, 2, 2, 4, 4),
    noise_schedule="linear",
    super_res=True,
)
_UNET_PRESETS: dict[str, UNetConfig] = {
    "base": _BASE,
    "upsample": _UPSAMPLE,
    "base-inpaint": _BASE.replace(inpaint=True),
    "upsample-inpaint": _UPSAMPLE.replace(inpaint=True),
}


# ---------------------------------------------------------------------------------------------
# Noised CLIP
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CLIPConfig:
    """The noised CLIP of GLIDE (sec. 2.4): a ViT image encoder conditioned on the diffusion
    timestep, and a causal text transformer. Field names are the reference's ``config.yaml``."""

    logit_scale: float = 100.0
    beta_schedule: str = "squaredcos_cap_v2"
    n_timesteps: int = 1000
    image_size: int = 64
    patch_size: int = 4
    n_vocab: int = 65536
    max_text_len: int = 77
    n_embd: int = 512
    n_head_state_text: int = 64
    n_head_text: int = 8
    n_xf_blocks_text: int = 12
    n_head_state_image: int = 64
    n_head_image: int = 12
    n_xf_blocks_image: int = 12

    def __post_init__(self) -> None:
        for f in fields(self):
            if f.type in ("int", int):
                _positive_int(f.name, getattr(self, f.name))
        _require(
            isinstance(self.logit_scale, (int, float)) and self.logit_scale > 0,
            "logit_scale",
            self.logit_scale,
            "expected a positive number (100.0)",
        )
        _require(
            self.beta_schedule in NOISE_SCHEDULES,
            "beta_schedule",
            self.beta_schedule,
            f"expected one of {list(NOISE_SCHEDULES)}",
        )
        _require(
            self.image_size % self.patch_size == 0,
            "patch_size",
            self.patch_size,
            f"must divide image_size={self.image_size}",
        )

    @property
    def text_width(self) -> int:
        """Width of the text transformer, ``n_head_text * n_head_state_text`` (512)."""
        return self.n_head_text * self.n_head_state_text

    @property
    def image_width(self) -> int:
        """Width of the image transformer, ``n_head_image * n_head_state_image`` (768)."""
        return self.n_head_image * self.n_head_state_image

    @property
    def n_patches(self) -> int:
        return (self.image_size // self.patch_size) ** 2

    @property
    def image_context(self) -> int:
        """Image tokens: one timestep token plus the patches (257 for the official model)."""
        return 1 + self.n_patches

    @classmethod
    def from_yaml_dict(cls, config: Mapping[str, Any]) -> CLIPConfig:
        """Build from the reference's ``config.yaml`` dict (a CLIP manifest's ``config_yaml``).

        Missing keys take the official values. The reference's yaml may nest everything under a
        top-level ``"model"`` key; that form is accepted too. Unknown keys are refused.
        """
        if isinstance(config, CLIPConfig):
            return config
        if not isinstance(config, Mapping):
            raise GlideError(f"config={config!r} is invalid: expected a dict (config_yaml)")
        if set(config) == {"model"} and isinstance(config["model"], Mapping):
            config = config["model"]
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(config) - known)
        if unknown:
            raise GlideError(
                f"CLIP config has unknown key(s) {unknown}; allowed keys are {sorted(known)}"
            )
        return cls(**dict(config))

    def to_yaml_dict(self) -> dict[str, Any]:
        """The reference-style dict; ``from_yaml_dict(cfg.to_yaml_dict()) == cfg``."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def replace(self, **changes: Any) -> CLIPConfig:
        return dataclasses.replace(self, **changes)

    @classmethod
    def preset(cls, name: str = "clip") -> CLIPConfig:
        """The official noised CLIP ("clip")."""
        if name not in _CLIP_PRESETS:
            raise GlideError(
                f"CLIP preset name={name!r} is unknown; choose one of {sorted(_CLIP_PRESETS)}"
            )
        return _CLIP_PRESETS[name]


_CLIP_PRESETS: dict[str, CLIPConfig] = {"clip": CLIPConfig()}
