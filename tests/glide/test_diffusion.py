"""GaussianDiffusion in float64 against closed forms derived independently in the tests."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from glide.diffusion import (
    GaussianDiffusion,
    create_diffusion,
    discretized_gaussian_log_likelihood,
    normal_kl,
)
from glide.errors import GlideError

D64 = torch.float64


@pytest.fixture(scope="module")
def d() -> GaussianDiffusion:
    return create_diffusion(1000, "squaredcos_cap_v2", "")


def abar(d: GaussianDiffusion, t: int) -> float:
    """prod_{s<=t} (1 - beta_s), by a plain loop (1.0 for t = -1)."""
    out = 1.0
    for b in d.betas[: t + 1]:
        out *= 1.0 - float(b)
    return out


def batch(n=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    x0 = torch.rand(n, 3, 5, 5, generator=g, dtype=D64) * 2 - 1
    noise = torch.randn(n, 3, 5, 5, generator=g, dtype=D64)
    return x0, noise


def test_q_sample_closed_form_and_moments(d):
    x0, noise = batch()
    t = torch.tensor([0, 10, 500, 999])
    x_t = d.q_sample(x0, t, noise)
    for i, ti in enumerate(t.tolist()):
        a = abar(d, ti)
        expected = math.sqrt(a) * x0[i] + math.sqrt(1 - a) * noise[i]
        torch.testing.assert_close(x_t[i], expected, rtol=1e-12, atol=1e-12)
    # moments of q(x_t | x_0) over many draws
    g = torch.Generator().manual_seed(1)
    x0 = torch.full((200_000, 1, 1, 1), 0.7, dtype=D64)
    t = torch.full((200_000,), 300)
    samples = d.q_sample(x0, t, torch.randn(x0.shape, generator=g, dtype=D64))
    a = abar(d, 300)
    assert samples.mean().item() == pytest.approx(math.sqrt(a) * 0.7, abs=5e-3)
    assert samples.var().item() == pytest.approx(1 - a, rel=1e-2)
    mean, var, log_var = d.q_mean_variance(x0[:2], t[:2])
    assert torch.allclose(var, torch.tensor(1 - a, dtype=D64))
    assert torch.allclose(log_var, torch.tensor(math.log(1 - a), dtype=D64))


@pytest.mark.parametrize("spec", ["", "100", "fast27"])
def test_posterior_equals_bayes_rule(spec):
    """q(x_{t-1}|x_t,x_0) from the product of q(x_{t-1}|x_0) and q(x_t|x_{t-1})."""
    d = create_diffusion(1000, "squaredcos_cap_v2", spec)
    K = d.num_timesteps
    x0, noise = batch()
    x_t = torch.randn(x0.shape, generator=torch.Generator().manual_seed(3), dtype=D64)
    for tk in [1, 2, K // 2, K - 1]:
        t = torch.full((4,), tk)
        a_prev = float(d.alphas_cumprod[tk - 1])
        a_t = 1.0 - float(d.betas[tk])
        beta = float(d.betas[tk])
        precision = 1 / (1 - a_prev) + a_t / beta
        var = 1 / precision
        mean = var * (math.sqrt(a_prev) * x0 / (1 - a_prev) + math.sqrt(a_t) * x_t / beta)
        got_mean, got_var, got_log_var = d.q_posterior_mean_variance(x0, x_t, t)
        torch.testing.assert_close(got_mean, mean, rtol=1e-9, atol=1e-9)
        assert got_var[0, 0, 0, 0].item() == pytest.approx(var, rel=1e-9)
        assert got_log_var[0, 0, 0, 0].item() == pytest.approx(math.log(var), rel=1e-9)
    # t = 0: the posterior is a point mass at x_0; its log-variance is clipped to t = 1's.
    mean, var, log_var = d.q_posterior_mean_variance(x0, x_t, torch.zeros(4, dtype=torch.long))
    torch.testing.assert_close(mean, x0, rtol=1e-12, atol=1e-12)
    assert torch.all(var == 0)
    assert log_var[0, 0, 0, 0].item() == pytest.approx(math.log(d.posterior_variance[1]))


def test_eps_x0_round_trip(d):
    x0, noise = batch()
    t = torch.tensor([0, 1, 600, 999])
    x_t = d.q_sample(x0, t, noise)
    torch.testing.assert_close(d.predict_xstart_from_eps(x_t, t, noise), x0, rtol=0, atol=1e-9)
    torch.testing.assert_close(d.predict_eps_from_xstart(x_t, t, x0), noise, rtol=0, atol=1e-9)


def test_learned_variance_interpolation():
    d = create_diffusion(1000, "squaredcos_cap_v2", "100")  # the RESPACED betas are used
    t = torch.tensor([0, 5, 50, 99])
    shape = (4, 3, 2, 2)
    lo = np.log(np.append(d.posterior_variance[1], d.posterior_variance[1:]))[t.numpy()]
    hi = np.log(d.betas)[t.numpy()]
    for v, expected in [(-1.0, lo), (1.0, hi), (0.0, (lo + hi) / 2), (0.5, 0.75 * hi + 0.25 * lo)]:
        got = d.model_log_variance(torch.full(shape, v, dtype=D64), t)
        np.testing.assert_allclose(got[:, 0, 0, 0].numpy(), expected, rtol=1e-12)
    # the respaced betas are larger than the original ones at the same original step
    full = create_diffusion(1000, "squaredcos_cap_v2", "")
    assert d.betas[50] > full.betas[d.timestep_map[50]] * 5


def test_p_mean_variance_with_true_eps(d):
    x0, noise = batch()
    t = torch.tensor([0, 3, 400, 999])
    x_t = d.q_sample(x0, t, noise)
    v = torch.zeros_like(x0)
    out = d.p_mean_variance(torch.cat([noise, v], 1), x_t, t, clip_denoised=False)
    torch.testing.assert_close(out["pred_xstart"], x0, rtol=0, atol=1e-9)
    mean, _, _ = d.q_posterior_mean_variance(x0, x_t, t)
    torch.testing.assert_close(out["mean"], mean, rtol=0, atol=1e-9)
    torch.testing.assert_close(out["eps"], noise)
    torch.testing.assert_close(out["variance"], out["log_variance"].exp())
    # clamping and denoised_fn (applied before the clamp)
    out = d.p_mean_variance(torch.cat([noise, v], 1), x_t, t, denoised_fn=lambda x: 3 * x)
    torch.testing.assert_close(out["pred_xstart"], (3 * x0).clamp(-1, 1), rtol=0, atol=1e-8)
    assert out["pred_xstart"].abs().max() <= 1


def test_condition_mean_and_score(d):
    x0, noise = batch()
    t = torch.tensor([1, 10, 100, 900])
    x_t = d.q_sample(x0, t, noise)
    out = d.p_mean_variance(torch.cat([noise, torch.zeros_like(x0)], 1), x_t, t)
    grad = torch.randn(x0.shape, dtype=D64)
    shifted = d.condition_mean(out, grad)
    torch.testing.assert_close(shifted, out["mean"] + out["variance"] * grad)
    scored = d.condition_score(out, x_t, t, grad)
    a = torch.tensor([abar(d, i) for i in t.tolist()], dtype=D64).view(-1, 1, 1, 1)
    eps = d.predict_eps_from_xstart(x_t, t, out["pred_xstart"]) - (1 - a).sqrt() * grad
    torch.testing.assert_close(scored["pred_xstart"], (x_t - (1 - a).sqrt() * eps) / a.sqrt())


def test_discretized_likelihood_is_a_distribution_over_256_values():
    values = torch.arange(256, dtype=D64) / 127.5 - 1
    for mean, log_scale in [(0.0, -3.0), (0.3, -5.0), (-0.99, -1.0), (0.5, 1.0)]:
        lp = discretized_gaussian_log_likelihood(
            values, torch.full_like(values, mean), torch.full_like(values, log_scale)
        )
        assert lp.exp().sum().item() == pytest.approx(1.0, abs=1e-9)


def test_normal_kl_closed_form():
    m1, m2 = torch.tensor(0.3, dtype=D64), torch.tensor(-0.2, dtype=D64)
    lv1, lv2 = torch.tensor(-1.0, dtype=D64), torch.tensor(0.5, dtype=D64)
    s1, s2 = math.exp(-0.5), math.exp(0.25)
    expected = math.log(s2 / s1) + (s1**2 + 0.25) / (2 * s2**2) - 0.5
    assert normal_kl(m1, lv1, m2, lv2).item() == pytest.approx(expected, rel=1e-12)
    assert normal_kl(m1, lv1, m1, lv1).item() == 0.0


def test_training_losses_hybrid_objective():
    d = create_diffusion(1000, "squaredcos_cap_v2", "")
    x0 = (
        torch.randint(0, 256, (4, 3, 4, 4), generator=torch.Generator().manual_seed(0)) / 127.5 - 1
    ).to(D64)
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(1), dtype=D64)
    t = torch.tensor([0, 1, 500, 999])
    seen = {}

    def perfect(x_t, tt, **kw):  # true eps, v = -1 -> Sigma = posterior variance
        seen["t"], seen["kw"] = tt, kw
        return torch.cat([noise, -torch.ones_like(x0)], 1)

    out = d.training_losses(perfect, x0, t, noise, {"label": 1})
    assert seen["t"].tolist() == [0, 1, 500, 999] and seen["kw"] == {"label": 1}
    assert torch.all(out["mse"] == 0)
    assert torch.allclose(out["vb"][1:], torch.zeros(3, dtype=D64), atol=1e-10)  # KL = 0
    # t = 0: decoder NLL of x0 under N(x0, beta~_1) in bits/dim, from the bin masses
    sigma = math.sqrt(d.posterior_variance[1])
    lo = torch.where(x0[0] < -0.999, -math.inf, x0[0] - 1 / 255)
    hi = torch.where(x0[0] > 0.999, math.inf, x0[0] + 1 / 255)
    dist = torch.distributions.Normal(x0[0], sigma)
    nll_bits = -(torch.log(dist.cdf(hi) - dist.cdf(lo))).mean() / math.log(2)
    assert out["vb"][0].item() == pytest.approx(nll_bits.item(), rel=1e-6)
    torch.testing.assert_close(out["loss"], out["mse"] + 0.001 * 1000 * out["vb"])


def test_training_losses_stop_gradient_on_eps():
    """The vb term trains only the variance channels (IDDPM sec. 3.1)."""
    d = create_diffusion(1000, "squaredcos_cap_v2", "")
    x0, noise = batch(2)
    t = torch.tensor([3, 700])
    pred = torch.randn(2, 6, 5, 5, dtype=D64, requires_grad=True)
    out = d.training_losses(lambda x, tt: pred * 1.0, x0, t, noise)
    out["loss"].sum().backward()
    mse_grad = 2 * (pred[:, :3].detach() - noise) / (3 * 5 * 5)
    torch.testing.assert_close(pred.grad[:, :3], mse_grad)
    assert pred.grad[:, 3:].abs().sum() > 0


def test_training_losses_on_a_respaced_process_takes_original_steps():
    d = create_diffusion(1000, "squaredcos_cap_v2", "10")
    x0, noise = batch(2)
    got = []
    d.training_losses(
        lambda x, tt: got.append(tt) or torch.zeros(2, 6, 5, 5, dtype=D64),
        x0,
        torch.tensor([111, 999]),
        noise,
    )
    assert got[0].tolist() == [111, 999]
    with pytest.raises(GlideError, match="not all kept"):
        d.training_losses(lambda x, tt: None, x0, torch.tensor([5, 999]), noise)


def test_timestep_map_and_bad_input():
    d = create_diffusion(1000, "squaredcos_cap_v2", "10")
    assert d.timestep_map.dtype == np.int64
    assert d.original_timesteps(torch.tensor([0, 9])).tolist() == [0, 999]
    assert d.index_of_original(torch.tensor([999, 111])).tolist() == [9, 1]
    x = torch.zeros(2, 3, 4, 4)
    with pytest.raises(GlideError, match="steps 0..9"):
        d.q_sample(x, torch.tensor([0, 10]), x)
    with pytest.raises(GlideError, match=r"shape \[N\]=\[2\]"):
        d.q_sample(x, torch.tensor([0, 1, 2]), x)
    with pytest.raises(GlideError, match="noise shape"):
        d.q_sample(x, torch.tensor([0, 1]), x[:1])
    with pytest.raises(GlideError, match=r"\[N, 2C, H, W\]"):
        d.p_mean_variance(torch.zeros(2, 3, 4, 4), x, torch.tensor([0, 1]))
    with pytest.raises(GlideError, match="betas"):
        GaussianDiffusion(np.array([0.1, 1.5]))


def test_float32_coefficients_make_the_last_step_exact():
    """At t=0 the posterior mean coefficients are exactly 1 and 0 in float32, so x_0 passes
    through unchanged (inpainting relies on it)."""
    for schedule in ["squaredcos_cap_v2", "linear"]:
        for spec in ["", "100", "fast27", "27"]:
            d = create_diffusion(1000, schedule, spec)
            x0 = torch.rand(2, 3, 4, 4) * 2 - 1
            x_t = torch.randn(2, 3, 4, 4)
            mean, _, _ = d.q_posterior_mean_variance(x0, x_t, torch.zeros(2, dtype=torch.long))
            assert torch.equal(mean, x0)
