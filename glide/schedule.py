"""Beta schedules and timestep respacing (float64 numpy).

- ``squaredcos_cap_v2``: the cosine schedule of Nichol & Dhariwal 2021 ("Improved DDPM"),
  eq. 17: alpha_bar(t) = cos^2(((t/T + s) / (1 + s)) * pi/2) with s = 0.008, and
  beta_t = min(1 - alpha_bar((t+1)/T) / alpha_bar(t/T), 0.999) (the cap avoids a singular
  last step). GLIDE's base model uses it.
- ``linear``: Ho et al. 2020's betas linearly spaced from 1e-4 to 0.02 for 1000 steps, both ends
  scaled by 1000/T so the schedule keeps its shape for any T. GLIDE's upsampler uses it.

Respacing (Nichol & Dhariwal 2021, sec. 4.3) keeps a subset S of the original steps and
rebuilds a shorter process with the same alpha_bar at the kept steps:
beta'_i = 1 - alpha_bar[S_i] / alpha_bar[S_{i-1}] (alpha_bar[S_{-1}] = 1).
The string forms follow the released GLIDE code, including its rounding (Python's round() of an
accumulated float stride) and its special cases (``ddimN``, ``fast27``); ``quadN`` is this
project's addition.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence

import numpy as np

from glide.errors import GlideError

__all__ = [
    "BETA_SCHEDULES",
    "get_named_beta_schedule",
    "register_beta_schedule",
    "respace_betas",
    "space_timesteps",
]

BetaSchedule = Callable[[int], np.ndarray]
BETA_SCHEDULES: dict[str, BetaSchedule] = {}

# Sections of the upsampler's "fast27" respacing (GLIDE paper, appendix: 27 steps, 10,10,3,2,2).
FAST27_SECTIONS = (10, 10, 3, 2, 2)
_INT = re.compile(r"\s*[0-9]+\s*")


def register_beta_schedule(name: str) -> Callable[[BetaSchedule], BetaSchedule]:
    """Decorator adding a ``steps -> betas`` function to :data:`BETA_SCHEDULES` (no duplicates)."""

    def add(fn: BetaSchedule) -> BetaSchedule:
        if name in BETA_SCHEDULES:
            raise GlideError(f"beta schedule {name!r} is already registered; pick another name")
        BETA_SCHEDULES[name] = fn
        return fn

    return add


def _check_steps(name: str, steps: object) -> int:
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps <= 0:
        raise GlideError(f"{name}={steps!r} is invalid: expected a positive integer, e.g. 1000")
    return int(steps)


def betas_for_alpha_bar(
    steps: int, alpha_bar: Callable[[float], float], max_beta: float = 0.999
) -> np.ndarray:
    """Discretise a continuous alpha_bar(t), t in [0, 1], into ``steps`` betas (float64)."""
    betas = [
        min(1.0 - alpha_bar((i + 1) / steps) / alpha_bar(i / steps), max_beta) for i in range(steps)
    ]
    return np.asarray(betas, dtype=np.float64)


@register_beta_schedule("squaredcos_cap_v2")
def _cosine(steps: int) -> np.ndarray:
    return betas_for_alpha_bar(steps, lambda t: math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2)


@register_beta_schedule("linear")
def _linear(steps: int) -> np.ndarray:
    scale = 1000 / steps
    return np.linspace(scale * 0.0001, scale * 0.02, steps, dtype=np.float64)


def get_named_beta_schedule(schedule_name: str, num_diffusion_timesteps: int) -> np.ndarray:
    """Betas [T] (float64) of a named schedule: ``squaredcos_cap_v2`` or ``linear``."""
    steps = _check_steps("num_diffusion_timesteps", num_diffusion_timesteps)
    fn = BETA_SCHEDULES.get(schedule_name) if isinstance(schedule_name, str) else None
    if fn is None:
        raise GlideError(
            f"noise_schedule={schedule_name!r} is unknown; choose one of {sorted(BETA_SCHEDULES)}"
        )
    betas = fn(steps)
    if not (np.all(betas > 0) and np.all(betas <= 1)):
        raise GlideError(
            f"noise_schedule={schedule_name!r} with {steps} steps gives betas outside (0, 1]; "
            "use more steps"
        )
    return betas


def _parse_counts(spec: str, num_timesteps: int) -> list[int]:
    parts = spec.split(",")
    if not all(_INT.fullmatch(p) for p in parts):
        raise GlideError(
            f"timestep_respacing={spec!r} is malformed: expected a step count ('100'), "
            "comma-separated section counts ('10,10,3,2,2'), 'ddimN' (e.g. 'ddim50') or 'fast27'"
        )
    return [int(p) for p in parts]


def _quadratic_steps(num_timesteps: int, count: str, spec: object) -> set[int]:
    """``quadN``: N steps spaced quadratically in t over [0, T-1] (both ends kept)."""
    if not _INT.fullmatch(count) or int(count) < 2:
        raise GlideError(
            f"timestep_respacing={spec!r} is malformed: 'quadN' needs an integer N >= 2, "
            "e.g. 'quad13'"
        )
    n = int(count)
    steps = [round((num_timesteps - 1) * (i / (n - 1)) ** 2) for i in range(n)]
    if len(set(steps)) != n:
        raise GlideError(
            f"timestep_respacing={spec!r}: {n} quadratically spaced steps of {num_timesteps} "
            "round to repeated indices near t = 0; ask for fewer steps or use a step count"
        )
    return set(steps)


def _section_steps(num_timesteps: int, counts: Sequence[int], spec: object) -> set[int]:
    """Split [0, T) into len(counts) near-equal sections, take counts[i] evenly spaced steps."""
    if not counts:
        raise GlideError(f"timestep_respacing={spec!r} has no section counts")
    for c in counts:
        if isinstance(c, bool) or not isinstance(c, (int, np.integer)) or c <= 0:
            raise GlideError(
                f"timestep_respacing={spec!r}: section count {c!r} is invalid; every count must "
                "be a positive integer"
            )
    size_per, extra = divmod(num_timesteps, len(counts))
    steps: list[int] = []
    start = 0
    for i, count in enumerate(counts):
        size = size_per + (1 if i < extra else 0)
        if size < count:
            raise GlideError(
                f"timestep_respacing={spec!r}: section {i} spans {size} of the {num_timesteps} "
                f"original steps and cannot hold {count} steps; ask for fewer steps per section"
            )
        stride = 1.0 if count <= 1 else (size - 1) / (count - 1)
        position = 0.0
        for _ in range(count):
            # Python's round() (half to even) of the accumulated float, as the reference does.
            steps.append(start + round(position))
            position += stride
        start += size
    return set(steps)


def space_timesteps(num_timesteps: int, section_counts: str | Sequence[int]) -> set[int]:
    """The set of original step indices kept by a respacing.

    ``section_counts`` is one of:

    - ``"N"`` (e.g. ``"100"``, ``"27"``): N steps evenly spread over [0, T-1], both ends kept;
    - ``"a,b,c"`` or a sequence of ints: the T steps are cut into equal sections (the first
      ``T % k`` one longer), section i contributing ``counts[i]`` evenly spread steps;
    - ``"ddimN"``: the smallest integer stride s with exactly N steps in range(0, T, s)
      (DDIM's uniform striding); an error if no stride gives exactly N;
    - ``"fast27"``: sections 10,10,3,2,2, then the noisiest step T-1 is replaced by T-3, as the
      released GLIDE code does to reduce DDIM artifacts of the noisiest step;
    - ``"quadN"`` (not in the released code): N steps t_i = round((T-1) (i/(N-1))^2), both ends
      kept: the quadratic spacing of the DDIM paper (Song et al. 2021, appendix D.2) over the
      whole range, dense at low noise like fast27 but without its adjacent section-boundary
      pairs (199/200, ...); an error if two steps would round to the same index.
    """
    T = _check_steps("num_timesteps", num_timesteps)
    if isinstance(section_counts, str):
        spec = section_counts.strip()
        if spec.startswith("ddim"):
            rest = spec[len("ddim") :]
            if not _INT.fullmatch(rest) or int(rest) <= 0:
                raise GlideError(
                    f"timestep_respacing={section_counts!r} is malformed: 'ddimN' needs a "
                    "positive integer N, e.g. 'ddim50'"
                )
            want = int(rest)
            for stride in range(1, T):
                if len(range(0, T, stride)) == want:
                    return set(range(0, T, stride))
            possible = sorted({len(range(0, T, s)) for s in range(1, T)})
            near = sorted(possible, key=lambda n: abs(n - want))[:4]
            raise GlideError(
                f"timestep_respacing={section_counts!r}: no integer stride gives exactly {want} "
                f"of {T} steps; nearby achievable counts: {sorted(near)} (or use '{want}')"
            )
        if spec.startswith("quad"):
            return _quadratic_steps(T, spec[len("quad") :], section_counts)
        if spec == "fast27":
            steps = _section_steps(T, FAST27_SECTIONS, section_counts)
            if T - 1 not in steps or T < 3:
                raise GlideError(f"'fast27' needs at least 50 original steps, got {T}")
            steps.remove(T - 1)
            steps.add(T - 3)
            return steps
        if not spec:
            raise GlideError(
                "timestep_respacing='' is empty here; pass a step count such as '100' (in "
                "create_diffusion, '' means: keep all steps)"
            )
        return _section_steps(T, _parse_counts(spec, T), section_counts)
    if isinstance(section_counts, Iterable):
        return _section_steps(T, list(section_counts), section_counts)
    raise GlideError(
        f"timestep_respacing={section_counts!r} is invalid: expected a string such as '100', "
        "'10,10,3,2,2', 'ddim50', 'fast27', or a sequence of section counts"
    )


def respace_betas(
    alphas_cumprod: np.ndarray, use_timesteps: Iterable[int]
) -> tuple[np.ndarray, np.ndarray]:
    """Betas of the process that keeps only ``use_timesteps``, and the kept original indices.

    ``alphas_cumprod``: [T] float64 of the original process. Returns (betas [K] float64,
    timestep_map [K] int64, sorted ascending) with alpha_bar'[i] = alphas_cumprod[map[i]].
    """
    alphas_cumprod = np.asarray(alphas_cumprod, dtype=np.float64)
    keep = sorted(set(int(t) for t in use_timesteps))
    T = len(alphas_cumprod)
    if not keep or keep[0] < 0 or keep[-1] >= T:
        raise GlideError(
            f"use_timesteps must be a non-empty set of indices in [0, {T - 1}], got "
            f"{keep[:3]}...{keep[-3:]}"
            if keep
            else "use_timesteps is empty"
        )
    kept = alphas_cumprod[keep]
    previous = np.concatenate([[1.0], kept[:-1]])
    return 1.0 - kept / previous, np.asarray(keep, dtype=np.int64)
