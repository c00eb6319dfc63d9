"""The typed configuration of one ``bench.sweep``: what to sweep, its captions, the generator,
the judges and the output, as frozen dataclasses.

Everything a sweep does follows from a :class:`SweepConfig`. The command line builds one in one
place (``bench.sweep_options.config_from_args``); the demo and ``bench.sampler_quality`` build
theirs in code (the constructors, whose defaults are the command line's). Each part checks its own
values on construction, with errors that name the command-line option, the bad value and the
fix, so a config built in code is checked as strictly as one parsed from a command line.

Options that ``--paper-parity`` decides (:data:`PAPER_PARITY`) default to :data:`QUICK`
otherwise; under paper parity every such option whose value differs from the paper's is a
deviation, recorded in sweep.json (:meth:`SweepConfig.deviations_from_paper`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.errors import BenchError
from bench.spec import RESOLUTIONS, SAMPLERS, check_guidance_interval, check_steps, parse_methods

# The GLIDE paper's zero-shot MS-COCO protocol (see /work/shared/PROTOCOL.md and the README).
PAPER_PARITY: dict[str, Any] = {
    "steps": "250",
    "num_samples": 30000,
    "sampler": "ancestral",
    "resolution": 64,
    "reference": "all",
    "extractor": "inception-v3-compat",
    "clip_model": "ViT-B-16",
}
# Defaults for a quick sweep on this CPU with the embedded default model: DPM-Solver++(2M) SDE at
# 15 steps (its 64-wide base costs about 0.06 s per image and forward on 2 cores: 64 samples at
# CFG scales 1,2,3 measured 5.0 minutes with the ODE form at 15 steps; 50 ancestral steps would
# be about 3x that, estimated). The SDE form, not the ODE form: on the embedded base the
# deterministic solvers leave grain in some samples (README, Performance), and in
# bench.sampler_quality both reach the 100-step ancestral sampler's intervals at 15 steps.
QUICK: dict[str, Any] = {
    "steps": "15",
    "num_samples": 64,
    "sampler": "dpm++2m-sde",
    "resolution": 64,
    "reference": "all",
    "extractor": "auto",
    "clip_model": "auto",
}
DTYPES: tuple[str, ...] = ("float32", "float16", "bfloat16")
SYNTHETIC_SPLITS: tuple[str, ...] = ("test", "val")
REFERENCES: tuple[str, ...] = ("all", "subset")


def _positive(flag: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise BenchError(f"{flag}: {value}; give a positive integer")


def _choice(flag: str, value: Any, choices: tuple[Any, ...]) -> None:
    if value not in choices:
        raise BenchError(f"{flag}: {value!r}; choose from {', '.join(map(str, choices))}")


@dataclass(frozen=True)
class CaptionOptions:
    """Where the captions and the reference images come from: an MS-COCO captions file and its
    image folder, or (both ``None``) the embedded synthetic set's split."""

    coco_captions: Path | None = None
    coco_images: Path | None = None
    reference: str = QUICK["reference"]
    synthetic_val_size: int = 1000
    synthetic_split: str = "test"

    def __post_init__(self) -> None:
        if (self.coco_captions is None) != (self.coco_images is None):
            raise BenchError(
                "--coco-captions and --coco-images go together: give the captions JSON and the "
                "folder of its images"
            )
        _choice("--reference", self.reference, REFERENCES)
        _positive("--synthetic-val-size", self.synthetic_val_size)
        _choice("--synthetic-split", self.synthetic_split, SYNTHETIC_SPLITS)


