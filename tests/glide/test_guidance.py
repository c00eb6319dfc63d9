"""Classifier-free guidance, CLIP guidance and inpainting wrappers."""

from __future__ import annotations

import json

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import glide
from glide.clip import CLIP_SMALL
from glide.diffusion import create_diffusion
from glide.errors import GlideError
from glide.guidance import (
    check_inpaint_inputs,
    classifier_free,
    clip_guidance,
    inpaint_denoised_fn,
)
from glide.sampling import p_sample_step, sample_ancestral, sample_ddim
from glide.text2im import TextEncoding


@pytest.fixture(scope="module")
def golden(reference_dir):
    ref = reference_dir / "golden_small"
    options = json.loads((ref / "config.json").read_text())["options"]
    model = glide.build_model(options)
    model.load_state_dict(torch.load(ref / "state_dict.pt", weights_only=True))
    return model


@pytest.fixture(scope="module")
def forward(reference_dir):
    return torch.load(reference_dir / "golden_small" / "forward.pt", weights_only=True)


@pytest.fixture(scope="module")
def enc(golden, forward):
    with torch.no_grad():
        return golden.encode_text(forward["tokens"], forward["mask"])


def test_cfg_matches_reference_guided_eps(golden, forward, enc):
    """forward.pt holds uncond + 3 (cond - uncond) from the reference, rows 0/2 and 1/3."""
    guided = classifier_free(golden, 3.0)
    with torch.no_grad():
        out = guided(
            forward["x_t"][:2], forward["timesteps"][:2], text=enc[:2], uncond={"text": enc[2:]}
        )
    assert out.shape == (2, 6, 32, 32)
    ref = forward["cfg_guided_eps_scale3_fp64"]
    assert (out[:, :3].double() - ref).abs().max() <= 1e-4
    # the variance channels are the conditional rows' own, not guided
    assert (out[:, 3:].double() - forward["out_fp64"][:2, 3:]).abs().max() <= 1e-4


def test_cfg_identities(golden, forward, enc):
    x, t = forward["x_t"][:2], forward["timesteps"][:2]
    rows = []

    def spy(xx, tt, **kw):
        rows.append((xx.clone(), tt.clone()))
        return golden(xx, tt, **kw)

    with torch.no_grad():
        cond = golden(x, t, text=enc[:2])
        uncond = golden(x, t, text=enc[2:])
        one = classifier_free(spy, 1.0)(x, t, text=enc[:2], uncond={"text": enc[2:]})
        assert len(rows) == 1 and rows[0][0].shape[0] == 2  # scale 1 skips the uncond half
        assert torch.equal(one, cond)
        zero = classifier_free(spy, 0.0)(x, t, text=enc[:2], uncond={"text": enc[2:]})
    xx, tt = rows[1]
    assert torch.equal(xx[:2], xx[2:]) and torch.equal(tt[:2], tt[2:])  # same x_t and t
    torch.testing.assert_close(zero[:, :3], uncond[:, :3], rtol=0, atol=1e-5)
    torch.testing.assert_close(zero[:, 3:], cond[:, 3:], rtol=0, atol=1e-5)


def test_cfg_duplicates_shared_arguments_and_rejects_unknown_keys():
    seen = {}

    def fake(x, t, *, text, low_res):
        seen.update(text=text, low_res=low_res)
        return torch.cat([x, x], 1)

    x = torch.randn(2, 3, 4, 4)
    low = torch.randn(2, 3, 2, 2)
    text = TextEncoding(torch.ones(2, 8), torch.ones(2, 4, 5))
    empty = TextEncoding(torch.zeros(2, 8), torch.zeros(2, 4, 5))
    classifier_free(fake, 2.0)(
        x, torch.tensor([3, 3]), text=text, low_res=low, uncond={"text": empty}
    )
    assert torch.equal(seen["low_res"], torch.cat([low, low]))
    assert torch.equal(seen["text"].proj, torch.cat([text.proj, empty.proj]))
    with pytest.raises(GlideError, match="uncond has keys"):
        classifier_free(fake, 2.0)(
            x, torch.tensor([3, 3]), text=text, low_res=low, uncond={"tokens": x}
        )
    with pytest.raises(GlideError, match="scale"):
        classifier_free(fake, "3")


# ----- CLIP guidance -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def clip():
    cfg = CLIP_SMALL.replace(image_size=16, n_xf_blocks_image=1, n_xf_blocks_text=1)
    torch.manual_seed(0)
    return glide.build_clip(cfg)


def test_clip_cond_fn_gradient(clip):
    captions = ["a red cube", "a blue ball"]
    calls = {"n": 0}
    original = clip.text_embeddings

    def counting(*a, **k):
        calls["n"] += 1
        return original(*a, **k)

    clip.text_embeddings = counting
    try:
        cond_fn = clip_guidance(clip, captions, 2.0)
        x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
        t = torch.tensor([500, 20])
        g1 = cond_fn(x, t)
        g2 = cond_fn(x, t)
    finally:
        del clip.text_embeddings
    assert calls["n"] == 1  # g(c) once, however many steps
    assert torch.equal(g1, g2) and g1.shape == x.shape
    # against an explicit derivative of 100 * <f(x_t, t), g(c)> for row 0 (finite difference)
    with torch.no_grad():
        z_text = clip.caption_embeddings(captions)
        h = 1e-2
        direction = torch.randn(3, 16, 16, generator=torch.Generator().manual_seed(1))

        def energy(x0):
            return 100 * (clip.image_embeddings(x0[None], t[:1]) * z_text[:1]).sum()

        fd = (energy(x[0] + h * direction) - energy(x[0] - h * direction)) / (2 * h)
    assert (g1[0] * direction).sum().item() / 2.0 == pytest.approx(fd.item(), rel=2e-2)
    # rows do not interact; the scale is linear
    alone = clip_guidance(clip, z_text[1:], 1.0)(x[1:], t[1:])
    torch.testing.assert_close(alone[0] * 2.0, g1[1], rtol=1e-4, atol=1e-6)


