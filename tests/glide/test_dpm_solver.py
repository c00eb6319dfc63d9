"""DPM-Solver++(2M) (glide.dpm_solver): convergence to the exact probability-flow ODE solution on
Gaussian data (closed-form eps), order of accuracy against DDIM, a step-by-step replay against
the paper's algorithm written independently in float64 numpy, determinism, CLIP guidance in
score form, wiring as sampler "dpm++2m", and error messages."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

import glide
from glide.diffusion import GaussianDiffusion, create_diffusion
from glide.dpm_solver import sample_dpmpp_2m, sample_dpmpp_2m_sde
from glide.errors import GlideError
from glide.guidance import classifier_free
from glide.pipeline import SAMPLERS, Text2ImPipeline
from glide.sampling import row_generators, sample_ddim
from glide.text2im import TextEncoding
from glide.tokenizer import get_glide_tokenizer

# ----- a toy problem with a known answer ------------------------------------------------------
# Data x_0 ~ N(MU, S^2) per pixel. Then x_t ~ N(alpha MU, v) with v = alpha^2 S^2 + sigma^2 and the
# exact eps-prediction is E[eps | x_t] = sigma (x_t - alpha MU) / v. The probability-flow ODE is
# the monotone (affine) transport between these Gaussians, so along it the standardised value
# y = (x_t - alpha MU) / sqrt(v) is constant. Every respacing "N" keeps original steps 999 and 0;
# the samplers' last update is the data prediction at step 0, so the exact answer for a given x_T
# is that prediction at the ODE's exact x at step 0.
MU, S = 0.3, 0.5
FULL = create_diffusion(1000, "squaredcos_cap_v2", "")
ABAR = torch.from_numpy(FULL.alphas_cumprod)


def gaussian_eps(x: torch.Tensor, t: torch.Tensor, **_) -> torch.Tensor:
    a = ABAR[t].reshape(-1, 1, 1, 1).to(x.dtype)
    alpha, sigma = a.sqrt(), (1 - a).sqrt()
    eps = sigma * (x - alpha * MU) / (alpha**2 * S**2 + sigma**2)
    return torch.cat([eps, torch.zeros_like(x)], dim=1)  # variance half: ignored


def exact_answer(x_T: torch.Tensor) -> torch.Tensor:
    def moments(a: float) -> tuple[float, float]:
        return math.sqrt(a), math.sqrt(a * S**2 + 1 - a)

    a_T, a_0 = float(ABAR[999]), float(ABAR[0])
    alpha_T, sd_T = moments(a_T)
    alpha_0, sd_0 = moments(a_0)
    x_0 = alpha_0 * MU + sd_0 * (x_T - alpha_T * MU) / sd_T  # exact ODE value at step 0
    return MU + alpha_0 * S**2 * (x_0 - alpha_0 * MU) / sd_0**2  # E[x_0 | x at step 0]


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """These tiny networks run fastest on one thread (and do not fight other jobs for cores)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def x_T() -> torch.Tensor:
    return torch.randn(4, 3, 8, 8, generator=torch.Generator().manual_seed(0), dtype=torch.float64)


def _error(sampler, steps: int, x_T: torch.Tensor, **kw) -> float:
    d = create_diffusion(1000, "squaredcos_cap_v2", str(steps))
    out = sampler(
        gaussian_eps, d, x_T.shape, noise=x_T, clip_denoised=False, dtype=torch.float64, **kw
    )
    return (out - exact_answer(x_T)).abs().max().item()


def test_converges_to_the_exact_ode_solution_faster_than_ddim(x_T):
    steps = [10, 15, 20, 40, 80]
    dpm = [_error(sample_dpmpp_2m, k, x_T) for k in steps]
    ddim = [_error(sample_ddim, k, x_T) for k in steps]
    assert all(b < a for a, b in zip(dpm, dpm[1:], strict=False)), dpm  # error decreases
    assert all(e < f for e, f in zip(dpm, ddim, strict=True)), (dpm, ddim)
    assert dpm[2] < 0.1 * ddim[2]  # 20 steps: an order of magnitude closer than DDIM
    assert dpm[2] < _error(sample_ddim, 100, x_T)  # 20 dpm++2m steps beat 100 DDIM steps


