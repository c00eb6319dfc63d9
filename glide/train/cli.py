"""Command-line plumbing shared by the recipes: common options, model options, error handling."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from glide.errors import GlideError
from glide.train.config import IMAGE_FITS, TrainConfig

__all__ = [
    "add_common_arguments",
    "apply_overrides",
    "run_main",
    "train_and_report",
    "train_config",
]


def add_common_arguments(parser: argparse.ArgumentParser, **defaults: Any) -> None:
    """The options every recipe takes; ``defaults`` overrides TrainConfig's defaults."""
    d = {**TrainConfig(out_dir="x").to_dict(), **defaults}
    g = parser.add_argument_group("run")
    g.add_argument(
        "--out",
        required=True,
        help="run folder: config, log.jsonl, resumable state.pt, export/ (resumes if "
        "it already holds a state.pt and every option that changes the run is the same; "
        "refused, with the differences named, otherwise)",
    )
    g.add_argument(
        "--export-dir",
        default=None,
        help="where the final EMA weights + glide_options.json go (default <out>/export)",
    )
    g.add_argument(
        "--export-dtype",
        default="float32",
        choices=["float32", "float16"],
        help="dtype of the exported weights (float16 halves the files; loading casts "
        "back to the model's dtype) (default float32)",
    )
    g.add_argument(
        "--device",
        default=d["device"],
        help="cpu, cuda, cuda:N (under torchrun, cuda and cuda:N both mean cuda:LOCAL_RANK; "
        "choose GPUs with CUDA_VISIBLE_DEVICES) "
        f"(default {d['device']})",
    )
    g.add_argument(
        "--amp",
        action="store_true",
        help="bfloat16 autocast of the forward pass (CUDA, or CPUs with bf16 instructions, "
        "where it is about 1.5x faster); weights, optimizer and loss stay float32",
    )
    g.add_argument(
        "--threads",
        type=int,
        default=d["threads"],
        help="torch CPU threads per process (0 = torch's default)",
    )
    g.add_argument(
        "--seed",
        type=int,
        default=d["seed"],
        help=f"training seed: init, batches, noise, dropout (default {d['seed']})",
    )
    g.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    g = parser.add_argument_group("data")
    g.add_argument(
        "--data",
        default=d["data"],
        help="'synthetic' (render the synthetic set in memory) or a folder in MS-COCO "
        "captions format (annotations/captions_train.json + images), e.g. one "
        f"written by python -m glide.data.synthetic (default {d['data']})",
    )
    g.add_argument(
        "--data-seed",
        type=int,
        default=d["data_seed"],
        help=f"seed of the synthetic set (default {d['data_seed']})",
    )
    g.add_argument(
        "--data-size",
        type=int,
        default=d["data_size"],
        help=f"images rendered for --data synthetic (default {d['data_size']})",
    )
    g.add_argument(
        "--captions-per-image",
        type=int,
        default=d["captions_per_image"],
        help=f"paraphrased captions per synthetic image, 1-9 (default {d['captions_per_image']})",
    )
    g.add_argument(
        "--image-fit",
        default=d["image_fit"],
        choices=sorted(IMAGE_FITS),
        help="how the images of a --data folder are brought to the training resolution: "
        "center-crop (the central square, then bicubic resize: the paper's and the benchmark's "
        "preprocessing) or squash (whole image resized, aspect ratio lost; the behaviour before "
        f"this option). Recorded in config.json (default {d['image_fit']})",
    )
    g = parser.add_argument_group("optimisation")
    g.add_argument(
        "--steps",
        type=int,
        default=d["steps"],
        help=f"total optimizer steps; raise it to continue a run (default {d['steps']})",
    )
    g.add_argument(
        "--batch-size",
        type=int,
        default=d["batch_size"],
        help=f"GLOBAL batch size, split evenly over torchrun processes (default {d['batch_size']})",
    )
    g.add_argument(
        "--lr", type=float, default=d["lr"], help=f"AdamW learning rate (default {d['lr']})"
    )
    g.add_argument(
        "--weight-decay",
        type=float,
        default=d["weight_decay"],
        help=f"AdamW weight decay (default {d['weight_decay']})",
    )
    g.add_argument(
        "--adam-eps",
        type=float,
        default=d["adam_eps"],
        help=f"AdamW epsilon (default {d['adam_eps']})",
    )
    g.add_argument(
        "--warmup-steps",
        type=int,
        default=d["warmup_steps"],
        help=f"linear learning-rate warm-up steps (default {d['warmup_steps']})",
    )
    g.add_argument(
        "--lr-final-fraction",
        type=float,
        default=d["lr_final_fraction"],
        help="cosine-decay the learning rate to lr * this at the last step "
        f"(1 = constant) (default {d['lr_final_fraction']})",
    )
    g.add_argument(
        "--grad-clip",
        type=float,
        default=d["grad_clip"],
        help=f"clip the global gradient norm (0 = off) (default {d['grad_clip']})",
    )
    g.add_argument(
        "--ema-rate",
        type=float,
        default=d["ema_rate"],
        help="EMA decay of the exported weights (GLIDE: 0.9999 over long runs), reached "
        "after the warm-up min(rate, (1 + step) / (10 + step)) "
        f"(default {d['ema_rate']})",
    )
    g.add_argument(
        "--no-ema-warmup",
        action="store_true",
        help="constant EMA decay from step 0, as runs made before the warm-up existed (the "
        "exported EMA then keeps ema_rate ** steps of the initial weights; needed to resume "
        "such a run)",
    )
    g = parser.add_argument_group("logging and checkpoints")
    g.add_argument(
        "--log-every",
        type=int,
        default=d["log_every"],
        help=f"steps per log.jsonl line (default {d['log_every']})",
    )
    g.add_argument(
        "--save-every",
        type=int,
        default=d["save_every"],
        help=f"steps between resumable checkpoints (default {d['save_every']})",
    )
    g.add_argument(
        "--snapshot-every",
        type=int,
        default=d["snapshot_every"],
        help="also keep EMA weights every N steps in <out>/snapshots (0 = off)",
    )