def test_clip_guidance_in_the_samplers(clip):
    d = create_diffusion(1000, "squaredcos_cap_v2", "5")
    grad = torch.randn(1, 3, 16, 16)

    def fake(x, t, **kw):
        return torch.cat([torch.zeros_like(x), torch.zeros_like(x)], 1)

    def cond_fn(x, t, **kw):
        return grad

    x = torch.randn(1, 3, 16, 16)
    z = torch.randn(1, 3, 16, 16)
    plain = p_sample_step(fake, d, x, 3, z)
    guided = p_sample_step(fake, d, x, 3, z, cond_fn=cond_fn)
    t = torch.tensor([3])
    out = d.p_mean_variance(fake(x, t), x, t)
    torch.testing.assert_close(guided["sample"] - plain["sample"], out["variance"] * grad)
    # DDIM: score form eps' = eps(clamped x_0) - sqrt(1 - abar) grad, x_0 re-derived
    seen = []
    # (float64: the first guided step makes |x_t| ~ 3e4 here, beyond float32's precision)
    sample_ddim(
        fake, d, x.shape, noise=x.double(), noise_sampler=lambda i: z.double(),
        cond_fn=lambda x, t: grad.double(), callback=seen.append, dtype=torch.float64,
    )  # fmt: skip
    info = seen[2]
    a = float(d.alphas_cumprod[info["index"]])
    xt = info["x_t"].double()
    x0 = (xt / a**0.5).clamp(-1, 1)
    eps = (xt - a**0.5 * x0) / (1 - a) ** 0.5 - (1 - a) ** 0.5 * grad.double()
    expected = (xt - (1 - a) ** 0.5 * eps) / a**0.5
    torch.testing.assert_close(info["pred_xstart"], expected, rtol=1e-10, atol=1e-10)
    # a real CLIP cond_fn runs inside the no_grad sampling loop
    cf = clip_guidance(clip, ["a red cube"], 1.0)
    y = sample_ancestral(fake, d, (1, 3, 16, 16), generators=[torch.Generator()], cond_fn=cf)
    assert torch.isfinite(y).all()


# ----- inpainting --------------------------------------------------------------------------


@pytest.mark.parametrize("sampler", ["ancestral", "ddim"])
def test_inpainting_keeps_known_pixels_exactly(golden, enc, sampler):
    d = create_diffusion(1000, "squaredcos_cap_v2", "6")
    g = torch.Generator().manual_seed(3)
    image = torch.randint(0, 256, (2, 3, 16, 16), generator=g) / 127.5 - 1
    mask = torch.ones(2, 1, 16, 16)
    mask[:, :, 5:12, 3:9] = 0
    run = sample_ancestral if sampler == "ancestral" else sample_ddim
    out = run(
        golden,
        d,
        image.shape,
        generators=[torch.Generator().manual_seed(s) for s in (1, 2)],
        cond={"text": enc[:2]},
        denoised_fn=inpaint_denoised_fn(image, mask),
    )
    keep = mask.expand_as(image).bool()
    assert torch.equal(out[keep], image[keep])
    assert (out[~keep] - image[~keep]).abs().max() > 0.05  # the hole is generated
    # the 8-bit round trip keeps them too
    as_uint8 = ((out + 1) * 127.5).round().clamp(0, 255)
    assert torch.equal(as_uint8[keep], ((image + 1) * 127.5).round()[keep])


def test_inpaint_input_errors():
    image = torch.zeros(2, 3, 8, 8)
    with pytest.raises(GlideError, match=r"mask must have shape \[N, 1, H, W\] = \(2, 1, 8, 8\)"):
        inpaint_denoised_fn(image, torch.ones(2, 3, 8, 8))
    with pytest.raises(GlideError, match="mask must have shape"):
        inpaint_denoised_fn(image, torch.ones(2, 1, 4, 4))
    with pytest.raises(GlideError, match=r"values in \[2.0, 2.0\]; expected \[0, 1\]"):
        inpaint_denoised_fn(image, torch.full((2, 1, 8, 8), 2.0))
    with pytest.raises(GlideError, match=r"image must be \[N, 3, H, W\]"):
        inpaint_denoised_fn(torch.zeros(2, 8, 8), torch.ones(2, 1, 8, 8))
    with pytest.raises(GlideError, match="resize the source image"):
        check_inpaint_inputs(image, torch.ones(2, 1, 8, 8), (2, 3, 16, 16))
    fn = inpaint_denoised_fn(image, torch.ones(2, 1, 8, 8))
    with pytest.raises(GlideError, match="x_0 has shape"):
        fn(torch.zeros(1, 3, 8, 8))


@settings(max_examples=60, deadline=None)
@given(
    shape=st.lists(st.integers(1, 9), min_size=1, max_size=5).filter(
        lambda s: tuple(s) != (2, 1, 8, 8)
    )
)
def test_wrong_mask_shapes_property(shape):
    with pytest.raises(GlideError, match=r"inpaint mask must have shape \[N, 1, H, W\]"):
        inpaint_denoised_fn(torch.zeros(2, 3, 8, 8), torch.ones(shape))