def test_second_order_without_lower_order_final(x_T):
    """Halving the step size divides the error by ~4 (second order) vs ~2 for DDIM."""
    steps = [40, 80, 160]
    dpm = [_error(sample_dpmpp_2m, k, x_T, lower_order_final=False) for k in steps]
    ddim = [_error(sample_ddim, k, x_T) for k in steps]
    dpm_order = [math.log2(a / b) for a, b in zip(dpm, dpm[1:], strict=False)]
    ddim_order = [math.log2(a / b) for a, b in zip(ddim, ddim[1:], strict=False)]
    assert min(dpm_order) > 1.7, dpm_order
    assert max(ddim_order) < 1.3, ddim_order


def test_converges_to_the_ddim_result_as_steps_grow(x_T):
    d_ref = create_diffusion(1000, "squaredcos_cap_v2", "1000")
    ddim = sample_ddim(gaussian_eps, d_ref, x_T.shape, noise=x_T, clip_denoised=False,
                       dtype=torch.float64)  # fmt: skip
    gaps = []
    for steps in (10, 40, 200):
        d = create_diffusion(1000, "squaredcos_cap_v2", str(steps))
        out = sample_dpmpp_2m(gaussian_eps, d, x_T.shape, noise=x_T, clip_denoised=False,
                              dtype=torch.float64)  # fmt: skip
        gaps.append((out - ddim).abs().max().item())
    assert gaps[0] > gaps[1] > gaps[2] and gaps[2] < 5e-3, gaps


# ----- DPM-Solver++(2M) SDE -------------------------------------------------------------------


def test_sde_with_eta_zero_is_the_ode_solver(x_T):
    d = create_diffusion(1000, "squaredcos_cap_v2", "12")
    kw = dict(noise=x_T, clip_denoised=False, dtype=torch.float64)
    ode = sample_dpmpp_2m(gaussian_eps, d, x_T.shape, **kw)
    assert torch.equal(sample_dpmpp_2m_sde(gaussian_eps, d, x_T.shape, eta=0.0, **kw), ode)
    sde = sample_dpmpp_2m_sde(gaussian_eps, d, x_T.shape, **kw)  # eta = 1: fresh noise per step
    assert (sde - ode).abs().max() > 0.05


def sde_moments(steps: int) -> tuple[float, float]:
    d = create_diffusion(1000, "squaredcos_cap_v2", str(steps))
    gens = row_generators(256, seed=10)
    out = sample_dpmpp_2m_sde(gaussian_eps, d, (256, 3, 8, 8), generators=gens,
                              clip_denoised=False, dtype=torch.float64)  # fmt: skip
    return out.mean().item(), out.std().item()


def test_sde_samples_the_data_distribution_as_steps_grow():
    """On Gaussian data with the exact eps, the SDE solver's samples are N(MU, S^2): the error
    of their spread falls with the step count (49,152 values: standard error of the std about
    0.0016, of the mean 0.0023)."""
    moments = {k: sde_moments(k) for k in (20, 50, 200)}
    errors = [abs(sd - S) for _, sd in moments.values()]
    assert errors[0] > errors[1] > errors[2], moments
    assert errors[0] < 0.03 and errors[2] < 0.005, moments
    assert all(abs(mean - MU) < 0.008 for mean, _ in moments.values()), moments


# ----- the golden_small model: replay against the algorithm, determinism -------------------


@pytest.fixture(scope="module")
def golden(reference_dir):
    ref = reference_dir / "golden_small"
    model = glide.build_model(json.loads((ref / "config.json").read_text())["options"])
    model.load_state_dict(torch.load(ref / "state_dict.pt", weights_only=True))
    return model


@pytest.fixture(scope="module")
def texts(golden):
    tokens, mask = get_glide_tokenizer().encode_batch(
        ["an oil painting of a corgi", "a red cube", ""], golden.config.text_ctx
    )
    with torch.no_grad():
        return golden.encode_text(tokens, mask)


