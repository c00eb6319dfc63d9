"""Text2ImPipeline on tiny models: the golden_small reference model as the base, small random
upsamplers; determinism, batch independence, text encoded once, upsampling inputs, inpainting,
checkpoint loading and errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import glide
from glide.checkpoints import save_checkpoint, write_options_file
from glide.clip import CLIP_SMALL
from glide.errors import GlideError
from glide.io import sha256_file
from glide.pipeline import Text2ImPipeline, quantize
from glide.sampling import randn_rows

UP_OPTIONS = dict(
    image_size=64, num_channels=32, num_res_blocks=1, channel_mult="1,1,1,2",
    attention_resolutions="8", num_head_channels=32, text_ctx=16, xf_width=8, xf_layers=1,
    xf_heads=1, super_res=True, noise_schedule="linear", dropout=0.0,
)  # fmt: skip


def randomize(model: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Give every parameter small random values (some output convs start at zero)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.05)
    return model


@pytest.fixture(scope="module")
def golden_options(reference_dir):
    return json.loads((reference_dir / "golden_small" / "config.json").read_text())["options"]


@pytest.fixture(scope="module")
def golden(reference_dir, golden_options):
    model = glide.build_model(golden_options)
    model.load_state_dict(
        torch.load(reference_dir / "golden_small" / "state_dict.pt", weights_only=True)
    )
    return model


@pytest.fixture(scope="module")
def upsampler():
    return randomize(glide.build_model(UP_OPTIONS), 1)


@pytest.fixture(scope="module")
def pipe(golden, upsampler):
    return Text2ImPipeline(golden, upsampler=upsampler)


CAPTIONS = ["an oil painting of a corgi", "a red cube", "a blue ball"]


def test_images_are_deterministic_and_batch_independent(pipe):
    images = pipe(CAPTIONS, [1, 2, 3], steps="5")
    assert images.dtype == np.uint8 and images.shape == (3, 32, 32, 3)
    assert np.array_equal(images, pipe(CAPTIONS, [1, 2, 3], steps="5"))
    alone = pipe(CAPTIONS[1:2], [2], steps="5")
    swapped = pipe([CAPTIONS[2], CAPTIONS[0]], [3, 1], steps="5")
    for got, want in [(alone[0], images[1]), (swapped[0], images[2]), (swapped[1], images[0])]:
        diff = np.abs(got.astype(int) - want.astype(int))
        assert diff.max() <= 1 and (diff > 0).mean() < 0.01  # float32 rounding at most
    assert not np.array_equal(images[1], pipe(CAPTIONS[1:2], [99], steps="5")[0])


def test_text_is_encoded_once_per_sample_not_per_step(pipe, monkeypatch):
    calls = []
    for model in (pipe.base, pipe.upsampler):
        original = model.encode_text

        def counting(tokens, mask, _original=original):
            calls.append(tokens.shape[0])
            return _original(tokens, mask)

        monkeypatch.setattr(model, "encode_text", counting)
    pipe(CAPTIONS[:2], [1, 2], steps="3")
    assert calls == [3]  # one call: 2 captions + the empty caption
    calls.clear()
    pipe(CAPTIONS[:2], [1, 2], steps="8", upsample=True, upsample_steps="4")
    assert calls == [3, 2]  # base (cond + uncond), upsampler (cond)
    calls.clear()
    pipe(CAPTIONS[:2], [1, 2], steps="8", guidance="none")
    assert calls == [2]


def test_guidance_none_is_cfg_scale_one(pipe):
    a = pipe(CAPTIONS[:1], [5], steps="4", guidance="none")
    b = pipe(CAPTIONS[:1], [5], steps="4", guidance="cfg", scale=1.0)
    c = pipe(CAPTIONS[:1], [5], steps="4", guidance="cfg", scale=3.0)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_upsampler_inputs(pipe, monkeypatch):
    seen = []
    original = pipe.upsampler.forward

    def spy(x, timesteps, *args, **kw):
        seen.append((x.clone(), timesteps.clone(), kw["low_res"].clone()))
        return original(x, timesteps, *args, **kw)

    monkeypatch.setattr(pipe.upsampler, "forward", spy)
    out = pipe.generate(CAPTIONS[:2], [7, 8], steps="3", upsample=True, upsample_steps="fast27")
    assert out.upsampled.shape == (2, 3, 64, 64) and len(seen) == 27
    x_T, t, low_res = seen[0]
    assert t.tolist() == [997, 997]  # fast27 starts at T-3
    torch.testing.assert_close(low_res, quantize(out.base), rtol=0, atol=0)
    levels = (low_res + 1) * 127.5
    assert torch.allclose(levels, levels.round(), atol=1e-4)  # 8-bit values
    # x_T: each row's generator after its base-model draws (x_T + 3 steps), times 0.997
    expected = []
    for seed in (7, 8):
        g = torch.Generator().manual_seed(seed)
        for _ in range(4):
            torch.randn(3, 32, 32, generator=g)
        expected.append(torch.randn(3, 64, 64, generator=g) * 0.997)
    torch.testing.assert_close(x_T, torch.stack(expected), rtol=0, atol=0)
    assert pipe(CAPTIONS[:2], [7, 8], steps="3", upsample=True, upsample_steps="3").shape == (
        2, 64, 64, 3,
    )  # fmt: skip


def test_clip_guidance(golden):
    torch.manual_seed(0)
    clip = glide.build_clip(
        CLIP_SMALL.replace(image_size=32, n_xf_blocks_image=1, n_xf_blocks_text=1)
    )
    pipe = Text2ImPipeline(golden, clip=clip)
    a = pipe(CAPTIONS[:1], [3], steps="4", guidance="clip", scale=30.0)
    b = pipe(CAPTIONS[:1], [3], steps="4", guidance="none")
    assert a.shape == b.shape and not np.array_equal(a, b)
    with pytest.raises(GlideError, match="clip=True"):
        Text2ImPipeline(golden)(CAPTIONS[:1], [3], steps="4", guidance="clip")
    other = glide.build_clip(
        CLIP_SMALL.replace(image_size=32, n_xf_blocks_image=1, n_xf_blocks_text=1,
                           beta_schedule="linear")
    )  # fmt: skip
    with pytest.raises(GlideError, match="noise schedule 'linear'"):
        Text2ImPipeline(golden, clip=other)(CAPTIONS[:1], [3], steps="4", guidance="clip")


@pytest.fixture(scope="module")
def inpaint_pipe(golden_options):
    base = randomize(glide.build_model(dict(golden_options, inpaint=True)), 2)
    up = randomize(glide.build_model(dict(UP_OPTIONS, inpaint=True)), 3)
    return Text2ImPipeline(base, upsampler=up)


def test_inpainting_keeps_known_pixels(inpaint_pipe):
    rng = np.random.default_rng(0)
    source = rng.integers(0, 256, (2, 64, 64, 3), dtype=np.uint8)
    keep = np.ones((2, 64, 64), dtype=bool)
    keep[:, 10:40, 20:50] = False
    out = inpaint_pipe(
        ["a hat", "a dog"],
        [1, 2],
        steps="4",
        upsample=True,
        upsample_steps="3",
        inpaint_image=source,
        inpaint_mask=keep,
    )
    assert out.shape == (2, 64, 64, 3)
    assert np.array_equal(out[keep], source[keep])  # exactly the source
    assert np.abs(out[~keep].astype(int) - source[~keep]).mean() > 5
    # base only: the source is resized to 32x32 (bicubic, mask nearest); kept pixels equal it
    from glide.pipeline import resize_inpaint_inputs, to_uint8

    small = inpaint_pipe(
        ["a hat", "a dog"], [1, 2], steps="4", inpaint_image=source, inpaint_mask=keep
    )
    image32, mask32 = resize_inpaint_inputs(source, keep, 32)
    kept = mask32[:, 0].bool().numpy()
    assert np.array_equal(small[kept], to_uint8(image32)[kept])
    with pytest.raises(GlideError, match="inpaint_mask must be"):
        inpaint_pipe(["a"], [1], steps="2", inpaint_image=source[:1], inpaint_mask=keep[:1, :5])
    with pytest.raises(GlideError, match="inpaint_image and inpaint_mask are required"):
        inpaint_pipe(["a"], [1], steps="2")


def test_argument_errors(pipe):
    cases = [
        (dict(captions=["a", "b"], seeds=[1]), "one seed per caption"),
        (dict(captions="a cat", seeds=[1]), "list of strings"),
        (dict(guidance="classifier"), r"guidance='classifier' is invalid; choose one of"),
        (dict(sampler="plms"), "sampler='plms'"),
        (dict(steps="ten"), "steps='ten'"),
        (dict(steps="ddim999"), "steps='ddim999'"),
        (dict(upsample_temp=0), "upsample_temp=0"),
        (dict(scale="3"), "scale='3'"),
        (dict(seeds=[1.5]), "seeds must be integers"),
    ]
    for kwargs, message in cases:
        args = {"captions": ["a"], "seeds": [1], **kwargs}
        with pytest.raises(GlideError, match=message):
            pipe(args.pop("captions"), args.pop("seeds"), **args)
    with pytest.raises(GlideError, match="upsample=True needs the upsampler"):
        Text2ImPipeline(pipe.base)(["a"], [1], upsample=True)
    # a respacing the upsampler cannot take is refused before the base stage samples anything
    stages = []
    original = pipe._stage
    pipe._stage = lambda *a, **k: stages.append(1) or original(*a, **k)
    try:
        with pytest.raises(GlideError, match="upsample_steps='quad1' for the .*'quadN' needs"):
            pipe(["a"], [1], steps="2", upsample=True, upsample_steps="quad1")
    finally:
        del pipe._stage
    assert stages == []
    with pytest.raises(GlideError, match="inpaint_image and inpaint_mask"):
        pipe(
            ["a"],
            [1],
            steps="2",
            inpaint_image=np.zeros((1, 8, 8, 3), np.uint8),
            inpaint_mask=np.ones((1, 8, 8)),
        )


def test_from_checkpoints_and_describe(tmp_path, golden, golden_options, upsampler):
    save_checkpoint(golden, tmp_path / "base.pt")
    save_checkpoint(upsampler, tmp_path / "upsample.pt")
    write_options_file(tmp_path, {"base": golden_options, "upsample": UP_OPTIONS})
    pipe = Text2ImPipeline.from_checkpoints(tmp_path, upsample=True)
    info = pipe.describe()
    assert info["base"]["sha256"] == sha256_file(tmp_path / "base.pt")
    assert info["upsample"]["options"]["super_res"] is True
    assert info["checkpoints_dir"] == str(tmp_path)
    ref = Text2ImPipeline(golden)(["a red cube"], [4], steps="3")
    assert np.array_equal(pipe(["a red cube"], [4], steps="3"), ref)
    json.dumps(info)  # serialisable run metadata
    mem = Text2ImPipeline(golden).describe()
    assert mem["base"]["file"] is None and len(mem["base"]["state_dict_sha256"]) == 64


def test_missing_embedded_default_explains_what_to_do(monkeypatch, tmp_path):
    import glide.embedded

    monkeypatch.setattr(glide.embedded, "EMBEDDED_DIR", tmp_path / "nothing")
    with pytest.raises(GlideError, match="--checkpoints DIR"):
        Text2ImPipeline.from_checkpoints()


def test_randn_rows_is_what_the_pipeline_draws():
    gens = [torch.Generator().manual_seed(3)]
    assert torch.equal(
        randn_rows((1, 3, 4, 4), gens)[0],
        torch.randn(3, 4, 4, generator=torch.Generator().manual_seed(3)),
    )


def test_low_res_is_resized_bilinearly_with_half_pixel_centres():
    # the reference resizes low_res with F.interpolate(mode="bilinear", align_corners=False):
    # output pixel j of a 2x upsampling samples input position (j + 0.5) / 2 - 0.5, clamped
    from glide.text2im import _resize_low_res

    row = torch.tensor([0.0, 1.0, 3.0])
    low = row.view(1, 1, 1, 3).expand(1, 3, 3, 3)
    out = _resize_low_res(low, torch.zeros(1, 3, 6, 6))
    expected = []
    for j in range(6):
        pos = min(max((j + 0.5) / 2 - 0.5, 0.0), 2.0)
        i0 = int(pos)
        i1 = min(i0 + 1, 2)
        expected.append(float(row[i0] + (pos - i0) * (row[i1] - row[i0])))
    assert out.shape == (1, 3, 6, 6)
    assert torch.allclose(out[0, 0, 0], torch.tensor(expected), atol=1e-6)
    assert torch.allclose(out, out[:, :, :1].expand_as(out))  # constant along the other axis
