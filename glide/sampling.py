"""Samplers: small pure loops over a denoiser ``fn(x_t [N,C,H,W], t [N], **cond) -> [N,2C,H,W]``,
registered by name in :mod:`glide.samplers` (the registry the pipeline, the CLIs and bench read).

``t`` given to the denoiser (and to a ``cond_fn``) is always the ORIGINAL timestep index of the
(possibly respaced) process ``d`` (``d.timestep_map``), as the reference's respacing wrapper does.

Every sampler runs on :func:`sample_loop` and takes the same randomness arguments (the only
inputs that vary between runs):

- ``noise``: x_T, [N, C, H, W]. Default: drawn first from the row's generator.
- ``noise_sampler(step_index) -> [N, C, H, W]`` standard normal noise of a step, step_index
  0..K-1 in sampling order (0 = the noisiest step). Called at most once per step, in order, by
  the steps that use fresh noise: ancestral and DDIM call it at every step, the last one
  included (where the noise is not used), as the reference draws one per step; a step that adds
  no noise (DPM-Solver++ into sigma = 0, the ODE solvers) does not call it.
- ``generators``: one ``torch.Generator`` per row (noise drawn row by row, so a sample depends
  only on its own generator, never on its batch-mates), or a single generator for the whole
  batch (batch-dependent), or None, the default: row i gets its own generator seeded with i
  (:func:`row_generators`), so a default run is reproducible and batch-size independent.

Ancestral sampling: x_{t-1} = mu + sigma z (Ho et al. 2020 alg. 2, learned Sigma of IDDPM eq. 15,
CLIP guidance shifting mu by Sigma * grad, GLIDE eq. 4). DDIM (Song et al. 2020, eq. 12):
x_{t-1} = sqrt(abar_{t-1}) x_0 + sqrt(1 - abar_{t-1} - sigma^2) eps + sigma z,
sigma = eta sqrt((1-abar_{t-1})/(1-abar_t)) sqrt(1 - abar_t/abar_{t-1}); eps is re-derived from
the (clamped) x_0, and a ``cond_fn`` acts in score form (eps -= sqrt(1-abar_t) grad).
DPM-Solver++(2M) and its SDE form live in :mod:`glide.dpm_solver`, on the same loop.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from tqdm.auto import tqdm

from glide.diffusion import DenoisedFn, GaussianDiffusion
from glide.errors import GlideError

__all__ = [
    "Callback",
    "CondFn",
    "Denoiser",
    "Generators",
    "NoiseSampler",
    "StepNoise",
    "call_denoiser",
    "ddim_step",
    "initial_noise",
    "p_sample_step",
    "randn_rows",
    "row_generators",
    "sample_ancestral",
    "sample_ddim",
    "sample_loop",
]

Denoiser = Callable[..., torch.Tensor]
CondFn = Callable[..., torch.Tensor]
NoiseSampler = Callable[[int], torch.Tensor]
Generators = Sequence[torch.Generator] | torch.Generator | None
Callback = Callable[[dict[str, Any]], None]
StepNoise = Callable[[], torch.Tensor]
"""The fresh standard normal noise [N, C, H, W] of the current step, drawn on the first call."""
Step = Callable[[torch.Tensor, int, StepNoise], dict[str, torch.Tensor]]
"""``step(x_t, index, step_noise) -> {"sample": x_{t-1}, "pred_xstart": x_0}``."""


# ----- randomness ---------------------------------------------------------------------------


def row_generators(n: int, device: torch.device | str = "cpu", seed: int = 0) -> list:
    """``n`` generators on ``device``, row i seeded with ``seed + i`` (the samplers' default)."""
    return [torch.Generator(device=device).manual_seed(seed + i) for i in range(n)]


def randn_rows(
    shape: Sequence[int],
    generators: Generators,
    *,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Standard normal [N, ...]; row i drawn from ``generators[i]`` when a list is given."""
    shape = tuple(shape)
    if generators is None or isinstance(generators, torch.Generator):
        g = generators
        where = g.device if g is not None else device
        return torch.randn(shape, generator=g, device=where, dtype=dtype).to(device)
    if len(generators) != shape[0]:
        raise GlideError(
            f"generators has {len(generators)} entries but the batch has {shape[0]} rows; "
            "pass one torch.Generator per sample"
        )
    rows = [torch.randn(shape[1:], generator=g, device=g.device, dtype=dtype) for g in generators]
    return torch.stack(rows).to(device)


def initial_noise(
    shape: Sequence[int],
    noise: torch.Tensor | None,
    generators: Generators,
    device: torch.device | str | None,
    dtype: torch.dtype,
) -> tuple[tuple[int, ...], torch.Tensor, torch.device | str]:
    """Checked ``(shape, x_T, device)`` of a sampling loop: ``noise`` itself (on ``device`` when
    given, else its own) or one standard normal row per generator."""
    shape = tuple(int(s) for s in shape)
    if len(shape) != 4:
        raise GlideError(f"shape={shape} is invalid: expected (N, C, H, W)")
    if noise is not None:
        if tuple(noise.shape) != shape:
            raise GlideError(f"noise has shape {tuple(noise.shape)}; expected shape={shape}")
        device = noise.device if device is None else device
        return shape, noise.to(device=device, dtype=dtype), device
    device = device or "cpu"
    return shape, randn_rows(shape, generators, device=device, dtype=dtype), device


# ----- the shared loop ----------------------------------------------------------------------


def call_denoiser(
    denoiser: Denoiser, x: torch.Tensor, t_orig: torch.Tensor, cond: Mapping[str, Any]
) -> torch.Tensor:
    """``denoiser(x, t_orig, **cond)``, checked to be [N, 2C, H, W] (eps and the variance half)."""
    out = denoiser(x, t_orig, **cond)
    if not isinstance(out, torch.Tensor) or out.shape != (x.shape[0], 2 * x.shape[1], *x.shape[2:]):
        raise GlideError(
            f"the denoiser returned {getattr(out, 'shape', type(out).__name__)}; expected "
            f"[N, 2C, H, W] = {(x.shape[0], 2 * x.shape[1], *x.shape[2:])} (eps and v)"
        )
    return out


class _OnceNoise:
    """The ``step_noise`` of step ``i``: ``draw(i)`` on the first call, the same tensor after."""

    def __init__(self, draw: NoiseSampler, i: int) -> None:
        self.draw, self.i = draw, i
        self.value: torch.Tensor | None = None

    def __call__(self) -> torch.Tensor:
        if self.value is None:
            self.value = self.draw(self.i)
        return self.value


def sample_loop(
    step: Step,
    d: GaussianDiffusion,
    shape: Sequence[int],
    *,
    noise: torch.Tensor | None = None,
    noise_sampler: NoiseSampler | None = None,
    generators: Generators = None,
    callback: Callback | None = None,
    progress: bool = False,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
    desc: str = "sampling",
) -> torch.Tensor:
    """The loop every sampler shares; returns x_0 [N, C, H, W].

    x_T is ``noise`` or drawn from ``generators`` (module docstring); then for step i = 0..K-1
    (``index`` = K-1-i of ``d``) ``step(x_t, index, step_noise)`` gives the next x. The step
    calls ``step_noise()`` for the step's fresh noise if it uses any: ``noise_sampler(i)`` or,
    without one, a draw from ``generators``; repeated calls return the same tensor.
    ``callback(info)`` after each step with step, index, t, x_t, sample, pred_xstart and
    noise (None where the step drew none).
    """
    if noise is not None and device is None:
        device = noise.device
    if generators is None and len(shape) == 4:  # (a bad shape is reported by initial_noise)
        generators = row_generators(int(shape[0]), device or "cpu")
    shape, x, device = initial_noise(shape, noise, generators, device, dtype)

    def draw(i: int) -> torch.Tensor:
        if noise_sampler is None:
            return randn_rows(shape, generators, device=device, dtype=dtype)
        z = noise_sampler(i)
        if tuple(z.shape) != shape:
            raise GlideError(
                f"noise_sampler({i}) returned shape {tuple(z.shape)}; expected {shape}"
            )
        return z.to(device=device, dtype=dtype)

    K = d.num_timesteps
    bar = tqdm(range(K), desc=desc, disable=not progress, leave=False)
    with torch.no_grad():
        for i in bar:
            index = K - 1 - i
            step_noise = _OnceNoise(draw, i)
            out = step(x, index, step_noise)
            if callback is not None:
                callback(
                    {
                        "step": i,
                        "index": index,
                        "t": int(d.timestep_map[index]),
                        "x_t": x,
                        "sample": out["sample"],
                        "pred_xstart": out["pred_xstart"],
                        "noise": step_noise.value,
                    }
                )
            x = out["sample"]
    return x


# ----- ancestral and DDIM -------------------------------------------------------------------


def p_sample_step(
    denoiser: Denoiser,
    d: GaussianDiffusion,
    x: torch.Tensor,
    index: int,
    z: torch.Tensor,
    *,
    cond: Mapping[str, Any] | None = None,
    cond_fn: CondFn | None = None,
    denoised_fn: DenoisedFn | None = None,
    clip_denoised: bool = True,
) -> dict[str, torch.Tensor]:
    """One ancestral step from step ``index`` of ``d``; ``z`` the step's standard normal noise."""
    cond = dict(cond or {})
    t = torch.full((x.shape[0],), index, dtype=torch.long, device=x.device)
    t_orig = d.original_timesteps(t)
    out = d.p_mean_variance(
        call_denoiser(denoiser, x, t_orig, cond), x, t, clip_denoised, denoised_fn
    )
    mean = out["mean"]
    if cond_fn is not None:
        mean = d.condition_mean(out, cond_fn(x, t_orig, **cond))
    if index > 0:
        sample = mean + torch.exp(0.5 * out["log_variance"]) * z
    else:
        sample = mean  # no noise at the last step
    return {"sample": sample.to(x.dtype), "pred_xstart": out["pred_xstart"]}


def ddim_step(
    denoiser: Denoiser,
    d: GaussianDiffusion,
    x: torch.Tensor,
    index: int,
    z: torch.Tensor,
    *,
    eta: float = 0.0,
    cond: Mapping[str, Any] | None = None,
    cond_fn: CondFn | None = None,
    denoised_fn: DenoisedFn | None = None,
    clip_denoised: bool = True,
) -> dict[str, torch.Tensor]:
    """One DDIM step (Song et al. 2020, eq. 12) from step ``index`` of ``d``."""
    cond = dict(cond or {})
    t = torch.full((x.shape[0],), index, dtype=torch.long, device=x.device)
    t_orig = d.original_timesteps(t)
    out = d.p_mean_variance(
        call_denoiser(denoiser, x, t_orig, cond), x, t, clip_denoised, denoised_fn
    )
    if cond_fn is not None:
        out = d.condition_score(out, x, t, cond_fn(x, t_orig, **cond))
    eps = d.predict_eps_from_xstart(x, t, out["pred_xstart"])
    abar = d._gather(d.alphas_cumprod, t, x)
    abar_prev = d._gather(d.alphas_cumprod_prev, t, x)
    sigma = eta * torch.sqrt((1 - abar_prev) / (1 - abar)) * torch.sqrt(1 - abar / abar_prev)
    sample = out["pred_xstart"] * torch.sqrt(abar_prev) + torch.sqrt(1 - abar_prev - sigma**2) * eps
    if index > 0:
        sample = sample + sigma * z
    return {"sample": sample.to(x.dtype), "pred_xstart": out["pred_xstart"]}


def sample_ancestral(
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
    callback: Callback | None = None,
    progress: bool = False,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Ancestral sampling (the reference's ``p_sample_loop``); returns x_0 [N, C, H, W].

    ``cond``: keyword arguments for the denoiser (and ``cond_fn``) at every step.
    ``cond_fn(x_t, t, **cond) -> grad log p(y | x_t)`` shifts the mean by Sigma * grad.
    ``denoised_fn(x_0) -> x_0`` edits the x_0 prediction before the [-1, 1] clamp.
    ``callback(info)`` after each step with step, index, t, x_t, sample, pred_xstart, noise.
    """

    def step(x, index, step_noise):
        z = step_noise()  # drawn at every step, the last one included, as the reference
        return p_sample_step(
            denoiser, d, x, index, z, cond=cond, cond_fn=cond_fn,
            denoised_fn=denoised_fn, clip_denoised=clip_denoised,
        )  # fmt: skip

    return sample_loop(
        step, d, shape, noise=noise, noise_sampler=noise_sampler, generators=generators,
        callback=callback, progress=progress, device=device, dtype=dtype, desc="ancestral",
    )  # fmt: skip


def sample_ddim(
    denoiser: Denoiser,
    d: GaussianDiffusion,
    shape: Sequence[int],
    *,
    eta: float = 0.0,
    noise: torch.Tensor | None = None,
    noise_sampler: NoiseSampler | None = None,
    generators: Generators = None,
    cond: Mapping[str, Any] | None = None,
    cond_fn: CondFn | None = None,
    denoised_fn: DenoisedFn | None = None,
    clip_denoised: bool = True,
    callback: Callback | None = None,
    progress: bool = False,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """DDIM sampling (the reference's ``ddim_sample_loop``; eta=0 is deterministic given x_T).

    Same arguments as :func:`sample_ancestral`, plus ``eta`` >= 0 (1 = ancestral-like noise);
    ``cond_fn`` acts on the score (eps) instead of the mean.
    """
    if not isinstance(eta, (int, float)) or eta < 0:
        raise GlideError(f"eta={eta!r} is invalid: expected a number >= 0 (0 = deterministic)")

    def step(x, index, step_noise):
        z = step_noise()  # drawn at every step (even at eta = 0), as the reference
        return ddim_step(
            denoiser, d, x, index, z, eta=float(eta), cond=cond, cond_fn=cond_fn,
            denoised_fn=denoised_fn, clip_denoised=clip_denoised,
        )  # fmt: skip

    return sample_loop(
        step, d, shape, noise=noise, noise_sampler=noise_sampler, generators=generators,
        callback=callback, progress=progress, device=device, dtype=dtype,
        desc=f"ddim eta={eta:g}",
    )  # fmt: skip