def test_replay_against_algorithm_2_in_numpy(golden, texts):
    """Every step of ours vs Lu et al. 2022 alg. 2 (float64 numpy) from the same x_t, with CFG
    and the x_0 clamp; the first step and the step into t=0 are first order."""
    spec, scale, n = "10", 3.0, 2
    d = create_diffusion(1000, "squaredcos_cap_v2", spec)
    keep = [int(t) for t in d.timestep_map]
    abar = FULL.alphas_cumprod[keep]  # float64, ascending t
    x_T = torch.randn(n, 3, 16, 16, generator=torch.Generator().manual_seed(5))
    cond = {"text": texts[:2], "uncond": {"text": texts[[2, 2]]}}
    steps: list[dict] = []
    final = sample_dpmpp_2m(classifier_free(golden, scale), d, x_T.shape, noise=x_T, cond=cond,
                            callback=steps.append)  # fmt: skip
    assert [s["t"] for s in steps] == keep[::-1]
    assert torch.equal(final, steps[-1]["sample"])

    lam = np.log(np.sqrt(abar)) - np.log(np.sqrt(1 - abar))
    prev_x0, prev_h = None, None
    for i, info in enumerate(steps):
        k = len(keep) - 1 - i
        x = info["x_t"].double().numpy()
        t = torch.full((n,), keep[k])
        with torch.no_grad():
            both = golden(
                torch.cat([info["x_t"]] * 2),
                torch.cat([t, t]),
                text=TextEncoding.cat([texts[:2], texts[[2, 2]]]),
            ).double()
        eps = both[n:, :3] + scale * (both[:n, :3] - both[n:, :3])
        x0 = np.clip((x - math.sqrt(1 - abar[k]) * eps.numpy()) / math.sqrt(abar[k]), -1, 1)
        if k == 0:
            want = x0
        else:
            h = lam[k - 1] - lam[k]
            if prev_x0 is None or k == 1:
                D = x0
            else:
                r = prev_h / h
                D = (1 + 1 / (2 * r)) * x0 - 1 / (2 * r) * prev_x0
            ratio = math.sqrt(1 - abar[k - 1]) / math.sqrt(1 - abar[k])
            want = ratio * x - math.sqrt(abar[k - 1]) * (math.exp(-h) - 1) * D
            prev_h = h
        prev_x0 = x0
        diff = np.abs(info["sample"].double().numpy() - want).max()
        assert diff < 1e-5, f"step {i} (t={keep[k]}): max |ours - algorithm 2| = {diff}"


def test_deterministic_given_the_noise(golden, texts):
    d = create_diffusion(1000, "squaredcos_cap_v2", "6")
    x_T = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    cond = {"text": texts[:2]}
    first = sample_dpmpp_2m(golden, d, x_T.shape, noise=x_T, cond=cond)
    torch.manual_seed(123)  # the global generator plays no part
    torch.randn(10)
    again = sample_dpmpp_2m(golden, d, x_T.shape, noise=x_T, cond=cond)
    assert torch.equal(first, again)
    gens = [torch.Generator().manual_seed(s) for s in (4, 5)]
    from_gens = sample_dpmpp_2m(golden, d, x_T.shape, generators=gens, cond=cond)
    gens = [torch.Generator().manual_seed(s) for s in (4, 5)]
    assert torch.equal(from_gens, sample_dpmpp_2m(golden, d, x_T.shape, generators=gens,
                                                  cond=cond))  # fmt: skip
    alone = sample_dpmpp_2m(golden, d, (1, 3, 16, 16), cond={"text": texts[1:2]},
                            generators=[torch.Generator().manual_seed(5)])  # fmt: skip
    torch.testing.assert_close(alone[0], from_gens[1], rtol=0, atol=1e-4)
    assert (first - from_gens).abs().max() > 0.1


def test_sde_is_seeded_per_row(golden, texts):
    """Same generators, same images; a row alone equals that row in a batch (the step noise
    comes from the row's own generator, after its x_T)."""
    d = create_diffusion(1000, "squaredcos_cap_v2", "6")
    cond = {"text": texts[:2]}

    def run(seeds, text=cond):
        gens = [torch.Generator().manual_seed(s) for s in seeds]
        return sample_dpmpp_2m_sde(golden, d, (len(seeds), 3, 16, 16), generators=gens, cond=text)

    first = run((4, 5))
    assert torch.equal(first, run((4, 5)))
    alone = run((5,), {"text": texts[1:2]})
    torch.testing.assert_close(alone[0], first[1], rtol=0, atol=1e-4)
    gens = [torch.Generator().manual_seed(s) for s in (4, 5)]
    ode = sample_dpmpp_2m(golden, d, (2, 3, 16, 16), cond=cond, generators=gens)
    assert (first - ode).abs().max() > 0.05


