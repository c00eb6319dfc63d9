"""Command line of ``python -m bench.sweep``: the parser, and the one builder of a
:class:`~bench.sweep_config.SweepConfig` from it (:func:`config_from_args`).

Options that ``--paper-parity`` decides default to ``None`` in argparse, so that the builder
can tell "left at the default" (the paper's value under ``--paper-parity``, else the quick
default) from "given": a given value that differs from the paper's is kept, and the config
reports it as a deviation (recorded in sweep.json). :func:`config_to_argv` is the inverse: the
command line of a config built in code, recorded in its sweep.json.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.metrics.registry import parse_metrics
from bench.spec import (
    SAMPLERS,
    check_guidance_interval,
    format_interval,
    format_scale,
    parse_methods,
    parse_scales,
)
from bench.sweep_config import (
    PAPER_PARITY,
    QUICK,
    CaptionOptions,
    GenerationOptions,
    JudgeOptions,
    OutputOptions,
    SweepConfig,
)
from glide.log import add_verbosity_arguments

__all__ = [
    "PAPER_PARITY",
    "QUICK",
    "build_parser",
    "config_from_args",
    "config_from_namespace",
    "config_to_argv",
    "recorded_argv",
]


class _Formatter(argparse.ArgumentDefaultsHelpFormatter):
    """Show "(default: X)" only where the help text does not already say it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "[default" in text or action.default is None or action.default is False:
            return text
        return super()._get_help_string(action)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench.sweep",
        description=(
            "Guidance-scale sweep: generate images for each (method, scale) into run folders, "
            "score them (FID, IS, KID, precision/recall, CLIP score, caption and attribute "
            "match) and write results.csv/.parquet, Pareto plots and sample grids. Resumable: "
            "run the same command again to continue. Shard with torchrun --nproc_per_node N "
            "-m bench.sweep."
        ),
        formatter_class=_Formatter,
    )
    g = p.add_argument_group("what to sweep")
    g.add_argument(
        "--method",
        action="append",
        default=None,
        help="guidance method: cfg (classifier-free) or clip (noised-CLIP guidance); "
        "give twice or 'cfg,clip' for both in one sweep folder [default: cfg]",
    )
    g.add_argument(
        "--scales",
        default="1,2,3",
        help="comma-separated guidance scales (>= 0; 1 = no guidance for cfg)",
    )
    g.add_argument(
        "--guidance-interval",
        action="append",
        default=None,
        metavar="LO,HI",
        help="guide only at noise levels LO <= sigma <= HI, sigma = sqrt((1 - abar_t) / abar_t) "
        "of the base model's original timestep t (Kynkaanniemi et al. 2024; outside it the "
        "unconditional half of the batch is not run); give it several times to sweep "
        "intervals, 'full' for guidance at every step (glide generator only) [default: full]",
    )
    g.add_argument(
        "--num-samples",
        type=int,
        default=None,
        help=f"images per run (captions evaluated) [default: {QUICK['num_samples']}; "
        f"paper parity {PAPER_PARITY['num_samples']}]",
    )
    g.add_argument(
        "--seed",
        type=int,
        default=0,
        help="picks the caption subset and every sample's noise (per-sample seeds "
        "from (seed, caption index), shared by all scales)",
    )
    g.add_argument(
        "--paper-parity",
        action="store_true",
        help="the paper's protocol: 250 ancestral steps, 30,000 samples at 64x64, "
        "reference = whole val set (center-cropped), standard Inception features, "
        "CLIP ViT-B-16 score; needs --coco-captions, --inception-weights and "
        "--clip-pretrained",
    )
    g = p.add_argument_group("captions and reference images")
    g.add_argument(
        "--coco-captions",
        type=Path,
        default=None,
        help="MS-COCO captions JSON (e.g. captions_val2014.json); default: the embedded "
        "synthetic set's test split (captions and reference images), generated once into the "
        "cache",
    )
    g.add_argument(
        "--coco-images",
        type=Path,
        default=None,
        help="folder holding the images named in --coco-captions (e.g. val2014/)",
    )
    g.add_argument(
        "--reference",
        choices=("all", "subset"),
        default=None,
        help="reference set for FID/KID/PR: every image of the captions file (the "
        "paper) or only those of the sampled captions [default: all]",
    )
    g.add_argument(
        "--synthetic-val-size",
        type=int,
        default=1000,
        help="captions (and reference images) of the synthetic split used (the name predates "
        "the test split)",
    )
    g.add_argument(
        "--synthetic-split",
        choices=("test", "val"),
        default="test",
        help="synthetic split: test (final evaluation: no training, checkpoint choice or tuning "
        "read it) or val (model selection and tuning, e.g. bench.sampler_quality)",
    )
    g = p.add_argument_group("generation")
    g.add_argument(
        "--generator",
        default="glide",
        help="glide (the GLIDE pipeline), diffusers (a diffusers text-to-image pipeline, "
        "--model; needs the diffusers extra), folder (images made elsewhere, --images) or toy "
        "(a tiny random network with no weights, for testing the harness only)",
    )
    g.add_argument(
        "--model",
        default=None,
        help="--generator diffusers: a pipeline folder (DiffusionPipeline.save_pretrained) or a "
        "hub id read from the local Hugging Face cache (downloads only with HF_HUB_OFFLINE=0); "
        "cfg scales >= 1, --steps a plain count, --sampler mapped to the pipeline's scheduler",
    )
    g.add_argument(
        "--revision", default=None, help="--generator diffusers: the hub revision of --model"
    )
    g.add_argument(
        "--pipeline-resolution",
        type=int,
        default=None,
        help="--generator diffusers: the size the pipeline generates at, resized to "
        "--resolution when it differs [default: the pipeline's default size]",
    )
    g.add_argument(
        "--images",
        type=Path,
        default=None,
        help="--generator folder: a folder of images made elsewhere, <method>/<scale>/<index>.png "
        "or a manifest.csv (README, 'Other generators'); caption index i is caption i of "
        "python -m bench.prompts with the same caption options",
    )
    g.add_argument(
        "--generator-name",
        default=None,
        help="--generator diffusers/folder: the name in tables, legends and study conditions "
        "[default: the model's or the folder's name]",
    )
    g.add_argument(
        "--checkpoints",
        type=Path,
        default=None,
        help="folder with GLIDE checkpoints (official names, optional "
        "glide_options.json); default: the embedded default model",
    )
    g.add_argument(
        "--sampler",
        choices=SAMPLERS,
        default=None,
        help="base-model sampler; dpm++2m is DPM-Solver++(2M) and dpm++2m-sde its stochastic "
        "(SDE) form, both meant for 10-20 --steps "
        f"[default: {QUICK['sampler']}; paper parity {PAPER_PARITY['sampler']}]",
    )
    g.add_argument(
        "--steps",
        default=None,
        help="base-model respacing: a step count, section counts (e.g. 5,4,1,1,2), 'ddimN', "
        "'quadN' or 'fast27' "
        f"[default: {QUICK['steps']}; paper parity {PAPER_PARITY['steps']}]",
    )
    g.add_argument(
        "--resolution",
        type=int,
        choices=(64, 256),
        default=None,
        help="64 (base model) or 256 (base + upsampler) [default: 64]",
    )
    g.add_argument(
        "--upsample-steps",
        default="fast27",
        help="upsampler respacing (256 only): fast27 (the paper's), a step count, section "
        "counts such as 5,4,1,1,2 (the training steps cut into equal sections, each keeping "
        "that many evenly spread steps), ddimN or quadN (N steps spaced quadratically in t; "
        "ddim with quad13 matched fast27 on the embedded default with 2.08x fewer steps, see "
        "the README)",
    )
    g.add_argument(
        "--upsample-sampler",
        choices=SAMPLERS,
        default="ddim",
        help="upsampler sampler (256 only); the paper's is ddim with --upsample-steps fast27",
    )
    g.add_argument(
        "--upsample-temp", type=float, default=0.997, help="upsampler noise temperature (256 only)"
    )
    g.add_argument("--batch-size", type=int, default=8, help="images per generator call")
    g.add_argument("--device", default="cpu", help="cpu, cuda (cuda:<local rank> under torchrun)")
    g.add_argument(
        "--dtype", choices=("float32", "float16", "bfloat16"), default="float32", help="model dtype"
    )
    g = p.add_argument_group("metrics")
    g.add_argument(
        "--metrics",
        default=None,
        help="comma-separated metrics (fid,is,kid,precision,recall,clip_score,"
        "caption_match,attribute_match) or 'none' [default: all that apply; caption_match "
        "and attribute_match only on the synthetic set]",
    )
    g.add_argument(
        "--extractor",
        default=None,
        help="torch-fidelity feature extractor: auto follows the captions (synthetic: the "
        "embedded glide-bench-synth; COCO or any other captions: the standard Inception "
        "inception-v3-compat, which needs its weights), or a registered extractor name "
        "[default: auto]",
    )
    g.add_argument(
        "--inception-weights",
        type=Path,
        default=None,
        help="local torch-fidelity Inception weights, weights-inception-2015-12-05-6726825d.pth "
        "(torch-fidelity's GitHub release v0.2.0); needed for COCO captions unless it is in "
        "torch-fidelity's own download cache",
    )
    g.add_argument(
        "--clip-model",
        default=None,
        help="evaluation CLIP: auto follows the captions (synthetic: the embedded CLIP; COCO: "
        "ViT-B-16, the paper's judge), 'embedded', or an open_clip architecture with "
        "--clip-pretrained. Activation: OpenAI's TorchScript file (ViT-B-16.pt) always runs "
        "as the QuickGELU model (ViT-B-16-quickgelu); for a plain state dict the name decides: "
        "ViT-B-16-quickgelu for OpenAI's weights, ViT-B-16 (GELU) for LAION-style weights "
        "[default: auto]",
    )
    g.add_argument(
        "--clip-pretrained",
        type=Path,
        default=None,
        help="local weights file for --clip-model: OpenAI's TorchScript archive (ViT-B-16.pt) "
        "or an open_clip state dict; nothing is downloaded",
    )
    g.add_argument(
        "--allow-embedded-judges",
        action="store_true",
        help="let the embedded judges (glide-bench-synth features, the embedded CLIP; trained "
        "on synthetic shapes) score COCO or other real captions: a smoke test of the harness "
        "whose numbers compare with nothing; recorded in sweep.json and the report as a "
        "deviation",
    )
    g.add_argument(
        "--fid-splits",
        type=int,
        default=20,
        help="groups of the delete-d jackknife over generated images behind the FID interval "
        "(equal groups of n // g images; 1 = no interval)",
    )
    g.add_argument(
        "--bootstrap", type=int, default=1000, help="bootstrap resamples for per-image intervals"
    )
    g = p.add_argument_group("output")
    g.add_argument(
        "--out",
        type=Path,
        default=None,
        help="sweep folder [default: sweeps/<hash of the shared settings>]",
    )
    g.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help="cache for the synthetic set and reference features [default: "
        "$GLIDE_BENCH_CACHE, $GLIDE_CACHE_DIR or ~/.cache/glide-bench]",
    )
    g.add_argument("--grid-rows", type=int, default=6, help="captions per sample grid")
    g.add_argument("--no-progress", action="store_true", help="hide progress bars")
    add_verbosity_arguments(g)
    return p


