"""Run specifications: what one (method, scale) run of a sweep is, and how it is named.

A :class:`RunSpec` is frozen and holds everything that changes the images of a run. Its
``run_id`` is a short content hash of its canonical JSON, so a run folder is found again (and
skipped when finished) from the spec alone. Batch size, device and process count are *not* part
of the spec: every image depends only on its caption, its per-sample seed and the settings here.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bench.errors import BenchError
from glide.errors import GlideError
from glide.samplers import SAMPLERS  # the sampler registry (its keys are the names)
from glide.schedule import space_timesteps

METHODS: tuple[str, ...] = ("cfg", "clip")
RESOLUTIONS: tuple[int, ...] = (64, 256)
SPEC_VERSION = 1
_STEPS_RE = re.compile(r"^(?:[1-9][0-9]*(?:,[1-9][0-9]*)*|ddim[1-9][0-9]*|quad[1-9][0-9]*|fast27)$")


def canonical_json(obj: Any) -> str:
    """JSON with sorted keys and no whitespace: the text that content hashes are taken of."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def content_hash(obj: Any, length: int = 12) -> str:
    """Short sha256 hex digest of ``canonical_json(obj)``."""
    return hashlib.sha256(canonical_json(obj).encode("ascii")).hexdigest()[:length]


def sample_seed(seed: int, index: int) -> int:
    """Per-sample seed derived from (run seed, caption index), shared by every method and scale.

    Hashing (rather than ``seed + index``) keeps the streams of neighbouring run seeds unrelated.
    The result fits in a signed 63-bit integer (``torch.Generator.manual_seed`` accepts it).
    """
    digest = hashlib.sha256(f"glide-bench/sample/{int(seed)}/{int(index)}".encode()).digest()
    return int.from_bytes(digest[:8], "big") & ((1 << 63) - 1)


def generator_display_name(settings: Mapping[str, Any]) -> str:
    """The generator's name in tables, legends and study conditions, from a run spec or a
    sweep's settings: the identity's ``display_name`` (diffusers: the model's name; folder: the
    folder's name; both overridable with ``--generator-name``), else the generator's registry
    name (``glide``, ``toy``)."""
    identity = settings.get("checkpoints")
    if isinstance(identity, Mapping) and isinstance(identity.get("display_name"), str):
        return identity["display_name"]
    return str(settings.get("generator") or "unknown")


def format_scale(scale: float) -> str:
    """``3.0 -> "3"``, ``1.5 -> "1.5"``: the scale as it appears in labels."""
    return f"{scale:g}"


def parse_scales(text: str) -> tuple[float, ...]:
    """Parse ``--scales`` ("1,2,3") into floats; refuses empty items, non-numbers, negatives."""
    if not isinstance(text, str) or not text.strip():
        raise BenchError(
            f"--scales: got {text!r}; give comma-separated guidance scales, e.g. 1,2,3"
        )
    scales: list[float] = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            raise BenchError(
                f"--scales: empty item in {text!r}; give comma-separated numbers such as 1,2,3 "
                "(no doubled or trailing commas)"
            )
        try:
            value = float(item)
        except ValueError:
            raise BenchError(
                f"--scales: {item!r} in {text!r} is not a number; give comma-separated numbers "
                "such as 1,2,3"
            ) from None
        if not math.isfinite(value) or value < 0:
            raise BenchError(
                f"--scales: {item!r} in {text!r} is not allowed; guidance scales must be finite "
                "and >= 0 (0 = unconditional for cfg, 1 = conditional without guidance)"
            )
        if value in scales:
            raise BenchError(f"--scales: {item!r} appears twice in {text!r}; list each scale once")
        scales.append(value)
    return tuple(scales)


