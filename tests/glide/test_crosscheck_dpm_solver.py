"""Cross-check of glide.dpm_solver against an outside implementation: diffusers'
``DPMSolverMultistepScheduler`` (``solver_order=2``, ``solver_type="midpoint"``, algorithm
``dpmsolver++`` for the ODE solver and ``sde-dpmsolver++`` for the SDE solver).

Both solvers integrate the same problem: Gaussian data x_0 ~ N(MU, S^2) per pixel, whose exact
eps prediction at step t is ``sigma_t (x_t - alpha_t MU) / (alpha_t^2 S^2 + sigma_t^2)``, on
GLIDE's own schedules (the linear one of the embedded default and the cosine one of the
official models, 1000 steps), on GLIDE's respaced time grid (diffusers is given the same
timesteps), from the same x_T; the SDE solvers also get the same fresh noise at every step
(glide draws it, the test records it and hands it to diffusers as ``variance_noise``).
No clamping on either side (``clip_denoised=False``; diffusers ``thresholding=False``).

Tolerances. diffusers computes in float32 (its sigmas and samples are float32), glide here in
float64, so the two agree up to float32 rounding, amplified by the data prediction
``x0 = (x_t - sigma eps) / alpha``, which divides by alpha_T = 6e-3 (linear) or 5e-5 (cosine)
at the first step, and by the second-order step into original step 0 (weight 1/(2r) > 2 on a
difference of data predictions). Measured max |difference| over 4 x 3 x 8 x 8 values of order
1, at 10, 15 and 20 steps (2026-12-06, diffusers 0.42.1, torch 2.13 CPU): 1e-6 to 3.5e-5 on
the linear schedule, 1.5e-5 to 4.9e-4 on the cosine one, ODE and SDE alike. The tolerances
(``TOL``) are about 6x the largest: 2e-4 (linear) and 3e-3 (cosine). Each test also checks that
the tolerance has power: a real difference in the algorithm (the first- vs second-order step
into original step 0, glide's ``lower_order_final``: 0.16 to 0.95) or in the noise (another
noise per step: 1.8 to 3.8) moves the result by far more than the tolerance.

Step order. diffusers with ``solver_order=2`` and ``final_sigmas_type="zero"`` takes a first
order first step, second-order steps after it, and a first-order last step to sigma = 0 (the
data prediction itself): that is glide with ``lower_order_final=False``. glide's default
(``lower_order_final=True``) also makes the step INTO original step 0 first order; diffusers
is made to do the same by resetting its warm-up counter ``lower_order_nums`` before that step
(the counter that makes its first step first order).
"""

from __future__ import annotations

import pytest
import torch

from glide.diffusion import create_diffusion
from glide.dpm_solver import sample_dpmpp_2m, sample_dpmpp_2m_sde

diffusers = pytest.importorskip(
    "diffusers",
    reason="diffusers is not installed: pip install diffusers (test-only cross-check of "
    "glide.dpm_solver against DPMSolverMultistepScheduler)",
)

MU, S = 0.3, 0.5
# max |glide - diffusers| allowed, by noise schedule (see the module docstring)
TOL = {"linear": 2e-4, "squaredcos_cap_v2": 3e-3}
SHAPE = (4, 3, 8, 8)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _abar(schedule: str) -> torch.Tensor:
    return torch.from_numpy(create_diffusion(1000, schedule, "").alphas_cumprod)