def add_mask_arguments(group: argparse._ArgumentGroup) -> None:
    """The inpainting recipes' mask options (random rectangles erased per example)."""
    group.add_argument(
        "--mask-min-frac",
        type=float,
        default=0.25,
        help="smallest side of an erased rectangle, fraction of the image (0.25)",
    )
    group.add_argument(
        "--mask-max-frac",
        type=float,
        default=0.7,
        help="largest side of an erased rectangle, fraction of the image (0.7)",
    )


def check_mask_fracs(min_frac: float, max_frac: float) -> None:
    """Refuse mask fractions outside 0 < min <= max <= 1, naming both options."""
    if not 0 < min_frac <= max_frac <= 1:
        raise GlideError(
            f"--mask-min-frac {min_frac} / --mask-max-frac {max_frac}: need 0 < min <= max <= 1"
        )


def train_config(args: argparse.Namespace, *, init: str | None = None) -> TrainConfig:
    return TrainConfig(
        out_dir=args.out,
        data=args.data,
        data_seed=args.data_seed,
        data_size=args.data_size,
        captions_per_image=args.captions_per_image,
        image_fit=args.image_fit,
        steps=args.steps,
        batch_size=args.batch_size,
        lr=args.lr,
        weight_decay=args.weight_decay,
        adam_eps=args.adam_eps,
        warmup_steps=args.warmup_steps,
        lr_final_fraction=args.lr_final_fraction,
        grad_clip=args.grad_clip,
        ema_rate=args.ema_rate,
        ema_warmup=not args.no_ema_warmup,
        seed=args.seed,
        device=args.device,
        amp=args.amp,
        threads=args.threads,
        log_every=args.log_every,
        save_every=args.save_every,
        snapshot_every=args.snapshot_every,
        init=init,
        export_dir=args.export_dir,
        progress=not args.no_progress,
    )


def add_model_arguments(parser: argparse.ArgumentParser, default: str, choices_help: str) -> None:
    g = parser.add_argument_group("model")
    g.add_argument(
        "--model", default=default, help=f"size preset: {choices_help} (default {default})"
    )
    g.add_argument(
        "--model-options",
        default=None,
        help="JSON file (or inline JSON object) of options that replace the preset's",
    )
    g.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one option, e.g. --set num_channels=64 --set "
        "channel_mult=1,2,3,4 (repeatable; applied last)",
    )


def apply_overrides(
    options: dict[str, Any], model_options: str | None, sets: Sequence[str]
) -> dict[str, Any]:
    """Preset options updated by --model-options (JSON) and then by each --set KEY=VALUE."""
    out = dict(options)
    if model_options:
        text = model_options
        if not text.lstrip().startswith("{"):
            path = Path(text)
            if not path.is_file():
                raise GlideError(f"--model-options {text!r}: no such file and not a JSON object")
            text = path.read_text()
        try:
            extra = json.loads(text)
        except json.JSONDecodeError as exc:
            raise GlideError(f"--model-options is not valid JSON ({exc})") from None
        if not isinstance(extra, dict):
            raise GlideError("--model-options must be a JSON object of option: value")
        out.update(extra)
    for item in sets:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise GlideError(f"--set {item!r} must look like KEY=VALUE, e.g. num_channels=64")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw  # plain strings such as channel_mult=1,2,3,4
        if isinstance(value, (int, float)) and "," in raw:
            value = raw
        out[key.strip()] = value
    return out


def train_and_report(task: Any, cfg: TrainConfig) -> int:
    """Train ``task`` (a :class:`glide.train.loop.Task`), then print the final losses.

    Before training, a U-Net whose first level has one channel per GroupNorm group gets the
    warning of :func:`glide.train.diffusion_task.flat_colour_warning` on stderr.
    """
    from glide.train.diffusion_task import flat_colour_warning
    from glide.train.loop import train

    config = getattr(task.module, "config", None)
    if config is not None and hasattr(config, "level_channels"):
        message = flat_colour_warning(config)
        if message:
            print(message, file=sys.stderr)
    summary = train(task, cfg)
    print(f"done: {summary['steps']} steps, final losses {summary['final_losses']}")
    return 0


def run_main(body: Callable[[], int]) -> int:
    """Run a CLI body; project errors become ``error: ...`` on stderr and exit status 2."""
    try:
        return body()
    except GlideError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
