"""UNetConfig / CLIPConfig: reference dict round trips, presets, validation messages."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

import glide
from glide.config import CLIPConfig, UNetConfig, default_channel_mult
from glide.errors import GlideError

UNET_MANIFESTS = {
    "base": "base",
    "upsample": "upsample",
    "base_inpaint": "base-inpaint",
    "upsample_inpaint": "upsample-inpaint",
}


def _manifest(reference_dir: Path, name: str) -> dict:
    return json.loads((reference_dir / "manifests" / f"{name}.json").read_text())


@pytest.mark.parametrize("name", sorted(UNET_MANIFESTS))
def test_manifest_options_match_presets(reference_dir: Path, name: str) -> None:
    manifest = _manifest(reference_dir, name)
    cfg = UNetConfig.from_options(manifest["options"])
    assert cfg == UNetConfig.preset(UNET_MANIFESTS[name])
    resolved = manifest["resolved"]
    assert cfg.in_channels == resolved["in_channels"]
    assert cfg.out_channels == resolved["out_channels"] == 6
    assert cfg.time_embed_dim == resolved["time_embed_dim"]
    assert list(cfg.channel_mult) == resolved["channel_mult"]
    assert list(cfg.attention_downsample_rates) == resolved["attention_downsample_rates"]
    assert cfg.model_class == resolved["model_class"]
    assert cfg.pad_token == 50256
    # round trip: options -> config -> options -> config, and runtime flags survive
    options = cfg.to_options()
    assert set(options) == set(manifest["options"])
    assert options["use_fp16"] is True
    assert UNetConfig.from_options(options) == cfg
    for key, value in manifest["options"].items():
        if key != "channel_mult":
            assert options[key] == value, key


def test_golden_small_options(reference_dir: Path) -> None:
    options = json.loads((reference_dir / "golden_small" / "config.json").read_text())["options"]
    cfg = UNetConfig.from_options(options)
    assert cfg.channel_mult == (1, 1, 2) and cfg.attention_downsample_rates == (2, 4)
    assert cfg.to_options() == options


def test_preset_names_and_frozen() -> None:
    base = UNetConfig.preset("base")
    assert base.model_channels == 192 and base.xf_layers == 16 and base.text_ctx == 128
    up = UNetConfig.preset("upsample")
    assert (up.image_size, up.num_res_blocks, up.noise_schedule) == (256, 2, "linear")
    assert UNetConfig.preset("upsample-inpaint").in_channels == 10
    with pytest.raises(dataclasses.FrozenInstanceError):
        base.image_size = 32  # type: ignore[misc]
    with pytest.raises(GlideError, match="base-inpaint"):
        UNetConfig.preset("inpaint")
    assert glide.UNetConfig is UNetConfig


def test_default_channel_mult() -> None:
    assert default_channel_mult(64) == (1, 2, 3, 4)
    assert default_channel_mult(256) == (1, 1, 2, 2, 4, 4)
    with pytest.raises(GlideError, match="channel_mult"):
        UNetConfig.from_options({"image_size": 48, "channel_mult": ""})


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"model_channels": 48}, "model_channels"),
        ({"attention_resolutions": (12,)}, "attention_resolutions"),
        ({"num_head_channels": 100}, "num_head_channels"),
        ({"xf_heads": 3}, "xf_heads"),
        ({"noise_schedule": "cosine"}, "noise_schedule"),
        ({"channel_mult": "1,x"}, "channel_mult"),
        ({"dropout": 1.5}, "dropout"),
        ({"image_size": 0}, "image_size"),
        ({"image_size": 36}, "image_size"),
    ],
)
def test_validation_names_field_and_value(changes: dict, field: str) -> None:
    with pytest.raises(GlideError, match=field) as info:
        UNetConfig.preset("base").replace(**changes)
    assert repr(next(iter(changes.values()))) in str(info.value) or field in str(info.value)


def test_unknown_option_is_refused() -> None:
    with pytest.raises(GlideError, match=r"unknown key\(s\) \['num_chanels'\]"):
        UNetConfig.from_options({"num_chanels": 64})
    with pytest.raises(GlideError, match="dict"):
        UNetConfig.from_options("base")  # type: ignore[arg-type]


def test_partial_options_take_base_defaults() -> None:
    cfg = UNetConfig.from_options({"num_channels": 64, "xf_width": 0})
    assert cfg.model_channels == 64 and cfg.image_size == 64 and cfg.xf_width == 0


@pytest.mark.parametrize("name", ["clip_image_enc", "clip_text_enc"])
def test_clip_config_round_trip(reference_dir: Path, name: str) -> None:
    manifest = _manifest(reference_dir, name)
    cfg = CLIPConfig.from_yaml_dict(manifest["config_yaml"])
    assert cfg == CLIPConfig.preset("clip")
    assert cfg.to_yaml_dict() == manifest["config_yaml"]
    assert cfg.image_width == 768 and cfg.text_width == 512 and cfg.image_context == 257
    assert CLIPConfig.from_yaml_dict({"model": manifest["config_yaml"]}) == cfg


def test_clip_config_validation() -> None:
    with pytest.raises(GlideError, match="patch_size"):
        CLIPConfig(patch_size=5)
    with pytest.raises(GlideError, match="n_head_text"):
        CLIPConfig(n_head_text=0)
    with pytest.raises(GlideError, match=r"unknown key\(s\) \['width'\]"):
        CLIPConfig.from_yaml_dict({"width": 3})
    with pytest.raises(GlideError, match="clip"):
        CLIPConfig.preset("vit")
