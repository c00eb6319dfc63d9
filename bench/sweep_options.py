"""Command-line options of ``python -m bench.sweep`` and the paper-parity defaults.

Options that ``--paper-parity`` sets default to ``None`` in argparse, so that the resolved value
can tell "left at the default" from "given": a given value that differs from the paper's is
kept and recorded as a deviation in sweep.json.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.errors import BenchError
from bench.spec import SAMPLERS
from glide.log import add_verbosity_arguments

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


def _same_setting(key: str, given: Any, paper: Any) -> bool:
    """Whether a given option equals the paper's (ViT-B-16-quickgelu is the paper's ViT-B-16:
    OpenAI's weights run with QuickGELU, and paper parity refuses GELU)."""
    if key == "clip_model" and isinstance(given, str):
        return given.removesuffix("-quickgelu") == paper
    return given == paper


@dataclass(frozen=True)
class Resolved:
    values: dict[str, Any]
    deviations: dict[str, Any]
    paper_parity: bool


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
        help="glide (the GLIDE pipeline) or toy (a tiny random network with no "
        "weights, for testing the harness only)",
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
        help=f"base-model respacing: a step count, 'ddimN' or 'fast27' "
        f"[default: {QUICK['steps']}; paper parity {PAPER_PARITY['steps']}]",
    )
    g.add_argument(
        "--resolution",
        type=int,
        choices=(64, 256),
        default=None,
        help="64 (base model) or 256 (base + upsampler) [default: 64]",
    )
    g.add_argument("--upsample-steps", default="fast27", help="upsampler respacing (256 only)")
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


def resolve(args: argparse.Namespace) -> Resolved:
    """Fill parity-controlled options from the paper (``--paper-parity``) or the quick defaults."""
    base = PAPER_PARITY if args.paper_parity else QUICK
    values: dict[str, Any] = {}
    deviations: dict[str, Any] = {}
    for key, default in base.items():
        given = getattr(args, key)
        values[key] = default if given is None else given
        same = _same_setting(key, given, PAPER_PARITY[key])
        if args.paper_parity and given is not None and not same:
            deviations[key] = {"paper": PAPER_PARITY[key], "used": given}
    if args.paper_parity and args.coco_captions is None:
        raise BenchError(
            "--paper-parity: the paper evaluates zero-shot MS-COCO; give --coco-captions "
            "captions_val2014.json --coco-images val2014/"
        )
    if (args.coco_captions is None) != (args.coco_images is None):
        raise BenchError(
            "--coco-captions and --coco-images go together: give the captions JSON and the "
            "folder of its images"
        )
    if args.clip_pretrained is not None and values["clip_model"] == "embedded":
        raise BenchError(
            "--clip-pretrained: give --clip-model ARCH too (an open_clip architecture such as "
            "ViT-B-16)"
        )
    for name in ("batch_size", "grid_rows", "synthetic_val_size", "bootstrap"):
        if getattr(args, name) < 1:
            flag = "--" + name.replace("_", "-")
            raise BenchError(f"{flag}: {getattr(args, name)}; give a positive integer")
    if args.fid_splits < 1:
        raise BenchError(f"--fid-splits: {args.fid_splits}; give 1 (no interval) or more")
    if values["num_samples"] < 1:
        raise BenchError(f"--num-samples: {values['num_samples']}; give a positive count")
    return Resolved(values, deviations, bool(args.paper_parity))
