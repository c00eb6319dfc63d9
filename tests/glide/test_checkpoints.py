"""Checkpoint registry, strict loading (with teaching errors), saving, download cache."""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path

import pytest
import torch

import glide
from glide.checkpoints import (
    CHECKPOINTS,
    CheckpointInfo,
    _download,
    load_checkpoint,
    load_clip,
    load_state_dict_file,
    read_options_file,
    register_checkpoint,
    resolve_checkpoint,
    save_checkpoint,
    write_options_file,
)
from glide.config import CLIPConfig, UNetConfig
from glide.errors import CheckpointError, GlideError
from glide.io import sha256_file


@pytest.fixture(scope="module")
def golden(reference_dir: Path) -> dict:
    root = reference_dir / "golden_small"
    return {
        "options": json.loads((root / "config.json").read_text())["options"],
        "state_dict": torch.load(root / "state_dict.pt", weights_only=True),
        "forward": torch.load(root / "forward.pt", weights_only=True),
    }


@pytest.fixture()
def golden_dir(tmp_path: Path, golden: dict) -> Path:
    """A checkpoints directory holding the golden model as ``base.pt`` + glide_options.json."""
    save_checkpoint(golden["state_dict"], tmp_path / "base.pt")
    write_options_file(tmp_path, {"base": golden["options"]})
    return tmp_path


def _forward(model, f) -> torch.Tensor:
    with torch.no_grad():
        return model(f["x_t"], f["timesteps"], tokens=f["tokens"], mask=f["mask"])


def test_registry_holds_the_six_official_files() -> None:
    assert set(CHECKPOINTS) == {
        "base",
        "upsample",
        "base-inpaint",
        "upsample-inpaint",
        "clip-image-enc",
        "clip-text-enc",
    }
    assert CHECKPOINTS["base-inpaint"].filename == "base_inpaint.pt"
    for info in CHECKPOINTS.values():
        assert info.url == (
            "https://openaipublic.blob.core.windows.net/diffusion/dec-2021/" + info.filename
        )
    with pytest.raises(GlideError, match="already registered"):
        register_checkpoint(CHECKPOINTS["base"])


def test_load_from_checkpoints_dir_matches_golden(golden_dir: Path, golden: dict) -> None:
    f = golden["forward"]
    model = load_checkpoint("base", checkpoints_dir=golden_dir)
    assert model.config == UNetConfig.from_options(golden["options"])
    assert not model.training
    assert all(p.requires_grad and not p.is_meta for p in model.parameters())
    assert (_forward(model, f).double() - f["out_fp64"]).abs().max().item() <= 1e-4
    # via the lazy package API, in float64
    m64 = glide.load_checkpoint("base", checkpoints_dir=golden_dir, dtype=torch.float64)
    out = m64(f["x_t"].double(), f["timesteps"], tokens=f["tokens"], mask=f["mask"])
    assert (out.detach() - f["out_fp64"]).abs().max().item() <= 1e-9


def test_load_by_path_uses_options_file_or_argument(golden_dir: Path, golden: dict) -> None:
    f = golden["forward"]
    by_path = load_checkpoint(golden_dir / "base.pt")  # glide_options.json beside it
    assert by_path.config.model_channels == 32
    other = golden_dir / "mine.pt"
    save_checkpoint(golden["state_dict"], other)
    with pytest.raises(CheckpointError, match="options="):
        load_checkpoint(other)
    model = load_checkpoint(other, options=golden["options"])
    assert torch.equal(_forward(model, f), _forward(by_path, f))


def test_non_official_name_from_options_file(golden_dir: Path, golden: dict) -> None:
    save_checkpoint(golden["state_dict"], golden_dir / "base_small.pt")
    write_options_file(golden_dir, {"base-small": golden["options"]})
    resolved = resolve_checkpoint("base-small", checkpoints_dir=golden_dir)
    assert resolved.path.name == "base_small.pt" and resolved.kind == "unet"
    assert set(read_options_file(golden_dir)) == {"base", "base-small"}


def test_renamed_key_is_refused_with_its_name(tmp_path: Path, golden: dict) -> None:
    state = dict(golden["state_dict"])
    state["input_blocks.1.0.in_layer.0.weight"] = state.pop("input_blocks.1.0.in_layers.0.weight")
    save_checkpoint(state, tmp_path / "base.pt")
    write_options_file(tmp_path, {"base": golden["options"]})
    with pytest.raises(CheckpointError) as info:
        load_checkpoint("base", checkpoints_dir=tmp_path)
    msg = str(info.value)
    assert "1 missing key(s): input_blocks.1.0.in_layers.0.weight" in msg
    assert "1 unexpected key(s): input_blocks.1.0.in_layer.0.weight" in msg
    assert "mis-shaped" not in msg


