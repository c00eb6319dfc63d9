"""Shared pieces of the sampling CLIs (``glide.cli.sample``, ``glide.cli.inpaint``): options, output
files (PNG + JSON sidecar, written atomically), logging (:mod:`glide.log`: ``--quiet`` /
``--verbose``), error handling."""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import logging
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from glide.devices import DTYPES, check_device
from glide.errors import GlideError
from glide.io import atomic_write
from glide.log import add_verbosity_arguments, command_logging, show_progress, verbosity_from_args
from glide.pipeline import GUIDANCE
from glide.samplers import SAMPLERS, get_sampler
from glide.versions import installed_versions

log = logging.getLogger("glide.cli")


def add_sampling_arguments(parser: argparse.ArgumentParser, *, default_scale: float) -> None:
    """Options shared by the text-to-image and the inpainting CLIs."""
    parser.add_argument(
        "--guidance", choices=GUIDANCE, default="cfg",
        help="cfg: classifier-free guidance; clip: noised-CLIP guidance (loads the CLIP "
        "checkpoints); none: the text-conditional model unguided (default: %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--scale", type=float, default=default_scale,
        help="guidance scale s (1 = no guidance for cfg; the notebooks use 3 for text2im and "
        "5 for inpainting) (default: %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--sampler", choices=SAMPLERS, default="ancestral",
        help="base-model sampler: "
        + "; ".join(f"{s.name}: {s.description}" for s in SAMPLERS.values())
        + " (default: %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--steps", default="100",
        help="base-model timestep respacing: a step count ('100', '250'), section counts "
        "('10,10,3,2,2'), 'ddimN', 'quadN' or 'fast27' (default: %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--eta", type=float, default=0.0, help="DDIM eta (0 = deterministic; only with --sampler "
        + " or ".join(s.name for s in SAMPLERS.values() if s.takes_eta)
        + ") (default: %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--upsample", action="store_true",
        help="also run the 64->256 upsampler on each base sample (loads upsample.pt)",
    )  # fmt: skip
    parser.add_argument(
        "--upsample-steps", default="fast27",
        help="upsampler respacing, sampled with DDIM (default: %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--upsample-temp", type=float, default=0.997,
        help="scale of the upsampler's initial noise (default: %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--batch-size", type=int, default=1,
        help="samples per prompt, generated together (default: %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--seed", type=int, default=0,
        help="sample j (counting over all prompts) uses seed SEED + j; a sample depends only "
        "on its caption, its seed and the settings (default: %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--checkpoints", default=None, metavar="DIR",
        help="folder with base.pt / upsample.pt / base_inpaint.pt / upsample_inpaint.pt / "
        "clip_*.pt (+ glide_options.json for non-official sizes); 'official' downloads "
        "OpenAI's released checkpoints; default: the embedded default in glide/assets/embedded",
    )  # fmt: skip
    parser.add_argument(
        "--device", default="cpu", help="torch device, e.g. cpu or cuda (default: %(default)s)"
    )
    parser.add_argument(
        "--dtype", choices=sorted(DTYPES), default="float32",
        help="model weights/activations dtype; bfloat16/float16 run the inference fast path "
        "(glide.fast: channels-last, the device's attention kernel); sampling math stays "
        "float32 (default: %(default)s)",
    )  # fmt: skip
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    add_verbosity_arguments(parser)


def progress(args: argparse.Namespace) -> bool:
    """Progress bars unless --no-progress or --quiet (and only on rank 0 under torchrun)."""
    return not args.no_progress and show_progress()


def check_common(args: argparse.Namespace) -> None:
    if args.batch_size < 1:
        raise GlideError(f"--batch-size={args.batch_size} is invalid: expected >= 1")
    if args.eta < 0:
        raise GlideError(f"--eta={args.eta} is invalid: expected >= 0")
    takes_eta = [s.name for s in SAMPLERS.values() if s.takes_eta]
    if args.eta and not get_sampler(args.sampler, "--sampler").takes_eta:
        raise GlideError(
            f"--eta={args.eta} is invalid with --sampler {args.sampler}: --eta only applies to "
            f"--sampler {' or '.join(takes_eta)}; leave --eta at 0"
        )
    check_device(args.device)


def slug(text: str, limit: int = 40) -> str:
    cleaned = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")
    return cleaned[:limit] or "empty"


def save_png(path: Path, image: np.ndarray) -> None:
    from PIL import Image

    atomic_write(path, lambda fh: Image.fromarray(image).save(fh, format="PNG"))


def save_json(path: Path, data: Any) -> None:
    text = json.dumps(data, indent=2, sort_keys=True, default=str) + "\n"
    atomic_write(path, lambda fh: fh.write(text.encode()))


def run_metadata(prog: str, argv: Sequence[str], args: argparse.Namespace) -> dict[str, Any]:
    import glide

    return {
        "command": ["python", "-m", prog, *argv],
        "settings": vars(args),
        "versions": {
            **installed_versions(("glide-bench", "torch", "numpy", "pillow")),
            "glide-bench": glide.__version__,
            "torch": torch.__version__,
            "torch CUDA runtime": torch.version.cuda or "none (CPU build)",
        },
        "created_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


def cli_main(
    parser: argparse.ArgumentParser,
    run: Callable[[argparse.Namespace, list[str]], int],
    argv: list[str] | None,
) -> int:
    """Parse, run, and turn project errors into ``error: ...`` with exit status 2."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help (0) or a usage error (2), as a return code
        return int(exit_.code or 0)
    with command_logging(verbosity_from_args(args)):
        try:
            return run(args, argv)
        except GlideError as err:
            log.error("%s", err)
            return 2
