"""The generator interface and its registry (a dict plus a decorator that refuses duplicates).

A generator is a function ``fn(captions, seeds, method, scale) -> uint8 [N, H, W, 3]`` whose
image ``i`` depends only on ``(captions[i], seeds[i], method, scale)`` and the settings it was
built with (never on batch-mates or batch size, up to the float rounding of batch-size-dependent
kernels). A factory builds it from :class:`GeneratorOptions` and also returns a description
for the run metadata: ``"identity"`` (what changes images: checkpoint hashes, options; it is
the ``checkpoints`` key of every run spec, so it enters every run id) and ``"pipeline"`` (the
full description, in sweep.json). A run with a guidance interval (issue 24) calls it with the
keyword ``guidance_interval=(low, high)`` as well; only ``glide`` takes it (the sweep config
refuses intervals for the other generators).

An identity may carry ``"display_name"``: the generator's name in legends, tables and study
conditions (:func:`bench.spec.generator_display_name`; the generator's registry name without).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.errors import BenchError

GenerateFn = Callable[[Sequence[str], Sequence[int], str, float], np.ndarray]


@dataclass(frozen=True)
class GeneratorOptions:
    """What a factory may read. ``model``: the diffusers pipeline (folder or hub id);
    ``images``: the folder generator's folder; ``name``: a display name given by the user;
    ``seed``, ``num_samples`` and ``scales``: the sweep's, for generators that check their
    inputs before sampling (the folder generator's layout, the diffusers scale range)."""

    checkpoints_dir: Path | None
    device: str
    dtype: str
    sampler: str
    steps: str
    resolution: int
    methods: tuple[str, ...]
    upsample_steps: str = "fast27"
    upsample_temp: float = 0.997
    upsample_sampler: str = "ddim"
    model: str | None = None
    revision: str | None = None
    images: Path | None = None
    name: str | None = None
    pipeline_resolution: int | None = None
    seed: int = 0
    num_samples: int = 0
    scales: tuple[float, ...] = ()


Factory = Callable[[GeneratorOptions], tuple[GenerateFn, dict[str, Any]]]
GENERATORS: dict[str, Factory] = {}


def register_generator(name: str) -> Callable[[Factory], Factory]:
    def decorate(factory: Factory) -> Factory:
        if name in GENERATORS:
            raise KeyError(f"generator {name!r} is already registered")
        GENERATORS[name] = factory
        return factory

    return decorate


def check_generator_name(name: str) -> None:
    if name not in GENERATORS:
        raise BenchError(f"--generator: unknown {name!r}; choose from {', '.join(GENERATORS)}")


def build_generator(name: str, options: GeneratorOptions) -> tuple[GenerateFn, dict[str, Any]]:
    check_generator_name(name)
    return GENERATORS[name](options)


def identity_of(description: Any) -> Any:
    """What of a pipeline description changes images: everything except file locations."""
    if isinstance(description, dict):
        return {
            k: identity_of(v)
            for k, v in description.items()
            if not any(word in k.lower() for word in ("path", "dir", "file", "device"))
        }
    if isinstance(description, (list, tuple)):
        return [identity_of(v) for v in description]
    return description


def check_methods(generator: str, methods: Sequence[str], supported: Sequence[str]) -> None:
    """Refuse a guidance method the generator cannot run, naming the ones it can."""
    bad = [m for m in methods if m not in supported]
    if bad:
        raise BenchError(
            f"--method: {', '.join(bad)} is not available with --generator {generator}; "
            f"use --method {','.join(supported)}"
        )


#: Generators whose images do not depend on --sampler/--steps: a sweep records their defaults
#: in its settings (they are part of every run id), but no output may present them as how the
#: images were made.
SAMPLER_FREE_GENERATORS = frozenset({"folder"})


def sampling_text(settings: Mapping[str, Any]) -> str:
    """How a sweep's images were sampled, for plot subtitles and reports: ``"15 dpm++2m-sde
    steps"``, or, for a generator that samples nothing here, that --sampler/--steps were not
    used."""
    if settings.get("generator") in SAMPLER_FREE_GENERATORS:
        return f"images from --generator {settings['generator']} (--sampler/--steps unused)"
    return f"{settings.get('steps', '?')} {settings.get('sampler', '?')} steps"