def test_clip_guidance_acts_in_score_form(x_T):
    """With a cond_fn returning g, the sampler equals one whose eps is eps - sqrt(1-abar) g."""
    d = create_diffusion(1000, "squaredcos_cap_v2", "8")
    grad = torch.randn(x_T.shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64)

    def shifted(x, t, **_):
        out = gaussian_eps(x, t)
        a = ABAR[t].reshape(-1, 1, 1, 1).to(x.dtype)
        return torch.cat([out[:, :3] - (1 - a).sqrt() * grad, out[:, 3:]], dim=1)

    kw = dict(noise=x_T, clip_denoised=False, dtype=torch.float64)
    guided = sample_dpmpp_2m(gaussian_eps, d, x_T.shape, cond_fn=lambda x, t: grad, **kw)
    torch.testing.assert_close(guided, sample_dpmpp_2m(shifted, d, x_T.shape, **kw))
    assert (guided - sample_dpmpp_2m(gaussian_eps, d, x_T.shape, **kw)).abs().max() > 1e-2


def test_pipeline_and_clis_offer_the_sampler(golden):
    assert {"dpm++2m", "dpm++2m-sde"} <= set(SAMPLERS)
    from bench.spec import SAMPLERS as BENCH_SAMPLERS
    from bench.sweep_options import build_parser as sweep_parser
    from glide.cli.sample import build_parser as sample_parser

    assert {"dpm++2m", "dpm++2m-sde"} <= set(BENCH_SAMPLERS)
    assert sample_parser().parse_args(["--prompt", "a", "--sampler", "dpm++2m"]).sampler
    assert sweep_parser().parse_args(["--sampler", "dpm++2m-sde"]).sampler == "dpm++2m-sde"
    size = golden.config.image_size
    clip = glide.build_clip(glide.clip.CLIP_SMALL.replace(image_size=size, n_xf_blocks_image=1,
                                                          n_xf_blocks_text=1))  # fmt: skip
    pipe = Text2ImPipeline(golden, clip=clip)
    captions, seeds = ["a red cube", "a blue ball"], [1, 2]
    for sampler in ("dpm++2m", "dpm++2m-sde"):
        for guidance in ("cfg", "clip"):
            kw = dict(guidance=guidance, scale=2.0, sampler=sampler, steps="5")
            images = pipe(captions, seeds, **kw)
            assert images.shape == (2, size, size, 3)
            assert np.array_equal(images, pipe(captions, seeds, **kw))


def test_errors():
    with pytest.raises(GlideError, match="at least 2"):
        sample_dpmpp_2m(gaussian_eps, create_diffusion(1000, "squaredcos_cap_v2", "1"),
                        (1, 3, 4, 4))  # fmt: skip
    betas = np.array([0.1, 0.2])
    no_zero = GaussianDiffusion(betas, timestep_map=np.array([5, 10]), original_num_steps=20)
    with pytest.raises(GlideError, match="original step 5, not 0"):
        sample_dpmpp_2m(gaussian_eps, no_zero, (1, 3, 4, 4))
    d = create_diffusion(1000, "squaredcos_cap_v2", "4")
    with pytest.raises(GlideError, match="noise has shape"):
        sample_dpmpp_2m(gaussian_eps, d, (1, 3, 4, 4), noise=torch.zeros(2, 3, 4, 4))
    with pytest.raises(GlideError, match="expected \\[N, 2C, H, W\\]"):
        sample_dpmpp_2m(lambda x, t: x, d, (1, 3, 4, 4))
    with pytest.raises(GlideError, match="GaussianDiffusion"):
        sample_dpmpp_2m(gaussian_eps, "10", (1, 3, 4, 4))
    for eta in (-0.1, 1.5, "1", True):
        with pytest.raises(GlideError, match="eta="):
            sample_dpmpp_2m_sde(gaussian_eps, d, (1, 3, 4, 4), eta=eta)


def test_pipeline_step_errors(golden):
    pipe = Text2ImPipeline(golden)
    with pytest.raises(GlideError, match="at least 2"):
        pipe(["a"], [0], sampler="dpm++2m", steps="1")
    with pytest.raises(GlideError, match="steps='0'"):
        pipe(["a"], [0], sampler="dpm++2m", steps="0")
    with pytest.raises(GlideError, match="dpm\\+\\+2m"):
        pipe(["a"], [0], sampler="dpm++3m", steps="10")
