"""DPM-Solver++(2M) and its SDE form (Lu et al. 2022, "DPM-Solver++: Fast Solver for Guided
Sampling of Diffusion Probabilistic Models"), on the samplers' shared loop
(:func:`glide.sampling.sample_loop`), registered in :mod:`glide.samplers` as "dpm++2m" and
"dpm++2m-sde".

The ODE solver (:func:`sample_dpmpp_2m`, algorithm 2) integrates the probability-flow ODE of the
diffusion in its data-prediction form, over the half log-SNR ``lambda_t = log(alpha_t /
sigma_t)`` with ``alpha_t = sqrt(abar_t)`` and ``sigma_t = sqrt(1 - abar_t)``. With x0_i the
(clamped) data prediction at step i and ``h_i = lambda_{t_i} - lambda_{t_{i-1}}`` (eq. 8-9):

    first step:  x_{t_1} = (sigma_{t_1} / sigma_{t_0}) x_{t_0} - alpha_{t_1} (e^{-h_1} - 1) x0_0
    later steps: r_i = h_{i-1} / h_i,  D_i = (1 + 1/(2 r_i)) x0_{i-1} - 1/(2 r_i) x0_{i-2},
                 x_{t_i} = (sigma_{t_i}/sigma_{t_{i-1}}) x_{t_{i-1}} - alpha_{t_i} (e^{-h_i}-1) D_i

The SDE solver (:func:`sample_dpmpp_2m_sde`; the SDE solver of section 5 in data-prediction
form, with the same D_i) follows the reverse SDE instead, adding fresh noise at each step;
``eta`` in [0, 1] scales the stochasticity (1: the reverse SDE; 0: exactly the ODE solver):

    x_{t_i} = (sigma_{t_i}/sigma_{t_{i-1}}) e^{-eta h_i} x_{t_{i-1}}
              + alpha_{t_i} (1 - e^{-(1 + eta) h_i}) D_i
              + sigma_{t_i} sqrt(1 - e^{-2 eta h_i}) z_i

Contract:

- The time grid is the respaced process ``d`` itself (at least 2 steps, ending at original
  step 0): one network evaluation per kept timestep, as DDIM with the same respacing. The last
  step goes to abar = 1 (sigma = 0, lambda = inf), where the update is the data prediction.
- ``lower_order_final`` (default on): the step INTO original step 0 is first order. With
  GLIDE's respacings (uniform in t) that last interval is several times longer in lambda than
  the one before, and the second-order extrapolation over it overshoots.
- GLIDE's learned-variance network is used as an eps model: only the eps half of its output is
  read (x0 = (x_t - sigma eps) / alpha, then ``denoised_fn``, then the [-1, 1] clamp when
  ``clip_denoised``). A CLIP ``cond_fn`` acts in score form, as on the DDIM path
  (``GaussianDiffusion.condition_score``); classifier-free guidance is a denoiser wrapper.
- Randomness as every sampler (:mod:`glide.sampling`): x_T from ``noise`` or ``generators``;
  the SDE solver's step noise from ``noise_sampler(i)`` or the same per-row generators, drawn
  at every step but the last (into sigma = 0, which adds none). The ODE solver draws nothing
  after x_T.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from glide.diffusion import DenoisedFn, GaussianDiffusion
from glide.errors import GlideError
from glide.sampling import (
    Callback,
    CondFn,
    Denoiser,
    Generators,
    NoiseSampler,
    StepNoise,
    call_denoiser,
    sample_loop,
)

__all__ = ["dpm_solver_coefficients", "sample_dpmpp_2m", "sample_dpmpp_2m_sde"]


def dpm_solver_coefficients(d: GaussianDiffusion) -> dict[str, np.ndarray]:
    """alpha, sigma and lambda (float64, [K + 1]) at every step index of ``d``, plus abar = 1.

    Entry ``k`` (0..K-1) belongs to step index ``k``; entry ``-1`` (= K) is the clean end
    (alpha = 1, sigma = 0, lambda = +inf), reached after step index 0.
    """
    abar = np.asarray(d.alphas_cumprod, dtype=np.float64)
    alpha = np.append(np.sqrt(abar), 1.0)
    sigma = np.append(np.sqrt(1.0 - abar), 0.0)
    with np.errstate(divide="ignore"):
        lam = np.log(alpha) - np.log(sigma)
    return {"alpha": alpha, "sigma": sigma, "lambda": lam}


def _check_process(d: GaussianDiffusion) -> None:
    if not isinstance(d, GaussianDiffusion):
        raise GlideError(
            f"d must be a GaussianDiffusion (glide.diffusion.create_diffusion), got "
            f"{type(d).__name__}"
        )
    if d.num_timesteps < 2:
        raise GlideError(
            f"DPM-Solver++(2M) got a process with {d.num_timesteps} step; it needs at least 2 "
            "(a multistep solver); respace with more steps, e.g. timestep_respacing='10', "
            "'15' or '20'"
        )
    if int(d.timestep_map[0]) != 0:
        raise GlideError(
            f"the respaced process ends at original step {int(d.timestep_map[0])}, not 0; "
            "DPM-Solver++(2M) solves down to t = 0: use a respacing that keeps step 0 "
            "('N', 'ddimN', 'quadN' or section counts)"
        )


def sample_dpmpp_2m(
    denoiser: Denoiser,
    d: GaussianDiffusion,
    shape: Sequence[int],
    *,
    noise: torch.Tensor | None = None,
    noise_sampler: NoiseSampler | None = None,
    generators: Generators = None,
    cond: Mapping[str, Any] | None = None,
    cond_fn: CondFn | None = None,
    denoised_fn: DenoisedFn | None = None,
    clip_denoised: bool = True,
    lower_order_final: bool = True,
    callback: Callback | None = None,
    progress: bool = False,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """DPM-Solver++(2M) over the respaced steps of ``d``; returns x_0 [N, C, H, W].

    ``denoiser(x_t [N,C,H,W], t [N] original timesteps, **cond) -> [N, 2C, H, W]`` (eps first;
    the variance half is ignored). ``noise``/``generators``: x_T, as every sampler
    (``noise_sampler`` is accepted for the common signature and never called: the ODE solver
    draws no step noise). ``cond_fn(x_t, t, **cond) -> grad log p(y | x_t)`` is applied in
    score form; ``denoised_fn(x_0) -> x_0`` edits each data prediction before the clamp.
    ``lower_order_final``: first-order step into original step 0 (module docstring).
    ``callback(info)`` after each step with step, index, t, x_t, sample, pred_xstart, noise.
    Steps: ``d.num_timesteps`` (>= 2) network evaluations.
    """
    return sample_dpmpp_2m_sde(
        denoiser, d, shape, eta=0.0, noise=noise, noise_sampler=noise_sampler,
        generators=generators, cond=cond, cond_fn=cond_fn, denoised_fn=denoised_fn,
        clip_denoised=clip_denoised, lower_order_final=lower_order_final, callback=callback,
        progress=progress, device=device, dtype=dtype,
    )  # fmt: skip


def sample_dpmpp_2m_sde(
    denoiser: Denoiser,
    d: GaussianDiffusion,
    shape: Sequence[int],
    *,
    eta: float = 1.0,
    noise: torch.Tensor | None = None,
    noise_sampler: NoiseSampler | None = None,
    generators: Generators = None,
    cond: Mapping[str, Any] | None = None,
    cond_fn: CondFn | None = None,
    denoised_fn: DenoisedFn | None = None,
    clip_denoised: bool = True,
    lower_order_final: bool = True,
    callback: Callback | None = None,
    progress: bool = False,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """DPM-Solver++(2M) SDE over the respaced steps of ``d``; returns x_0 [N, C, H, W].

    Arguments as :func:`sample_dpmpp_2m`, plus ``eta`` in [0, 1]: the share of the reverse
    SDE's noise (1, the default: the SDE; 0: the ODE solver, identical to
    :func:`sample_dpmpp_2m`). The noise of step i (all but the last) is ``noise_sampler(i)``,
    else drawn from ``generators`` (one per row, after x_T), so a sample depends only on its
    own generator. Steps: ``d.num_timesteps`` (>= 2) network evaluations, as the ODE solver.
    """
    if isinstance(eta, bool) or not isinstance(eta, (int, float)) or not 0.0 <= eta <= 1.0:
        raise GlideError(
            f"eta={eta!r} is invalid: expected a number in [0, 1] (1 = the reverse SDE, "
            "0 = the probability-flow ODE)"
        )
    eta = float(eta)
    _check_process(d)
    cond = dict(cond or {})
    coef = dpm_solver_coefficients(d)
    alpha, sigma, lam = coef["alpha"], coef["sigma"], coef["lambda"]
    previous: dict[str, Any] = {"x0": None, "h": 0.0}  # the last step's data prediction and h

    def step(x: torch.Tensor, index: int, step_noise: StepNoise) -> dict[str, torch.Tensor]:
        t = torch.full((x.shape[0],), index, dtype=torch.long, device=x.device)
        t_orig = d.original_timesteps(t)
        out = d.p_mean_variance(
            call_denoiser(denoiser, x, t_orig, cond), x, t, clip_denoised, denoised_fn
        )
        if cond_fn is not None:
            out = d.condition_score(out, x, t, cond_fn(x, t_orig, **cond))
        x0 = out["pred_xstart"]
        nxt = index - 1  # -1: the clean end (abar = 1)
        if nxt < 0:
            sample = x0  # sigma_next = 0: the update is the data prediction itself
            h = math.inf
        else:
            h = float(lam[nxt] - lam[index])
            prev_x0 = previous["x0"]
            if prev_x0 is None or (lower_order_final and nxt == 0):
                data = x0  # first order (DPM-Solver++(1), the same update as DDIM)
            else:
                r = previous["h"] / h
                data = (1 + 1 / (2 * r)) * x0 - (1 / (2 * r)) * prev_x0
            ratio = float(sigma[nxt] / sigma[index] * math.exp(-eta * h))
            sample = ratio * x - float(alpha[nxt] * math.expm1(-(1.0 + eta) * h)) * data
            if eta > 0.0:
                scale = float(sigma[nxt] * math.sqrt(-math.expm1(-2 * eta * h)))
                sample = sample + scale * step_noise()
        previous["x0"], previous["h"] = x0, h
        return {"sample": sample.to(x.dtype), "pred_xstart": x0}

    return sample_loop(
        step, d, shape, noise=noise, noise_sampler=noise_sampler, generators=generators,
        callback=callback, progress=progress, device=device, dtype=dtype,
        desc="dpm++2m-sde" if eta > 0.0 else "dpm++2m",
    )  # fmt: skip
