"""The sampler registry (glide.samplers.SAMPLERS) and the randomness contract every registered
sampler shares (noise, noise_sampler, generators), DPM-Solver++ included."""

from __future__ import annotations

import argparse

import pytest
import torch

from glide.diffusion import create_diffusion
from glide.dpm_solver import sample_dpmpp_2m, sample_dpmpp_2m_sde
from glide.errors import GlideError
from glide.samplers import SAMPLERS, get_sampler, register_sampler
from glide.sampling import row_generators

ABAR = torch.from_numpy(create_diffusion(1000, "linear", "").alphas_cumprod)
SHAPE = (3, 3, 4, 4)
STEPS = 6


def toy_eps(x: torch.Tensor, t: torch.Tensor, **_) -> torch.Tensor:
    """eps of Gaussian data N(0.3, 0.5^2), with a small nonlinearity so the x_0 clamp matters."""
    a = ABAR[t].reshape(-1, 1, 1, 1).to(x.dtype)
    alpha, sigma = a.sqrt(), (1 - a).sqrt()
    eps = sigma * (x - alpha * 0.3) / (alpha**2 * 0.25 + sigma**2) + 0.05 * torch.sin(3 * x)
    return torch.cat([eps, torch.zeros_like(x)], dim=1)


def test_the_registry_is_what_the_pipeline_clis_and_bench_offer():
    from bench.spec import SAMPLERS as BENCH_SAMPLERS
    from glide.cli.sample import build_parser
    from glide.pipeline import SAMPLERS as PIPELINE_SAMPLERS

    assert list(SAMPLERS) == ["ancestral", "ddim", "dpm++2m", "dpm++2m-sde"]
    assert PIPELINE_SAMPLERS is SAMPLERS and BENCH_SAMPLERS is SAMPLERS
    action = next(a for a in build_parser()._actions if a.dest == "sampler")
    assert list(action.choices) == list(SAMPLERS)
    assert [s.name for s in SAMPLERS.values() if s.takes_eta] == ["ddim"]
    assert {s.name for s in SAMPLERS.values() if s.stochastic} == {"ancestral", "dpm++2m-sde"}
    assert get_sampler("dpm++2m").fn is sample_dpmpp_2m
    assert get_sampler("dpm++2m-sde").fn is sample_dpmpp_2m_sde
    with pytest.raises(TypeError):
        SAMPLERS["mine"] = SAMPLERS["ddim"]  # read-only


def test_unknown_and_duplicate_names_are_refused():
    with pytest.raises(GlideError, match=r"upsample_sampler='euler' is invalid; choose one of "
                       r"\['ancestral', 'ddim', 'dpm\+\+2m', 'dpm\+\+2m-sde'\]"):  # fmt: skip
        get_sampler("euler", "upsample_sampler")
    with pytest.raises(GlideError, match="'ddim' is already registered"):
        register_sampler("ddim", stochastic=False, description="another")(lambda *a, **k: None)
    assert get_sampler("ddim").description.startswith("DDIM")


def test_cli_refuses_eta_for_a_sampler_that_does_not_take_it():
    from glide.cli.common import check_common

    args = argparse.Namespace(batch_size=1, eta=0.5, sampler="dpm++2m-sde", device="cpu")
    with pytest.raises(GlideError, match=r"--eta=0.5 is invalid with --sampler dpm\+\+2m-sde"):
        check_common(args)
    check_common(argparse.Namespace(batch_size=1, eta=0.5, sampler="ddim", device="cpu"))


def _run(name: str, **kw) -> torch.Tensor:
    extra = {"eta": 0.7} if get_sampler(name).takes_eta else {}
    d = create_diffusion(1000, "linear", str(STEPS))
    return get_sampler(name).fn(toy_eps, d, SHAPE, dtype=torch.float64, **extra, **kw)


