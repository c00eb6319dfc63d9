"""Guidance intervals (issue 24): the interval over all noise levels is today's guidance bit for
bit; outside it the unconditional rows (and the noised CLIP) are not evaluated; the cost counted
from the settings equals the rows the network was called on; images stay batch-independent."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import glide
from glide.clip import CLIP_SMALL
from glide.diffusion import create_diffusion
from glide.errors import GlideError
from glide.guidance import (
    GuidanceInterval,
    classifier_free,
    clip_guidance,
    network_evaluations,
    noise_levels,
)
from glide.pipeline import Text2ImPipeline, evaluations_per_image, guidance_timesteps
from glide.samplers import SAMPLERS
from glide.sampling import row_generators

SCHEDULE = ("linear", 1000)


def abar(schedule: str = SCHEDULE[0], steps: int = SCHEDULE[1]) -> np.ndarray:
    from glide.schedule import get_named_beta_schedule

    return np.cumprod(1.0 - get_named_beta_schedule(schedule, steps))


class Counting:
    """A toy eps model whose output depends nonlinearly on x, t and the text; records the rows
    of every call and whether any of them were the unconditional (empty-caption) rows."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, bool]] = []

    def __call__(self, x, t, *, text):
        self.calls.append((x.shape[0], bool((text < 0).any())))
        eps = torch.tanh(x * (1 + text.view(-1, 1, 1, 1)) + t.view(-1, 1, 1, 1) / 700.0)
        return torch.cat([eps, torch.sigmoid(x)], 1)


def cond_args(n: int) -> dict:
    # conditional text codes are positive, the unconditional one negative
    return {"text": torch.linspace(0.5, 1.0, n), "uncond": {"text": torch.full((n,), -0.5)}}


def sample(sampler: str, guide_at, steps: str = "10", n: int = 3, scale: float = 3.0):
    d = create_diffusion(SCHEDULE[1], SCHEDULE[0], steps)
    model = Counting()
    x = SAMPLERS[sampler].fn(
        classifier_free(model, scale, guide_at), d, (n, 3, 8, 8), cond=cond_args(n),
        generators=row_generators(n, seed=7),
    )  # fmt: skip
    return x, model.calls, [int(t) for t in d.timestep_map]


def test_noise_levels_and_parsing():
    sigma = noise_levels(abar())
    assert sigma.shape == (1000,) and np.all(np.diff(sigma) > 0)  # noisier with t
    assert sigma[0] == pytest.approx(np.sqrt(1e-4 / (1 - 1e-4)))
    interval = GuidanceInterval.parse("0.28,5.42")
    assert (interval.low, interval.high, interval.text()) == (0.28, 5.42, "0.28,5.42")
    mask = interval.timesteps(abar())
    assert mask.dtype == torch.bool and torch.equal(
        mask, torch.from_numpy((sigma >= 0.28) & (sigma <= 5.42))
    )
    assert 0 < int(mask.sum()) < 1000
    for bad in ("1", "a,b", "2,1", "-1,2", "0,inf", "1,1"):
        with pytest.raises(GlideError, match="--guidance-interval"):
            GuidanceInterval.parse(bad)


@pytest.mark.parametrize("sampler", ["ancestral", "ddim", "dpm++2m", "dpm++2m-sde"])
def test_full_interval_equals_no_interval_bit_for_bit(sampler):
    sigma_max = float(noise_levels(abar()).max())
    full = GuidanceInterval(0.0, sigma_max).timesteps(abar())
    assert bool(full.all())
    plain, plain_calls, _ = sample(sampler, None)
    with_full, full_calls, _ = sample(sampler, full)
    assert torch.equal(plain, with_full)
    assert plain_calls == full_calls  # the same 2N-row calls


@pytest.mark.parametrize("sampler", ["ddim", "dpm++2m"])
def test_outside_the_interval_the_unconditional_rows_are_not_evaluated(sampler):
    n = 3
    interval = GuidanceInterval(0.5, 3.0)
    guide_at = interval.timesteps(abar())
    x, calls, timesteps = sample(sampler, guide_at, n=n)
    inside = [bool(guide_at[t]) for t in reversed(timesteps)]  # sampling order
    assert 0 < sum(inside) < len(inside)  # both kinds of steps in this test
    assert len(calls) == len(timesteps)
    for (rows, saw_uncond), guided in zip(calls, inside, strict=True):
        assert rows == (2 * n if guided else n) and saw_uncond == guided
    # the count from the settings is the rows the network saw
    assert sum(r for r, _ in calls) == n * network_evaluations(
        timesteps, guided=True, guide_at=guide_at
    )
    # and the interval changes the images (guidance off at some steps)
    assert not torch.equal(x, sample(sampler, None, n=n)[0])