@dataclass(frozen=True)
class GenerationOptions:
    """The generator and how it samples; ``batch_size`` and ``device`` do not change images."""

    generator: str = "glide"
    checkpoints: Path | None = None
    sampler: str = QUICK["sampler"]
    steps: str = QUICK["steps"]
    resolution: int = QUICK["resolution"]
    upsample_steps: str = "fast27"
    upsample_temp: float = 0.997
    upsample_sampler: str = "ddim"  # the paper's (fast27 DDIM); any registered sampler
    batch_size: int = 8
    device: str = "cpu"
    dtype: str = "float32"
    model: str | None = None  # --generator diffusers: pipeline folder or hub id
    revision: str | None = None  # --generator diffusers: hub revision
    images: Path | None = None  # --generator folder: the images' folder
    generator_name: str | None = None  # display name (diffusers, folder)
    pipeline_resolution: int | None = None  # --generator diffusers: generated size

    def __post_init__(self) -> None:
        for flag, value, owner in (
            ("--model", self.model, "diffusers"),
            ("--revision", self.revision, "diffusers"),
            ("--pipeline-resolution", self.pipeline_resolution, "diffusers"),
            ("--images", self.images, "folder"),
        ):
            if value is not None and self.generator != owner:
                raise BenchError(
                    f"{flag}: {str(value)!r} applies to --generator {owner} only (this sweep's "
                    f"generator is {self.generator!r})"
                )
        if self.generator == "diffusers" and not self.model:
            raise BenchError(
                "--model: --generator diffusers needs --model (a pipeline folder written by "
                "save_pretrained, or a hub id in the local Hugging Face cache)"
            )
        if self.generator == "folder" and self.images is None:
            raise BenchError("--images: --generator folder needs --images DIR (the images)")
        if self.generator_name is not None:
            if self.generator not in ("diffusers", "folder"):
                raise BenchError(
                    f"--generator-name: {self.generator_name!r} applies to --generator "
                    "diffusers or folder (the others are named by their generator)"
                )
            if not self.generator_name.strip() or "/" in self.generator_name:
                raise BenchError(
                    f"--generator-name: {self.generator_name!r}; give a non-empty name "
                    "without '/', e.g. sd-1.5"
                )
        if self.pipeline_resolution is not None:
            _positive("--pipeline-resolution", self.pipeline_resolution)
        _choice("--sampler", self.sampler, SAMPLERS)
        _choice("--upsample-sampler", self.upsample_sampler, SAMPLERS)
        object.__setattr__(self, "steps", check_steps(self.steps))
        object.__setattr__(
            self, "upsample_steps", check_steps(self.upsample_steps, "--upsample-steps")
        )
        _choice("--resolution", self.resolution, RESOLUTIONS)
        if not math.isfinite(self.upsample_temp):
            raise BenchError(f"--upsample-temp: {self.upsample_temp}; give a finite number")
        _positive("--batch-size", self.batch_size)
        _choice("--dtype", self.dtype, DTYPES)


@dataclass(frozen=True)
class JudgeOptions:
    """The metrics and the networks that score them. ``metrics=None``: every metric that applies
    to the captions (caption and attribute match only on the synthetic set); ``()``: none."""

    metrics: tuple[str, ...] | None = None
    extractor: str = QUICK["extractor"]
    inception_weights: Path | None = None
    clip_model: str = QUICK["clip_model"]
    clip_pretrained: Path | None = None
    allow_embedded_judges: bool = False
    fid_splits: int = 20
    bootstrap: int = 1000

    def __post_init__(self) -> None:
        if self.metrics is not None:
            object.__setattr__(self, "metrics", tuple(self.metrics))
        if self.clip_pretrained is not None and self.clip_model == "embedded":
            raise BenchError(
                "--clip-pretrained: give --clip-model ARCH too (an open_clip architecture such "
                "as ViT-B-16)"
            )
        _positive("--bootstrap", self.bootstrap)
        if (
            isinstance(self.fid_splits, bool)
            or not isinstance(self.fid_splits, int)
            or (self.fid_splits < 1)
        ):
            raise BenchError(f"--fid-splits: {self.fid_splits}; give 1 (no interval) or more")


@dataclass(frozen=True)
class OutputOptions:
    """Where results go. ``out=None``: ``sweeps/<hash of the shared settings>``;
    ``cache_dir=None``: :func:`bench.metrics.context.default_cache_dir`."""

    out: Path | None = None
    cache_dir: Path | None = None
    grid_rows: int = 6
    progress: bool = True

    def __post_init__(self) -> None:
        _positive("--grid-rows", self.grid_rows)