def config_from_args(argv: Sequence[str]) -> SweepConfig:
    """The sweep config of a ``python -m bench.sweep`` command line (``argv`` without the
    program name); argparse exits on a malformed line or ``--help``."""
    argv = list(argv)
    return config_from_namespace(build_parser().parse_args(argv), argv)


def config_from_namespace(args: argparse.Namespace, argv: Sequence[str]) -> SweepConfig:
    """The sweep config of parsed options; ``argv`` (what was parsed) is kept as the config's
    ``command_line``. Options ``--paper-parity`` decides are filled from the paper or the quick
    defaults where not given."""
    base = PAPER_PARITY if args.paper_parity else QUICK
    decided = {key: base[key] if getattr(args, key) is None else getattr(args, key) for key in base}
    if args.metrics is None:
        metrics = None
    elif args.metrics.strip() == "none":
        metrics = ()
    else:
        metrics = parse_metrics(args.metrics)
    return SweepConfig(
        methods=parse_methods(args.method or ["cfg"]),
        scales=parse_scales(args.scales),
        guidance_intervals=parse_intervals(args.guidance_interval),
        num_samples=decided["num_samples"],
        seed=args.seed,
        paper_parity=bool(args.paper_parity),
        captions=CaptionOptions(
            coco_captions=args.coco_captions,
            coco_images=args.coco_images,
            reference=decided["reference"],
            synthetic_val_size=args.synthetic_val_size,
            synthetic_split=args.synthetic_split,
        ),
        generation=GenerationOptions(
            generator=args.generator,
            checkpoints=args.checkpoints,
            sampler=decided["sampler"],
            steps=decided["steps"],
            resolution=decided["resolution"],
            upsample_steps=args.upsample_steps,
            upsample_temp=args.upsample_temp,
            upsample_sampler=args.upsample_sampler,
            batch_size=args.batch_size,
            device=args.device,
            dtype=args.dtype,
            model=args.model,
            revision=args.revision,
            images=args.images,
            generator_name=args.generator_name,
            pipeline_resolution=args.pipeline_resolution,
        ),
        judges=JudgeOptions(
            metrics=metrics,
            extractor=decided["extractor"],
            inception_weights=args.inception_weights,
            clip_model=decided["clip_model"],
            clip_pretrained=args.clip_pretrained,
            allow_embedded_judges=bool(args.allow_embedded_judges),
            fid_splits=args.fid_splits,
            bootstrap=args.bootstrap,
        ),
        output=OutputOptions(
            out=args.out,
            cache_dir=args.cache_dir,
            grid_rows=args.grid_rows,
            progress=not args.no_progress,
        ),
        command_line=tuple(argv),
    )


