"""Text-to-image sampling from the command line.

    python -m glide.cli.sample --prompt "a red cube on a blue floor" [--guidance cfg] [--scale 3]
        [--steps 100] [--upsample] [--batch-size 4] [--seed 0] [--checkpoints DIR] [--out DIR]

Writes one PNG per sample and beside it a JSON sidecar with every setting, the caption, the
seed, the command and the checkpoints (files, sha256, options).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tqdm.auto import tqdm

from glide.cli.common import (
    add_sampling_arguments,
    check_common,
    cli_main,
    progress,
    run_metadata,
    save_json,
    save_png,
    slug,
)
from glide.devices import DTYPES
from glide.errors import GlideError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m glide.cli.sample",
        description="Sample images from GLIDE (Nichol et al. 2021) for text prompts: the 64x64 "
        "base model with classifier-free or CLIP guidance, optionally followed by the 64->256 "
        "upsampler. Each PNG gets a JSON sidecar with all settings.",
    )
    parser.add_argument(
        "--prompt", action="append", required=True,
        help="a caption; repeat the option for several prompts",
    )  # fmt: skip
    add_sampling_arguments(parser, default_scale=3.0)
    parser.add_argument(
        "--out", type=Path, default=Path("out/samples"),
        help="output folder (created; existing files with the same names are replaced) "
        "(default: %(default)s)",
    )  # fmt: skip
    return parser


def run(args: argparse.Namespace, argv: list[str]) -> int:
    from glide.fast import fast_path_for
    from glide.pipeline import Text2ImPipeline

    check_common(args)
    if any(not p.strip() for p in args.prompt):
        raise GlideError("--prompt must not be empty (the empty caption is the unconditional one)")
    pipe = Text2ImPipeline.from_checkpoints(
        args.checkpoints, device=args.device, dtype=DTYPES[args.dtype],
        upsample=args.upsample, clip=args.guidance == "clip", progress=progress(args),
    )  # fmt: skip
    fast = fast_path_for(args.device, args.dtype)
    if fast is not None:  # bfloat16/float16: the inference fast path (glide.fast)
        pipe.use_fast_path(fast)
    meta = run_metadata("glide.cli.sample", argv, args)
    meta["pipeline"] = pipe.describe()
    index = 0
    for prompt in tqdm(args.prompt, desc="prompts", disable=not progress(args)):
        seeds = [args.seed + index + i for i in range(args.batch_size)]
        images = pipe(
            [prompt] * args.batch_size, seeds, guidance=args.guidance, scale=args.scale,
            sampler=args.sampler, steps=args.steps, eta=args.eta, upsample=args.upsample,
            upsample_steps=args.upsample_steps, upsample_temp=args.upsample_temp,
            progress=progress(args),
        )  # fmt: skip
        for image, seed in zip(images, seeds, strict=True):
            name = f"{index:04d}_{slug(prompt)}_seed{seed}"
            save_png(args.out / f"{name}.png", image)
            sidecar = {"file": f"{name}.png", "index": index, "caption": prompt, "seed": seed,
                       "size": list(image.shape[:2]), **meta}  # fmt: skip
            save_json(args.out / f"{name}.json", sidecar)
            print(args.out / f"{name}.png")
            index += 1
    return 0


def main(argv: list[str] | None = None) -> int:
    return cli_main(build_parser(), run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