def parse_methods(values: Iterable[str]) -> tuple[str, ...]:
    """Parse one or more ``--method`` values ("cfg", "clip", "cfg,clip") into a unique tuple."""
    methods: list[str] = []
    for value in values:
        for item in str(value).split(","):
            item = item.strip()
            if item not in METHODS:
                raise BenchError(
                    f"--method: unknown method {item!r}; choose from {', '.join(METHODS)} "
                    "(give --method twice or 'cfg,clip' for both)"
                )
            if item not in methods:
                methods.append(item)
    if not methods:
        raise BenchError(f"--method: none given; choose from {', '.join(METHODS)}")
    return tuple(methods)


def check_steps(steps: str, option: str = "--steps") -> str:
    """Validate a respacing string: a step count ("100"), section counts ("5,4,1,1,2": the 1000
    training steps cut into equal sections, section i keeping counts[i] evenly spread steps, as
    in the released GLIDE code), "ddimN", "quadN" (N steps spaced quadratically in t, dense at
    low noise) or "fast27"."""
    steps = str(steps).strip().replace(" ", "")
    if not _STEPS_RE.match(steps):
        raise BenchError(
            f"{option}: {steps!r} is not a respacing; give a positive step count such as 100 or "
            "250, comma-separated section counts such as 5,4,1,1,2 (the training steps cut "
            "into equal sections, each keeping that many evenly spread steps), 'ddimN' (evenly "
            "strided DDIM steps), 'quadN' (N steps spaced quadratically in t, dense at low "
            "noise) or 'fast27' (the upsampler's schedule)"
        )
    step_count(steps, option=option)  # it must also respace GLIDE's 1000 training steps
    return steps


def parse_sampler_steps(item: str, option: str, example: str) -> tuple[str, str]:
    """``"ddim:quad13"`` -> ``("ddim", "quad13")``: a registered sampler and a valid respacing,
    else a BenchError naming ``option`` (``example``: a valid value for the message)."""
    sampler, sep, steps = item.partition(":")
    if not sep or sampler not in SAMPLERS:
        raise BenchError(
            f"{option}: {item!r} is not SAMPLER:STEPS with SAMPLER in {', '.join(SAMPLERS)}, "
            f"e.g. {example}"
        )
    return sampler, check_steps(steps, option)


def step_count(steps: str, num_timesteps: int = 1000, option: str = "--steps") -> int:
    """How many sampling steps a respacing string keeps of ``num_timesteps`` training steps."""
    try:
        return len(space_timesteps(num_timesteps, steps))
    except GlideError as err:
        raise BenchError(f"{option}: {err}") from None


@dataclass(frozen=True)
class SweepSettings:
    """Everything shared by the runs of one sweep folder (all methods and scales)."""

    generator: str
    checkpoints: Mapping[str, Any]
    captions: Mapping[str, Any]
    sampler: str
    steps: str
    resolution: int
    seed: int
    num_samples: int
    upsample_steps: str = "fast27"
    upsample_temp: float = 0.997
    dtype: str = "float32"
    upsample_sampler: str = "ddim"  # in to_json (and so in run ids) only when not "ddim"

    def __post_init__(self) -> None:
        if self.sampler not in SAMPLERS:
            raise BenchError(f"--sampler: {self.sampler!r}; choose from {', '.join(SAMPLERS)}")
        if self.upsample_sampler not in SAMPLERS:
            raise BenchError(
                f"--upsample-sampler: {self.upsample_sampler!r}; choose from {', '.join(SAMPLERS)}"
            )
        if self.resolution not in RESOLUTIONS:
            raise BenchError(
                f"--resolution: {self.resolution!r}; choose 64 (base model) or 256 (through the "
                "upsampler)"
            )
        if self.num_samples < 1:
            raise BenchError(f"--num-samples: {self.num_samples}; give a positive count")
        check_steps(self.steps)
        check_steps(self.upsample_steps, "--upsample-steps")

    def to_json(self) -> dict[str, Any]:
        body = dataclasses.asdict(self)
        if body["upsample_sampler"] == "ddim":  # the paper's: run ids from before it existed
            del body["upsample_sampler"]
        return json.loads(canonical_json(body))

    def key(self) -> str:
        """Content hash of the shared settings: one sweep folder holds one key."""
        return content_hash(self.to_json())


