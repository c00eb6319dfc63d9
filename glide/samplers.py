"""The samplers by name: the one registry the pipeline, the CLIs and bench read.

A sampler is a function ``fn(denoiser, d, shape, *, noise, noise_sampler, generators, cond,
cond_fn, denoised_fn, progress, device, ...) -> x_0`` built on :func:`glide.sampling.sample_loop`
(its randomness contract is in :mod:`glide.sampling`). The built-ins (:mod:`glide.sampling`'s
ancestral and DDIM, :mod:`glide.dpm_solver`'s DPM-Solver++) are registered here, so the sampler
modules never import the registry and the registry imports them one way only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

import torch

from glide.dpm_solver import sample_dpmpp_2m, sample_dpmpp_2m_sde
from glide.errors import GlideError
from glide.sampling import sample_ancestral, sample_ddim

__all__ = ["SAMPLERS", "Sampler", "get_sampler", "register_sampler"]


@dataclass(frozen=True)
class Sampler:
    """A sampler by name.

    ``takes_eta``: the pipeline's and the CLIs' ``eta`` is passed to ``fn`` (DDIM's eta; other
    samplers run with their own default). ``stochastic``: draws fresh noise at every step at
    those settings, so a sample depends on its seed beyond x_T (DDIM only with eta > 0).
    ``description``: one line for ``--help``.
    """

    name: str
    fn: Callable[..., torch.Tensor]
    takes_eta: bool
    stochastic: bool
    description: str


_REGISTRY: dict[str, Sampler] = {}
SAMPLERS: Mapping[str, Sampler] = MappingProxyType(_REGISTRY)
"""Every sampler by name (read-only; iterate it for the names, e.g. as argparse choices)."""


def register_sampler(
    name: str, *, takes_eta: bool = False, stochastic: bool, description: str
) -> Callable[[Callable[..., torch.Tensor]], Callable[..., torch.Tensor]]:
    """Decorator: add the decorated sampler function to :data:`SAMPLERS` under ``name``."""

    def add(fn: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
        if name in _REGISTRY:
            raise GlideError(
                f"sampler {name!r} is already registered (by {_REGISTRY[name].fn.__module__}."
                f"{_REGISTRY[name].fn.__qualname__}); pick another name"
            )
        _REGISTRY[name] = Sampler(name, fn, takes_eta, stochastic, description)
        return fn

    return add


def get_sampler(name: str, argument: str = "sampler") -> Sampler:
    """The sampler called ``name``; a GlideError naming ``argument`` and the valid names if none."""
    if not isinstance(name, str) or name not in _REGISTRY:
        raise GlideError(f"{argument}={name!r} is invalid; choose one of {list(_REGISTRY)}")
    return _REGISTRY[name]


register_sampler(
    "ancestral", stochastic=True,
    description="the paper's ancestral sampler (fresh noise at every step)",
)(sample_ancestral)  # fmt: skip
register_sampler(
    "ddim", takes_eta=True, stochastic=False,
    description="DDIM (deterministic at eta 0; eta > 0 adds noise at every step)",
)(sample_ddim)  # fmt: skip
register_sampler(
    "dpm++2m", stochastic=False,
    description="DPM-Solver++(2M), deterministic given x_T, meant for 10-20 steps",
)(sample_dpmpp_2m)  # fmt: skip
register_sampler(
    "dpm++2m-sde", stochastic=True,
    description="DPM-Solver++(2M) SDE, its stochastic form (fresh noise at every step), also "
    "for 10-20 steps",
)(sample_dpmpp_2m_sde)  # fmt: skip