def test_wrong_shape_is_refused_with_its_name(tmp_path: Path, golden: dict) -> None:
    state = dict(golden["state_dict"])
    state["transformer_proj.weight"] = torch.zeros(128, 8)
    save_checkpoint(state, tmp_path / "base.pt")
    write_options_file(tmp_path, {"base": golden["options"]})
    with pytest.raises(
        CheckpointError,
        match=r"transformer_proj\.weight \(file \[128, 8\], "
        r"model \[128, 4\]\)",
    ):
        load_checkpoint("base", checkpoints_dir=tmp_path)


def test_official_architecture_refuses_small_file(tmp_path: Path, golden: dict) -> None:
    """Without glide_options.json the official options apply: the golden file does not fit."""
    save_checkpoint(golden["state_dict"], tmp_path / "base.pt")
    with pytest.raises(CheckpointError, match="mis-shaped key"):
        load_checkpoint("base", checkpoints_dir=tmp_path)


def test_corrupt_and_missing_files(tmp_path: Path, golden_dir: Path) -> None:
    bad = tmp_path / "base.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot read checkpoint"):
        load_state_dict_file(bad)
    truncated = tmp_path / "trunc.pt"
    truncated.write_bytes((golden_dir / "base.pt").read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="truncated"):
        load_state_dict_file(truncated)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CheckpointError, match="upsample.pt is not in"):
        load_checkpoint("upsample", checkpoints_dir=empty)
    with pytest.raises(CheckpointError, match="neither a registered name"):
        load_checkpoint("bsae")
    with pytest.raises(CheckpointError, match="download=False"):
        load_checkpoint("base", cache_dir=empty, download=False)
    with pytest.raises(GlideError, match="load_clip"):
        load_checkpoint("clip-image-enc")


def test_save_checkpoint_is_plain_and_casts(tmp_path: Path, golden: dict) -> None:
    model = glide.build_model(golden["options"])
    model.load_state_dict(golden["state_dict"])
    path = save_checkpoint(model, tmp_path / "sub" / "half.pt", dtype=torch.float16)
    raw = torch.load(path, weights_only=True)
    assert list(raw) == list(golden["state_dict"])
    assert all(t.dtype == torch.float16 for t in raw.values())
    assert not list((tmp_path / "sub").glob("*.tmp"))
    assert sha256_file(path) == hashlib.sha256(path.read_bytes()).hexdigest()
    reloaded = load_checkpoint(path, options=golden["options"])
    assert reloaded.dtype == torch.float32


def test_download_cache_with_lock(tmp_path: Path, golden_dir: Path) -> None:
    source = golden_dir / "base.pt"
    info = CheckpointInfo("test", "base.pt", source.resolve().as_uri(), "unet", "base")
    dest = tmp_path / "cache" / "base.pt"
    threads = [threading.Thread(target=_download, args=(info, dest, False)) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sha256_file(dest) == sha256_file(source)
    assert not list(dest.parent.glob("*.tmp")) and not list(dest.parent.glob(".*tmp"))
    missing = CheckpointInfo("gone", "gone.pt", (tmp_path / "nope.pt").as_uri(), "unet", "base")
    with pytest.raises(CheckpointError, match="could not download"):
        _download(missing, tmp_path / "cache" / "gone.pt", False)
    assert not (tmp_path / "cache" / "gone.pt").exists()


def test_load_clip_small_roundtrip(tmp_path: Path) -> None:
    from glide.clip import CLIP_SMALL, build_clip

    torch.manual_seed(0)
    clip = build_clip(CLIP_SMALL)
    save_checkpoint(clip.image_encoder, tmp_path / "clip_image_enc.pt")
    save_checkpoint(clip.text_encoder, tmp_path / "clip_text_enc.pt")
    write_options_file(tmp_path, {"clip-image-enc": CLIP_SMALL, "clip-text-enc": CLIP_SMALL})
    loaded = load_clip(checkpoints_dir=tmp_path)
    assert isinstance(loaded.config, CLIPConfig) and loaded.config == CLIP_SMALL
    for (k, a), (k2, b) in zip(clip.state_dict().items(), loaded.state_dict().items(), strict=True):
        assert k == k2 and torch.equal(a, b)
    # the directory may be given positionally too; a shape mismatch names the key
    assert load_clip(tmp_path).config == CLIP_SMALL
    write_options_file(
        tmp_path, {n: CLIP_SMALL.replace(n_embd=32) for n in ("clip-image-enc", "clip-text-enc")}
    )
    with pytest.raises(CheckpointError, match=r"blocks\.output\.f\.w"):
        load_clip(tmp_path)