def _scale_text(scale: float) -> str:
    short = format_scale(scale)
    return short if float(short) == scale else repr(scale)


def parse_intervals(values: Sequence[str] | None) -> tuple[tuple[float, float] | None, ...]:
    """``--guidance-interval`` values ("full" or "LO,HI", each given once) -> the config's
    ``guidance_intervals``; none given: ``(None,)``, guidance at every step."""
    if not values:
        return (None,)
    return tuple(
        None if v.strip() == "full" else check_guidance_interval(v.strip()) for v in values
    )


def config_to_argv(config: SweepConfig) -> list[str]:
    """A command line that :func:`config_from_args` turns back into ``config`` (options at
    their default left out)."""
    parity = PAPER_PARITY if config.paper_parity else QUICK
    c, g, j, o = config.captions, config.generation, config.judges, config.output
    metrics = None if j.metrics is None else (",".join(j.metrics) or "none")
    options: list[tuple[str, Any, Any]] = [  # (flag, value, the parser's default)
        ("--paper-parity", config.paper_parity, False),
        ("--method", ",".join(config.methods), "cfg"),
        ("--scales", ",".join(_scale_text(s) for s in config.scales), "1,2,3"),
        ("--num-samples", config.num_samples, parity["num_samples"]),
        ("--seed", config.seed, 0),
        ("--coco-captions", c.coco_captions, None),
        ("--coco-images", c.coco_images, None),
        ("--reference", c.reference, parity["reference"]),
        ("--synthetic-val-size", c.synthetic_val_size, 1000),
        ("--synthetic-split", c.synthetic_split, "test"),
        ("--generator", g.generator, "glide"),
        ("--checkpoints", g.checkpoints, None),
        ("--model", g.model, None),
        ("--revision", g.revision, None),
        ("--pipeline-resolution", g.pipeline_resolution, None),
        ("--images", g.images, None),
        ("--generator-name", g.generator_name, None),
        ("--sampler", g.sampler, parity["sampler"]),
        ("--steps", g.steps, parity["steps"]),
        ("--resolution", g.resolution, parity["resolution"]),
        ("--upsample-steps", g.upsample_steps, "fast27"),
        ("--upsample-temp", g.upsample_temp, 0.997),
        ("--upsample-sampler", g.upsample_sampler, "ddim"),
        ("--batch-size", g.batch_size, 8),
        ("--device", g.device, "cpu"),
        ("--dtype", g.dtype, "float32"),
        ("--metrics", metrics, None),
        ("--extractor", j.extractor, parity["extractor"]),
        ("--inception-weights", j.inception_weights, None),
        ("--clip-model", j.clip_model, parity["clip_model"]),
        ("--clip-pretrained", j.clip_pretrained, None),
        ("--allow-embedded-judges", j.allow_embedded_judges, False),
        ("--fid-splits", j.fid_splits, 20),
        ("--bootstrap", j.bootstrap, 1000),
        ("--out", o.out, None),
        ("--cache-dir", o.cache_dir, None),
        ("--grid-rows", o.grid_rows, 6),
        ("--no-progress", not o.progress, False),
    ]
    argv: list[str] = []
    for flag, value, default in options:
        if value == default:
            continue
        argv += [flag] if value is True else [flag, str(value)]
    if config.guidance_intervals != (None,):
        for interval in config.guidance_intervals:
            argv += ["--guidance-interval", format_interval(interval) or "full"]
    return argv


def recorded_argv(config: SweepConfig) -> list[str]:
    """The command line recorded for ``config`` in sweep.json: the one it was parsed from while
    that still describes it (a config changed since, e.g. by ``dataclasses.replace``, is not
    described by it), else :func:`config_to_argv`."""
    if config.command_line is not None:
        try:
            if config_from_args(config.command_line) == config:
                return list(config.command_line)
        except SystemExit:  # not a bench.sweep command line at all
            pass
    return config_to_argv(config)
