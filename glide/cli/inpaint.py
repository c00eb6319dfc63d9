"""Text-guided inpainting (image editing) from the command line, as in GLIDE sec. 3.3 / fig. 4.

    python -m glide.cli.inpaint --image photo.png --mask mask.png --prompt "a corgi" [--upsample]

The mask is a PNG of the same size as the image: WHITE marks the region to regenerate, black
the pixels to keep (``--mask-keep-white`` flips this). The image is resized (bicubic) and the
mask (nearest) to each model's resolution; the kept pixels of the output equal the resized
source exactly. One PNG + JSON sidecar per sample.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

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
        prog="python -m glide.cli.inpaint",
        description="Edit an image with GLIDE's inpainting models: regenerate the masked "
        "region to match a text prompt, keeping the rest of the image exactly.",
    )
    parser.add_argument("--image", type=Path, required=True, help="source image (PNG/JPEG)")
    parser.add_argument(
        "--mask", type=Path, required=True,
        help="mask image, same size as --image: white = regenerate, black = keep",
    )  # fmt: skip
    parser.add_argument(
        "--mask-keep-white", action="store_true",
        help="invert the mask convention: white = keep, black = regenerate",
    )  # fmt: skip
    parser.add_argument("--prompt", required=True, help="caption of the edited image")
    add_sampling_arguments(parser, default_scale=5.0)
    parser.add_argument(
        "--out", type=Path, default=Path("out/inpaint"),
        help="output folder (default: %(default)s)",
    )  # fmt: skip
    return parser


def load_inputs(image_path: Path, mask_path: Path, keep_white: bool):
    """uint8 image [H, W, 3] and keep-mask [H, W] (True = keep) from the two files."""
    from PIL import Image, UnidentifiedImageError

    arrays = []
    for name, path, mode in (("--image", image_path, "RGB"), ("--mask", mask_path, "L")):
        if not path.is_file():
            raise GlideError(f"{name} {str(path)!r} does not exist")
        try:
            with Image.open(path) as img:
                arrays.append(np.asarray(img.convert(mode)))
        except (UnidentifiedImageError, OSError) as err:
            raise GlideError(f"{name} {str(path)!r} is not a readable image: {err}") from None
    image, mask = arrays
    if mask.shape != image.shape[:2]:
        raise GlideError(
            f"--mask is {mask.shape[1]}x{mask.shape[0]} but --image is "
            f"{image.shape[1]}x{image.shape[0]}; give a mask of the image's size"
        )
    white = mask >= 128
    keep = white if keep_white else ~white
    if keep.all():
        raise GlideError("the mask keeps every pixel: paint the region to regenerate white")
    return image, keep


def run(args: argparse.Namespace, argv: list[str]) -> int:
    from glide.fast import fast_path_for
    from glide.pipeline import Text2ImPipeline

    check_common(args)
    image, keep = load_inputs(args.image, args.mask, args.mask_keep_white)
    pipe = Text2ImPipeline.from_checkpoints(
        args.checkpoints, device=args.device, dtype=DTYPES[args.dtype], upsample=args.upsample,
        clip=args.guidance == "clip", inpaint=True, progress=progress(args),
    )  # fmt: skip
    fast = fast_path_for(args.device, args.dtype)
    if fast is not None:  # bfloat16/float16: the inference fast path (glide.fast)
        pipe.use_fast_path(fast)
    meta = run_metadata("glide.cli.inpaint", argv, args)
    meta["pipeline"] = pipe.describe()
    n = args.batch_size
    seeds = [args.seed + i for i in range(n)]
    images = pipe(
        [args.prompt] * n, seeds, guidance=args.guidance, scale=args.scale,
        sampler=args.sampler, steps=args.steps, eta=args.eta, upsample=args.upsample,
        upsample_steps=args.upsample_steps, upsample_temp=args.upsample_temp,
        inpaint_image=np.stack([image] * n), inpaint_mask=np.stack([keep] * n),
        progress=progress(args),
    )  # fmt: skip
    for i, (result, seed) in enumerate(zip(images, seeds, strict=True)):
        name = f"{i:04d}_{slug(args.prompt)}_seed{seed}"
        save_png(args.out / f"{name}.png", result)
        sidecar = {"file": f"{name}.png", "index": i, "caption": args.prompt, "seed": seed,
                   "source_image": str(args.image), "mask": str(args.mask),
                   "size": list(result.shape[:2]), **meta}  # fmt: skip
        save_json(args.out / f"{name}.json", sidecar)
        print(args.out / f"{name}.png")
    return 0


def main(argv: list[str] | None = None) -> int:
    return cli_main(build_parser(), run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
