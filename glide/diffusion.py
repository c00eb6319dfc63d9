"""Gaussian diffusion with learned variances (Ho et al. 2020; Nichol & Dhariwal 2021).

Schedules are float64 numpy arrays; a coefficient is gathered for a batch of timesteps and cast
to float32 (float64 for float64 inputs) before it multiplies a tensor, as the reference does.

Timesteps: the methods below index THIS process's steps ``0..num_timesteps-1``. For a respaced
process (``timestep_respacing="100"``) step ``i`` is the original step ``timestep_map[i]``; the
network is always called with original indices (``original_timesteps``). Only
:meth:`GaussianDiffusion.training_losses` takes original indices, as training code draws them.

Equations (Nichol & Dhariwal 2021 = "IDDPM"):

- q(x_t | x_0) = N(sqrt(abar_t) x_0, (1 - abar_t) I)                             (IDDPM eq. 9)
- x_0 = sqrt(1/abar_t) x_t - sqrt(1/abar_t - 1) eps                                 (eq. 11 inv.)
- q(x_{t-1} | x_t, x_0) = N(c1 x_0 + c2 x_t, beta~_t I), c1 = beta_t sqrt(abar_{t-1})/(1-abar_t),
  c2 = (1-abar_{t-1}) sqrt(alpha_t)/(1-abar_t), beta~_t = beta_t (1-abar_{t-1})/(1-abar_t)
                                                                             (IDDPM eqs. 10-12)
- learned variance: log Sigma = frac log beta_t + (1 - frac) log beta~_t, frac = (v + 1)/2, with
  log beta~_0 clipped to log beta~_1 (beta~_0 = 0)                                  (IDDPM eq. 15)
- L_hybrid = L_simple + lambda L_vlb, lambda = 0.001                                (IDDPM eq. 16)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch

from glide.errors import GlideError
from glide.schedule import get_named_beta_schedule, respace_betas, space_timesteps

__all__ = [
    "GaussianDiffusion",
    "create_diffusion",
    "discretized_gaussian_log_likelihood",
    "normal_kl",
]

DenoisedFn = Callable[[torch.Tensor], torch.Tensor]


def _coef_dtype(x: torch.Tensor) -> torch.dtype:
    return torch.float64 if x.dtype == torch.float64 else torch.float32


class GaussianDiffusion:
    """A (possibly respaced) diffusion process defined by its betas.

    ``betas``: [K] float64 in (0, 1]. ``timestep_map``: [K] original index of each step
    (default: ``0..K-1``). ``original_num_steps``: length of the original schedule.
    """

    def __init__(
        self,
        betas: np.ndarray,
        *,
        timestep_map: np.ndarray | None = None,
        original_num_steps: int | None = None,
    ) -> None:
        betas = np.asarray(betas, dtype=np.float64)
        if betas.ndim != 1 or betas.size == 0 or not np.all((betas > 0) & (betas <= 1)):
            raise GlideError("betas must be a non-empty 1-D array with values in (0, 1]")
        self.betas = betas
        self.num_timesteps = K = int(betas.shape[0])
        if timestep_map is None:
            timestep_map = np.arange(K, dtype=np.int64)
        self.timestep_map = np.asarray(timestep_map, dtype=np.int64)
        if self.timestep_map.shape != (K,) or np.any(np.diff(self.timestep_map) <= 0):
            raise GlideError(f"timestep_map must be {K} strictly increasing original indices")
        self.original_num_steps = int(original_num_steps or self.timestep_map[-1] + 1)

        alphas = 1.0 - betas
        self.alphas_cumprod = np.cumprod(alphas)
        self.alphas_cumprod_prev = np.append(1.0, self.alphas_cumprod[:-1])
        self.alphas_cumprod_next = np.append(self.alphas_cumprod[1:], 0.0)
        self.sqrt_alphas_cumprod = np.sqrt(self.alphas_cumprod)
        self.sqrt_one_minus_alphas_cumprod = np.sqrt(1.0 - self.alphas_cumprod)
        self.log_one_minus_alphas_cumprod = np.log(1.0 - self.alphas_cumprod)
        self.sqrt_recip_alphas_cumprod = np.sqrt(1.0 / self.alphas_cumprod)
        self.sqrt_recipm1_alphas_cumprod = np.sqrt(1.0 / self.alphas_cumprod - 1.0)
        self.posterior_variance = (
            betas * (1.0 - self.alphas_cumprod_prev) / (1.0 - self.alphas_cumprod)
        )
        # beta~_0 = 0: clip its log to the next value (a one-step process has no beta~_1).
        first = self.posterior_variance[1] if K > 1 else betas[0]
        self.posterior_log_variance_clipped = np.log(np.append(first, self.posterior_variance[1:]))
        self.posterior_mean_coef1 = (
            betas * np.sqrt(self.alphas_cumprod_prev) / (1.0 - self.alphas_cumprod)
        )
        self.posterior_mean_coef2 = (
            (1.0 - self.alphas_cumprod_prev) * np.sqrt(alphas) / (1.0 - self.alphas_cumprod)
        )
        self.log_betas = np.log(betas)

    # ----- indices -----
    def _check_t(self, t: torch.Tensor, n: int) -> torch.Tensor:
        t = torch.as_tensor(t)
        if t.ndim == 0:
            t = t.expand(n)
        if t.shape != (n,) or t.dtype.is_floating_point:
            raise GlideError(
                f"t must be an integer tensor of shape [N]=[{n}], got {tuple(t.shape)}"
            )
        if t.numel() and (int(t.min()) < 0 or int(t.max()) >= self.num_timesteps):
            raise GlideError(
                f"t has values in [{int(t.min())}, {int(t.max())}]; this process has steps "
                f"0..{self.num_timesteps - 1} (use index_of_original for original indices)"
            )
        return t.long()

    def _gather(self, arr: np.ndarray, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """arr[t] as [N, 1, ..., 1] in x's coefficient dtype, on x's device."""
        t = self._check_t(t, x.shape[0])
        values = torch.from_numpy(arr)[t.cpu()].to(device=x.device, dtype=_coef_dtype(x))
        return values.reshape(-1, *([1] * (x.ndim - 1)))

    def original_timesteps(self, t: torch.Tensor) -> torch.Tensor:
        """Map step indices [N] of this process to original indices [N] (int64)."""
        t = torch.as_tensor(t)
        t = self._check_t(t, t.shape[0] if t.ndim else 1)
        return torch.from_numpy(self.timestep_map)[t.cpu()].to(t.device)

    def index_of_original(self, t_original: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`original_timesteps`; an error for original steps not kept."""
        t_original = torch.as_tensor(t_original).long()
        table = torch.from_numpy(self.timestep_map)
        idx = torch.searchsorted(table, t_original.cpu()).clamp(max=self.num_timesteps - 1)
        if not torch.equal(table[idx], t_original.cpu()):
            raise GlideError(
                f"original timesteps {t_original.tolist()[:8]} are not all kept by this "
                f"respaced process (it keeps {self.num_timesteps} of "
                f"{self.original_num_steps}); use timesteps from timestep_map"
            )
        return idx.to(t_original.device)

    # ----- forward process -----
    def q_mean_variance(
        self, x0: torch.Tensor, t: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Mean, variance and log-variance of q(x_t | x_0); x0 [N, C, H, W]."""
        mean = self._gather(self.sqrt_alphas_cumprod, t, x0) * x0
        var = self._gather(1.0 - self.alphas_cumprod, t, x0).expand_as(x0)
        log_var = self._gather(self.log_one_minus_alphas_cumprod, t, x0).expand_as(x0)
        return mean, var, log_var

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """Draw x_t ~ q(x_t | x_0) with the given standard normal ``noise`` (x0's shape)."""
        if noise.shape != x0.shape:
            raise GlideError(f"noise shape {tuple(noise.shape)} must equal x0's {tuple(x0.shape)}")
        return (
            self._gather(self.sqrt_alphas_cumprod, t, x0) * x0
            + self._gather(self.sqrt_one_minus_alphas_cumprod, t, x0) * noise
        )

    def q_posterior_mean_variance(
        self, x0: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Mean, variance and clipped log-variance of q(x_{t-1} | x_t, x_0)."""
        if x0.shape != x_t.shape:
            raise GlideError(f"x0 {tuple(x0.shape)} and x_t {tuple(x_t.shape)} differ in shape")
        mean = (
            self._gather(self.posterior_mean_coef1, t, x_t) * x0
            + self._gather(self.posterior_mean_coef2, t, x_t) * x_t
        )
        var = self._gather(self.posterior_variance, t, x_t).expand_as(x_t)
        log_var = self._gather(self.posterior_log_variance_clipped, t, x_t).expand_as(x_t)
        return mean, var, log_var

    def predict_xstart_from_eps(
        self, x_t: torch.Tensor, t: torch.Tensor, eps: torch.Tensor
    ) -> torch.Tensor:
        return (
            self._gather(self.sqrt_recip_alphas_cumprod, t, x_t) * x_t
            - self._gather(self.sqrt_recipm1_alphas_cumprod, t, x_t) * eps
        )

    def predict_eps_from_xstart(
        self, x_t: torch.Tensor, t: torch.Tensor, x0: torch.Tensor
    ) -> torch.Tensor:
        return (self._gather(self.sqrt_recip_alphas_cumprod, t, x_t) * x_t - x0) / self._gather(
            self.sqrt_recipm1_alphas_cumprod, t, x_t
        )

    # ----- reverse process -----
    def model_log_variance(self, v: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """IDDPM eq. 15: log Sigma from the network's v in [-1, 1] (respaced betas)."""
        frac = (v + 1) / 2
        max_log = self._gather(self.log_betas, t, v)
        min_log = self._gather(self.posterior_log_variance_clipped, t, v)
        return frac * max_log + (1 - frac) * min_log

    def p_mean_variance(
        self,
        model_out: torch.Tensor,
        x_t: torch.Tensor,
        t: torch.Tensor,
        clip_denoised: bool = True,
        denoised_fn: DenoisedFn | None = None,
    ) -> dict[str, torch.Tensor]:
        """p(x_{t-1} | x_t) from the network output.

        ``model_out``: [N, 2C, H, W] (eps, v); ``x_t``: [N, C, H, W]; ``t``: [N] step indices
        of this process. x_0 = denoised_fn(x_0) (if given), then clamped to [-1, 1] when
        ``clip_denoised``. Returns mean, variance, log_variance, pred_xstart, eps (the raw
        model eps), each [N, C, H, W].
        """
        n, c = x_t.shape[:2]
        if model_out.shape != (n, 2 * c, *x_t.shape[2:]):
            raise GlideError(
                f"model output has shape {tuple(model_out.shape)}; expected [N, 2C, H, W] = "
                f"{(n, 2 * c, *x_t.shape[2:])} (eps and variance value v)"
            )
        eps, v = model_out.split(c, dim=1)
        log_var = self.model_log_variance(v, t)
        x0 = self.predict_xstart_from_eps(x_t, t, eps)
        if denoised_fn is not None:
            x0 = denoised_fn(x0)
        if clip_denoised:
            x0 = x0.clamp(-1, 1)
        mean, _, _ = self.q_posterior_mean_variance(x0, x_t, t)
        return {
            "mean": mean,
            "variance": torch.exp(log_var),
            "log_variance": log_var,
            "pred_xstart": x0,
            "eps": eps,
        }

    def condition_mean(self, out: Mapping[str, torch.Tensor], grad: torch.Tensor) -> torch.Tensor:
        """Sohl-Dickstein et al. 2015 / GLIDE eq. 4: mean + Sigma * grad log p(y | x_t)."""
        mean = out["mean"]
        return mean + out["variance"].to(mean.dtype) * grad.to(mean.dtype)

    def condition_score(
        self,
        out: Mapping[str, torch.Tensor],
        x_t: torch.Tensor,
        t: torch.Tensor,
        grad: torch.Tensor,
    ) -> dict[str, torch.Tensor]:
        """Song et al. 2020 score form: eps' = eps - sqrt(1 - abar_t) grad; x_0 and mean redone."""
        abar = self._gather(self.alphas_cumprod, t, x_t)
        eps = self.predict_eps_from_xstart(x_t, t, out["pred_xstart"])
        eps = eps - (1 - abar).sqrt() * grad
        result = dict(out)
        result["pred_xstart"] = self.predict_xstart_from_eps(x_t, t, eps)
        result["mean"], _, _ = self.q_posterior_mean_variance(result["pred_xstart"], x_t, t)
        return result

    # ----- training -----
    def training_losses(
        self,
        model_fn: Callable[..., torch.Tensor],
        x0: torch.Tensor,
        t: torch.Tensor,
        noise: torch.Tensor | None = None,
        model_kwargs: Mapping[str, Any] | None = None,
        *,
        vlb_weight: float = 0.001,
        generator: torch.Generator | None = None,
    ) -> dict[str, torch.Tensor]:
        """IDDPM's hybrid objective L_simple + lambda * L_vlb per sample (lambda=``vlb_weight``).

        ``x0``: [N, C, H, W] in [-1, 1]; ``t``: [N] ORIGINAL timesteps (kept by this process);
        ``model_fn(x_t, t, **model_kwargs) -> [N, 2C, H, W]``. L_simple = mean over pixels of
        (eps - eps_pred)^2. L_vlb = T * L_t (L_vlb sums T terms, we sample one), with L_t the
        KL(q(x_{t-1}|x_t,x_0) || p(x_{t-1}|x_t)) in bits/dim, or at t = 0 the discretised
        Gaussian decoder NLL; its mean uses a stop-gradient on eps (only Sigma learns from it,
        IDDPM sec. 3.1). Returns ``loss``, ``mse``, ``vb`` (L_t, bits/dim), each [N].
        """
        index = self.index_of_original(t).to(x0.device)
        t_orig = torch.as_tensor(t).to(x0.device).long()
        if noise is None:
            noise = torch.randn(x0.shape, generator=generator, dtype=x0.dtype).to(x0.device)
        x_t = self.q_sample(x0, index, noise)
        out = model_fn(x_t, t_orig, **(dict(model_kwargs or {})))
        c = x0.shape[1]
        if out.shape != (x0.shape[0], 2 * c, *x0.shape[2:]):
            raise GlideError(
                f"model output has shape {tuple(out.shape)}; training needs [N, 2C, H, W]"
            )
        eps, v = out.split(c, dim=1)
        mse = ((noise - eps) ** 2).mean(dim=tuple(range(1, x0.ndim)))
        frozen = torch.cat([eps.detach(), v], dim=1)
        vb = self.vb_terms_bpd(frozen, x0, x_t, index)
        loss = mse + vlb_weight * self.num_timesteps * vb
        return {"loss": loss, "mse": mse, "vb": vb}

    def vb_terms_bpd(
        self, model_out: torch.Tensor, x0: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor
    ) -> torch.Tensor:
        """Per-sample L_t in bits per dimension ([N]); t = step indices of this process."""
        true_mean, _, true_log_var = self.q_posterior_mean_variance(x0, x_t, t)
        out = self.p_mean_variance(model_out, x_t, t, clip_denoised=False)
        dims = tuple(range(1, x0.ndim))
        kl = normal_kl(true_mean, true_log_var, out["mean"], out["log_variance"])
        kl = kl.mean(dim=dims) / math.log(2.0)
        nll = -discretized_gaussian_log_likelihood(x0, out["mean"], 0.5 * out["log_variance"])
        nll = nll.mean(dim=dims) / math.log(2.0)
        t = self._check_t(t, x0.shape[0]).to(x0.device)
        return torch.where(t == 0, nll, kl)


def normal_kl(
    mean1: torch.Tensor, logvar1: torch.Tensor, mean2: torch.Tensor, logvar2: torch.Tensor
) -> torch.Tensor:
    """Elementwise KL(N(mean1, e^logvar1) || N(mean2, e^logvar2)) in nats."""
    return 0.5 * (
        -1.0
        + logvar2
        - logvar1
        + torch.exp(logvar1 - logvar2)
        + (mean1 - mean2) ** 2 * torch.exp(-logvar2)
    )


def discretized_gaussian_log_likelihood(
    x: torch.Tensor, means: torch.Tensor, log_scales: torch.Tensor
) -> torch.Tensor:
    """Elementwise log-probability of 8-bit data x in [-1, 1] under N(means, e^(2 log_scales)).

    Each of the 256 pixel values owns a bin of width 2/255; the two outer bins extend to
    -inf / +inf (Ho et al. 2020, eq. 13). Uses the exact normal CDF.
    """
    centered = x - means
    inv_std = torch.exp(-log_scales)
    cdf_plus = torch.special.ndtr(inv_std * (centered + 1.0 / 255.0))
    cdf_min = torch.special.ndtr(inv_std * (centered - 1.0 / 255.0))
    tiny = 1e-12
    log_cdf_plus = torch.log(cdf_plus.clamp(min=tiny))
    log_one_minus_cdf_min = torch.log((1.0 - cdf_min).clamp(min=tiny))
    log_delta = torch.log((cdf_plus - cdf_min).clamp(min=tiny))
    return torch.where(
        x < -0.999, log_cdf_plus, torch.where(x > 0.999, log_one_minus_cdf_min, log_delta)
    )


def create_diffusion(
    steps: int = 1000,
    noise_schedule: str = "squaredcos_cap_v2",
    timestep_respacing: str | None = "",
) -> GaussianDiffusion:
    """The diffusion process of a GLIDE model, optionally respaced.

    ``timestep_respacing``: ``""``/``None`` keeps all steps; otherwise any form accepted by
    :func:`glide.schedule.space_timesteps` ("100", "27", "10,10,3,2,2", "ddim50", "fast27").
    As in the reference, the betas are always rebuilt from alphas_cumprod at the kept steps
    (so even the full process has beta_i = 1 - abar_i / abar_{i-1}).
    """
    base = get_named_beta_schedule(noise_schedule, steps)
    if timestep_respacing is None or (
        isinstance(timestep_respacing, str) and not timestep_respacing.strip()
    ):
        keep: set[int] = set(range(steps))
    else:
        keep = space_timesteps(steps, timestep_respacing)
    betas, timestep_map = respace_betas(np.cumprod(1.0 - base), keep)
    return GaussianDiffusion(betas, timestep_map=timestep_map, original_num_steps=steps)