def test_outside_the_interval_the_output_is_the_conditional_model():
    model = Counting()
    guide_at = torch.zeros(1000, dtype=torch.bool)
    guided = classifier_free(model, 4.0, guide_at)
    x, t = torch.randn(2, 3, 4, 4), torch.tensor([10, 10])
    cond = cond_args(2)
    out = guided(x, t, **cond)
    assert torch.equal(out, model(x, t, text=cond["text"]))
    # rows on both sides of the interval (no sampler makes them): guided inside only
    guide_at[500:] = True
    mixed = classifier_free(model, 4.0, guide_at)(x, torch.tensor([10, 600]), **cond)
    full = classifier_free(model, 4.0)(x, torch.tensor([10, 600]), **cond)
    assert torch.equal(mixed[1], full[1])
    alone = model(x[:1], torch.tensor([10]), text=cond["text"][:1])[0]
    torch.testing.assert_close(mixed[0], alone, rtol=0, atol=1e-6)  # vectorised rounding
    with pytest.raises(GlideError, match="guide_at"):
        classifier_free(model, 2.0, [True, False])


def test_clip_guidance_outside_the_interval_runs_no_clip():
    cfg = CLIP_SMALL.replace(image_size=16, n_xf_blocks_image=1, n_xf_blocks_text=1)
    torch.manual_seed(0)
    clip = glide.build_clip(cfg)
    calls = {"n": 0}
    original = clip.image_embeddings

    def counting(*a, **k):
        calls["n"] += 1
        return original(*a, **k)

    clip.image_embeddings = counting
    try:
        guide_at = torch.zeros(1000, dtype=torch.bool)
        guide_at[:300] = True
        captions = ["a red cube", "a blue ball"]
        x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
        cond_fn = clip_guidance(clip, captions, 2.0, guide_at)
        assert torch.equal(cond_fn(x, torch.tensor([800, 800])), torch.zeros_like(x))
        assert calls["n"] == 0
        inside = cond_fn(x, torch.tensor([100, 100]))
        assert calls["n"] == 1
        assert torch.equal(inside, clip_guidance(clip, captions, 2.0)(x, torch.tensor([100, 100])))
    finally:
        del clip.image_embeddings


# ----- the pipeline -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def golden(reference_dir):
    ref = reference_dir / "golden_small"
    options = json.loads((ref / "config.json").read_text())["options"]
    model = glide.build_model(options)
    model.load_state_dict(torch.load(ref / "state_dict.pt", weights_only=True))
    return model


CAPTIONS = ["a red cube", "a blue ball"]


def test_pipeline_interval(golden, monkeypatch):
    pipe = Text2ImPipeline(golden)
    cfg = golden.config
    sigma = noise_levels(abar(cfg.noise_schedule, cfg.diffusion_steps))
    kw = dict(steps="4", sampler="dpm++2m", scale=3.0)  # sigma 20291, 1.75, 0.59, 0.01
    plain = pipe.generate(CAPTIONS, [1, 2], **kw).base
    full = pipe.generate(CAPTIONS, [1, 2], guidance_interval=(0, sigma.max()), **kw).base
    assert torch.equal(plain, full)

    rows = []
    forward = type(golden).forward

    def counting(self, x, t, **k):
        rows.append(x.shape[0])
        return forward(self, x, t, **k)

    monkeypatch.setattr(type(golden), "forward", counting)
    limited = pipe.generate(CAPTIONS, [1, 2], guidance_interval="0.3,3", **kw).base
    options = {"diffusion_steps": cfg.diffusion_steps, "noise_schedule": cfg.noise_schedule}
    counted = evaluations_per_image(options, steps="4", guidance_interval=(0.3, 3.0))
    assert sum(rows) == len(CAPTIONS) * counted["base"] == len(CAPTIONS) * counted["unet"]
    assert counted["base"] == 4 + 2 and counted["clip_gradients"] == 0
    assert not torch.equal(limited, plain)
    # batch independence: one sample alone is its own row of the batch (float rounding at most)
    rows.clear()
    alone = pipe.generate(CAPTIONS[1:2], [2], guidance_interval="0.3,3", **kw).base
    torch.testing.assert_close(alone[0], limited[1], atol=2e-3, rtol=0)
    assert sum(rows) == counted["base"]
    with pytest.raises(GlideError, match="guidance_interval"):
        pipe.generate(CAPTIONS, [1, 2], guidance="none", guidance_interval=(0.3, 3), **kw)


def test_evaluations_per_image_counts():
    base = {"diffusion_steps": 1000, "noise_schedule": "linear"}
    full = evaluations_per_image(base, base, steps="15", upsample_steps="fast27")
    assert full == {"base": 30, "upsample": 27, "clip_gradients": 0, "unet": 57}
    assert evaluations_per_image(base, steps="15", scale=1.0)["base"] == 15
    clip = evaluations_per_image(base, guidance="clip", steps="15", guidance_interval=(0.3, 3))
    guide_at = guidance_timesteps(1000, "linear", (0.3, 3))
    timesteps = create_diffusion(1000, "linear", "15").timestep_map
    assert clip["base"] == 15
    assert clip["clip_gradients"] == sum(bool(guide_at[int(t)]) for t in timesteps) < 15