@dataclass(frozen=True)
class SweepConfig:
    """One sweep: every (method, scale, guidance interval) of ``methods`` x ``scales`` x
    ``guidance_intervals`` on ``num_samples`` captions chosen by ``seed``.

    ``guidance_intervals``: ``None`` (guidance at every step, the default and the paper's) and/or
    ``(low, high)`` noise levels sigma where guidance acts (``glide.guidance.GuidanceInterval``;
    the glide generator only).

    ``command_line`` is the command line the config was parsed from, recorded in sweep.json
    when it still describes the config (``bench.sweep_options.recorded_argv``); it takes no
    part in equality.
    """

    methods: tuple[str, ...] = ("cfg",)
    scales: tuple[float, ...] = (1.0, 2.0, 3.0)
    guidance_intervals: tuple[tuple[float, float] | None, ...] = (None,)
    num_samples: int = QUICK["num_samples"]
    seed: int = 0
    paper_parity: bool = False
    captions: CaptionOptions = field(default_factory=CaptionOptions)
    generation: GenerationOptions = field(default_factory=GenerationOptions)
    judges: JudgeOptions = field(default_factory=JudgeOptions)
    output: OutputOptions = field(default_factory=OutputOptions)
    command_line: tuple[str, ...] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "methods", parse_methods(self.methods))
        scales = tuple(float(s) for s in self.scales)
        if not scales:
            raise BenchError(
                "--scales: none given; give comma-separated guidance scales, e.g. 1,2,3"
            )
        for scale in scales:
            if not math.isfinite(scale) or scale < 0:
                raise BenchError(
                    f"--scales: {scale!r} is not allowed; guidance scales must be finite and >= 0"
                )
        if len(set(scales)) != len(scales):
            raise BenchError(f"--scales: {scales} lists a scale twice; list each scale once")
        object.__setattr__(self, "scales", scales)
        intervals = tuple(check_guidance_interval(i) for i in self.guidance_intervals)
        if not intervals or len(set(intervals)) != len(intervals):
            raise BenchError(
                f"--guidance-interval: {intervals}; list each interval once (at least one; "
                "'full' for guidance at every step)"
            )
        if intervals != (None,) and self.generation.generator != "glide":
            raise BenchError(
                f"--guidance-interval: applies to --generator glide only (this sweep's "
                f"generator is {self.generation.generator!r})"
            )
        object.__setattr__(self, "guidance_intervals", intervals)
        if isinstance(self.num_samples, bool) or self.num_samples < 1:
            raise BenchError(f"--num-samples: {self.num_samples}; give a positive count")
        if self.paper_parity and self.captions.coco_captions is None:
            raise BenchError(
                "--paper-parity: the paper evaluates zero-shot MS-COCO; give --coco-captions "
                "captions_val2014.json --coco-images val2014/"
            )
        if self.command_line is not None:
            object.__setattr__(self, "command_line", tuple(self.command_line))

    def parity_values(self) -> dict[str, Any]:
        """The options that ``--paper-parity`` decides, as this config has them."""
        return {
            "steps": self.generation.steps,
            "num_samples": self.num_samples,
            "sampler": self.generation.sampler,
            "resolution": self.generation.resolution,
            "reference": self.captions.reference,
            "extractor": self.judges.extractor,
            "clip_model": self.judges.clip_model,
        }

    def deviations_from_paper(self) -> dict[str, Any]:
        """Under paper parity, each decided option whose value is not the paper's:
        ``{option: {"paper": ..., "used": ...}}``; empty without paper parity."""
        if not self.paper_parity:
            return {}
        return {
            key: {"paper": PAPER_PARITY[key], "used": used}
            for key, used in self.parity_values().items()
            if not same_setting(key, used, PAPER_PARITY[key])
        }


def same_setting(key: str, given: Any, paper: Any) -> bool:
    """Whether an option's value equals the paper's (ViT-B-16-quickgelu is the paper's
    ViT-B-16: OpenAI's weights run with QuickGELU, and paper parity refuses GELU)."""
    if key == "clip_model" and isinstance(given, str):
        return given.removesuffix("-quickgelu") == paper
    return given == paper