def _eps_fn(schedule: str):
    """The exact eps prediction of Gaussian data at ORIGINAL timestep t (float64)."""
    abar = _abar(schedule)

    def eps(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        a = abar[t.long()].reshape(-1, 1, 1, 1)
        alpha, sigma = a.sqrt(), (1 - a).sqrt()
        x = x.double()
        return sigma * (x - alpha * MU) / (alpha**2 * S**2 + sigma**2)

    return eps


def _glide(schedule: str, steps: int, x_T, *, sde: bool, lower_order_final: bool, gens=None):
    d = create_diffusion(1000, schedule, str(steps))
    eps = _eps_fn(schedule)

    def denoiser(x, t, **_):
        e = eps(x, t)
        return torch.cat([e, torch.zeros_like(e)], dim=1)  # variance half: ignored

    kw = dict(noise=x_T, clip_denoised=False, lower_order_final=lower_order_final)
    kw["dtype"] = torch.float64
    if sde:
        return sample_dpmpp_2m_sde(denoiser, d, x_T.shape, eta=1.0, generators=gens, **kw), d
    return sample_dpmpp_2m(denoiser, d, x_T.shape, **kw), d


def _diffusers(schedule: str, d, x_T, *, sde: bool, lower_order_final: bool, noises=None):
    from diffusers import DPMSolverMultistepScheduler

    betas = create_diffusion(1000, schedule, "").betas
    sched = DPMSolverMultistepScheduler(
        num_train_timesteps=1000,
        trained_betas=betas.tolist(),
        solver_order=2,
        algorithm_type="sde-dpmsolver++" if sde else "dpmsolver++",
        solver_type="midpoint",
        prediction_type="epsilon",
        thresholding=False,
        lower_order_final=True,
        final_sigmas_type="zero",
    )
    # glide's respaced grid, noisiest first (original timesteps)
    timesteps = [int(t) for t in reversed(d.timestep_map.tolist())]
    sched.set_timesteps(timesteps=timesteps)
    assert sched.timesteps.tolist() == timesteps
    eps = _eps_fn(schedule)
    x = x_T.float()
    for i, t in enumerate(sched.timesteps):
        if lower_order_final and i == len(timesteps) - 2:
            sched.lower_order_nums = 0  # first-order step into original step 0 (as glide)
        model_output = eps(x, torch.full((x.shape[0],), int(t))).float()
        kw = {"variance_noise": noises[i]} if sde else {}
        x = sched.step(model_output, t, x, **kw).prev_sample
    return x.double()


@pytest.fixture(scope="module")
def x_T() -> torch.Tensor:
    return torch.randn(SHAPE, generator=torch.Generator().manual_seed(0), dtype=torch.float64)


@pytest.mark.parametrize("schedule", ["linear", "squaredcos_cap_v2"])
@pytest.mark.parametrize("steps", [10, 20])
def test_ode_solver_matches_diffusers_dpmsolverpp_2m(schedule, steps, x_T):
    tol = TOL[schedule]
    results = {}
    for lof in (False, True):
        ours, d = _glide(schedule, steps, x_T, sde=False, lower_order_final=lof)
        theirs = _diffusers(schedule, d, x_T, sde=False, lower_order_final=lof)
        gap = (ours - theirs).abs().max().item()
        assert gap < tol, (schedule, steps, lof, gap)
        results[lof] = ours
    # power: the one-step difference between the two step orders is far above the tolerance
    assert (results[True] - results[False]).abs().max().item() > 20 * tol


class _NoiseRecorder:
    """Wraps glide.sampling.randn_rows (which draws every sampler's step noise) and keeps every
    noise tensor it returns, in order."""

    def __init__(self, real):
        self.real, self.draws = real, []

    def __call__(self, *args, **kwargs):
        z = self.real(*args, **kwargs)
        self.draws.append(z.clone())
        return z


@pytest.mark.parametrize("schedule", ["linear", "squaredcos_cap_v2"])
@pytest.mark.parametrize("lower_order_final", [False, True])
def test_sde_solver_matches_diffusers_sde_dpmsolverpp_2m_with_the_same_noise(
    schedule, lower_order_final, x_T, monkeypatch
):
    import glide.sampling as sampling
    from glide.sampling import row_generators

    recorder = _NoiseRecorder(sampling.randn_rows)
    monkeypatch.setattr(sampling, "randn_rows", recorder)
    steps = 15
    gens = row_generators(SHAPE[0])
    ours, d = _glide(schedule, steps, x_T, sde=True, lower_order_final=lower_order_final, gens=gens)
    # glide draws fresh noise on every step but the last (to sigma = 0, which adds none)
    assert len(recorder.draws) == steps - 1
    noises = recorder.draws + [torch.zeros(SHAPE, dtype=torch.float64)]
    theirs = _diffusers(
        schedule, d, x_T, sde=True, lower_order_final=lower_order_final, noises=noises
    )
    tol = TOL[schedule]
    gap = (ours - theirs).abs().max().item()
    assert gap < tol, (schedule, lower_order_final, gap)
    # power: other noise gives a different sample, far outside the tolerance
    shuffled = [z.flip(0) for z in noises]
    other = _diffusers(
        schedule, d, x_T, sde=True, lower_order_final=lower_order_final, noises=shuffled
    )
    assert (other - theirs).abs().max().item() > 100 * tol


def test_sde_solver_samples_the_same_distribution_as_diffusers_with_its_own_noise():
    """Independent noise on each side (glide: its per-row generators; diffusers: its own
    ``generator``), diffusers left at its defaults for ``sde-dpmsolver++`` order 2, glide in the
    same step order (``lower_order_final=False``), 20 steps of the linear schedule. Each side
    gives 4 x 3 x 16 x 16 = 3,072 independent values (the data and the noise are per pixel), and
    the two sets must look drawn from one distribution: means and standard deviations within 5
    standard errors of their difference, and a two-sample Kolmogorov-Smirnov test not rejecting
    at the 0.1% level. At 20 steps this distribution is not yet the data's N(0.3, 0.5^2): both
    give a standard deviation of about 0.75 (measured: 0.75-0.76 on both sides over three seed
    sets); the second-order step into original step 0 overshoots, and glide's default
    (``lower_order_final=True``, about 0.47 here) avoids it: the same test on that variant must
    reject, which shows the test has power."""
    from diffusers import DPMSolverMultistepScheduler
    from scipy.stats import ks_2samp

    from glide.sampling import row_generators

    schedule, steps, shape = "linear", 20, (4, 3, 16, 16)
    x_T = torch.randn(shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    ours = {
        lof: _glide(
            schedule, steps, x_T, sde=True, lower_order_final=lof, gens=row_generators(4, seed=10)
        )[0]
        for lof in (False, True)
    }
    d = create_diffusion(1000, schedule, str(steps))
    sched = DPMSolverMultistepScheduler(
        trained_betas=create_diffusion(1000, schedule, "").betas.tolist(),
        solver_order=2,
        algorithm_type="sde-dpmsolver++",
    )
    sched.set_timesteps(timesteps=[int(t) for t in reversed(d.timestep_map.tolist())])
    eps, gen = _eps_fn(schedule), torch.Generator().manual_seed(3)
    x = torch.randn(shape, generator=torch.Generator().manual_seed(2)).float()
    for t in sched.timesteps:
        x = sched.step(eps(x, torch.full((shape[0],), int(t))).float(), t, x, generator=gen)[0]
    theirs = x.double().flatten()

    def same_distribution(a: torch.Tensor) -> bool:
        a = a.flatten()
        n, sd = a.numel(), float(theirs.std())
        se_mean_diff = (2 / n) ** 0.5 * sd
        se_sd_diff = (1 / n) ** 0.5 * sd  # sd of one sample's sd: sd / sqrt(2n), for normal data
        return (
            abs(float(a.mean() - theirs.mean())) < 5 * se_mean_diff
            and abs(float(a.std() - theirs.std())) < 5 * se_sd_diff
            and ks_2samp(a.numpy(), theirs.numpy()).pvalue > 1e-3
        )

    assert same_distribution(ours[False])
    assert not same_distribution(ours[True])  # power: the other step order is told apart