def check_guidance_interval(value: Any) -> tuple[float, float] | None:
    """A guidance interval ``(low, high)`` in noise levels sigma (``glide.guidance.
    GuidanceInterval``), as floats; None (guidance at every step) stays None."""
    if value is None:
        return None
    from glide.guidance import GuidanceInterval

    try:
        if isinstance(value, str):
            interval = GuidanceInterval.parse(value)
        else:
            low, high = value
            interval = GuidanceInterval(low, high)
    except (TypeError, ValueError) as err:  # GlideError is a ValueError: its own message
        detail = str(err).removeprefix("--guidance-interval: ")
        raise BenchError(
            f"--guidance-interval: {value!r}: {detail}; give LO,HI noise levels sigma, e.g. "
            "0.28,5.42"
        ) from None
    return (interval.low, interval.high)


def format_interval(interval: tuple[float, float] | None) -> str:
    """``(0.28, 5.42) -> "0.28,5.42"`` (as ``--guidance-interval`` takes it); None -> ``""``."""
    if interval is None:
        return ""
    short = [f"{x:g}" if float(f"{x:g}") == x else repr(float(x)) for x in interval]
    return ",".join(short)


@dataclass(frozen=True)
class RunSpec:
    """One (method, scale[, guidance interval]) run; ``run_id`` is a content hash of the rest
    of the spec. ``guidance_interval`` (noise levels sigma, ``glide.guidance``) enters the spec
    and its hash only when set, so a run guided at every step keeps the id it always had."""

    method: str
    scale: float
    settings: SweepSettings
    version: int = field(default=SPEC_VERSION)
    guidance_interval: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise BenchError(f"--method: unknown method {self.method!r}; choose from {METHODS}")
        if not math.isfinite(self.scale) or self.scale < 0:
            raise BenchError(f"--scales: {self.scale!r}; guidance scales must be finite and >= 0")
        object.__setattr__(self, "scale", float(self.scale))
        object.__setattr__(
            self, "guidance_interval", check_guidance_interval(self.guidance_interval)
        )

    @property
    def label(self) -> str:
        label = f"{self.method}@{format_scale(self.scale)}"
        if self.guidance_interval is not None:
            label += f" sigma[{format_interval(self.guidance_interval)}]"
        return label

    def _body(self) -> dict[str, Any]:
        body = {"spec_version": self.version, "method": self.method, "scale": self.scale}
        if self.guidance_interval is not None:
            body["guidance_interval"] = list(self.guidance_interval)
        body.update(self.settings.to_json())
        return body

    @property
    def run_id(self) -> str:
        return content_hash(self._body())

    def to_json(self) -> dict[str, Any]:
        """The content of ``spec.json``: the hashed body plus ``run_id`` and ``label``."""
        out = {"run_id": self.run_id, "label": self.label}
        out.update(self._body())
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunSpec:
        """Rebuild a spec from ``spec.json``; refuses a file whose ``run_id`` does not match."""
        body = {k: v for k, v in data.items() if k not in ("run_id", "label")}
        version = body.pop("spec_version", None)
        method = body.pop("method", None)
        scale = body.pop("scale", None)
        interval = body.pop("guidance_interval", None)
        names = {f.name for f in dataclasses.fields(SweepSettings)}
        unknown = set(body) - names
        if version != SPEC_VERSION or unknown or method is None or scale is None:
            raise BenchError(
                f"spec.json: not a glide-bench run spec of version {SPEC_VERSION} "
                f"(version={version!r}, unexpected keys={sorted(unknown)}); regenerate the run"
            )
        spec = cls(
            method=method,
            scale=float(scale),
            settings=SweepSettings(**body),
            guidance_interval=None if interval is None else tuple(interval),
        )
        if "run_id" in data and data["run_id"] != spec.run_id:
            raise BenchError(
                f"spec.json: run_id {data['run_id']!r} does not match its content "
                f"({spec.run_id!r}); the file was edited by hand; delete the run folder"
            )
        return spec