@pytest.mark.parametrize("name", list(SAMPLERS))
def test_every_sampler_replays_its_noise_through_noise_sampler(name):
    """Record x_T and each step's noise (callback "noise") from per-row generators, then hand
    them back through ``noise`` and ``noise_sampler``: the same sample, bit for bit. The
    noise_sampler is called once per step that uses noise, in order."""
    steps: list[dict] = []
    first = _run(name, generators=row_generators(SHAPE[0], seed=5), callback=steps.append)
    x_T = row_generators(SHAPE[0], seed=5)
    x_T = torch.stack([torch.randn(SHAPE[1:], generator=g, dtype=torch.float64) for g in x_T])
    assert torch.equal(steps[0]["x_t"], x_T)  # x_T is each row's first draw
    drawn = {s["step"]: s["noise"] for s in steps if s["noise"] is not None}
    calls: list[int] = []

    def replay(i: int) -> torch.Tensor:
        calls.append(i)
        return drawn[i]

    again = _run(name, noise=x_T, noise_sampler=replay)
    assert torch.equal(again, first)
    assert calls == sorted(drawn)
    if name in ("ancestral", "ddim"):
        assert calls == list(range(STEPS))  # one draw per step, the last one included
    elif name == "dpm++2m-sde":
        assert calls == list(range(STEPS - 1))  # none into sigma = 0
    else:
        assert calls == []  # the ODE solver draws nothing after x_T


@pytest.mark.parametrize("name", list(SAMPLERS))
def test_every_sampler_is_batch_independent_with_per_row_generators(name):
    together = _run(name, generators=row_generators(SHAPE[0], seed=9))
    d = create_diffusion(1000, "linear", str(STEPS))
    extra = {"eta": 0.7} if get_sampler(name).takes_eta else {}
    row = get_sampler(name).fn(
        toy_eps, d, (1, *SHAPE[1:]), generators=[torch.Generator().manual_seed(10)],
        dtype=torch.float64, **extra,
    )  # fmt: skip
    torch.testing.assert_close(row[0], together[1], rtol=0, atol=1e-12)


def test_dpmpp_2m_sde_noise_sampler_drives_the_step_noise():
    """The SDE solver's step noise comes from noise_sampler when given (not from generators):
    other noise gives another sample; zero noise is not the ODE solution either (eta scales the
    deterministic part too); a wrongly shaped draw is refused with the step index."""
    d = create_diffusion(1000, "linear", str(STEPS))
    x_T = torch.randn(SHAPE, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    zs = torch.randn(
        (STEPS, *SHAPE), generator=torch.Generator().manual_seed(2), dtype=torch.float64
    )
    kw = dict(noise=x_T, dtype=torch.float64)
    a = sample_dpmpp_2m_sde(toy_eps, d, SHAPE, noise_sampler=lambda i: zs[i], **kw)
    gens = row_generators(SHAPE[0], seed=123)  # unused: noise_sampler wins
    assert torch.equal(a, sample_dpmpp_2m_sde(toy_eps, d, SHAPE, noise_sampler=lambda i: zs[i],
                                              generators=gens, **kw))  # fmt: skip
    b = sample_dpmpp_2m_sde(toy_eps, d, SHAPE, noise_sampler=lambda i: -zs[i], **kw)
    assert (a - b).abs().max() > 1e-2
    zero = sample_dpmpp_2m_sde(toy_eps, d, SHAPE, noise_sampler=lambda i: 0 * zs[i], **kw)
    ode = sample_dpmpp_2m(toy_eps, d, SHAPE, **kw)
    assert (zero - ode).abs().max() > 1e-3
    # eta = 0 is the ODE solver and never asks for noise
    assert torch.equal(
        sample_dpmpp_2m_sde(toy_eps, d, SHAPE, eta=0.0, noise_sampler=lambda i: 1 / 0, **kw), ode
    )
    with pytest.raises(GlideError, match=r"noise_sampler\(0\) returned shape \(3, 4, 4\)"):
        sample_dpmpp_2m_sde(toy_eps, d, SHAPE, noise_sampler=lambda i: zs[i][0], **kw)
