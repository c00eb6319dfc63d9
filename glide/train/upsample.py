"""Recipe: the 64->256 text-conditional upsampler (GLIDE sec. 4).

    python -m glide.train.upsample --out RUN [--model embedded-upsample] [--steps N] \
        [--low-res 64] [--device cuda]

Trains the super-resolution U-Net on high-resolution images x0 (256x256): the model sees the
noisy x_t and the clean image area-downsampled to ``--low-res`` (it resizes that back up
bilinearly and concatenates it to x_t), plus the caption, and is trained with the same hybrid
objective as the base model on the upsampler's noise schedule (linear, as the official one).
The final EMA weights are exported as ``upsample.pt`` + ``glide_options.json``.

Train/sample mismatch: the low-res conditioning in training is always a clean, area-downsampled
real image, while at sampling time it is the base model's 64x64 sample, with that model's
errors and artifacts. No conditioning augmentation (e.g. noising or blurring the low-res input,
as in cascaded diffusion models) is applied here, and the paper describes none; an upsampler
trained this way reproduces the base sample's defects rather than correcting them.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from glide.errors import GlideError
from glide.train import cli
from glide.train.config import TrainConfig
from glide.train.data import CaptionedImages, load_data
from glide.train.loop import StepContext, Task
from glide.train.presets import UNET_PRESETS

__all__ = ["UpsampleOptions", "low_res_of", "main", "make_task"]


@dataclass(frozen=True)
class UpsampleOptions:
    model: dict[str, Any] | None
    low_res: int = 64
    crop: int = 0  # train on random crops of this side (0 = whole images)
    uncond_prob: float = 0.0
    init: str | None = None
    checkpoints_dir: str | None = None
    export_dtype: str = "float32"

    def __post_init__(self) -> None:
        if not 0.0 <= self.uncond_prob < 1.0:
            raise GlideError(f"--uncond-prob {self.uncond_prob!r} must be in [0, 1)")
        if self.low_res < 1:
            raise GlideError(f"--low-res {self.low_res!r} must be a positive side length")
        if self.crop < 0:
            raise GlideError(f"--crop {self.crop!r} must be 0 (whole images) or a side length")


def low_res_of(x0: torch.Tensor, size: int) -> torch.Tensor:
    """Area-downsample x0 [N, 3, S, S] in [-1, 1] to [N, 3, size, size] (the conditioning)."""
    return F.interpolate(x0, size=(size, size), mode="area")


def random_crops(x0: torch.Tensor, crop: int, offsets: torch.Tensor) -> torch.Tensor:
    """Crops [N, 3, crop, crop] of x0 [N, 3, S, S]; ``offsets`` [N, 2] uniform in [0, 1)."""
    size = x0.shape[-1]
    top_left = (offsets * (size - crop + 1)).long().clamp(0, size - crop)
    return torch.stack(
        [
            img[:, y : y + crop, x : x + crop]
            for img, (y, x) in zip(x0, top_left.tolist(), strict=True)
        ]
    )


def make_task(cfg: TrainConfig, opts: UpsampleOptions, data: CaptionedImages | None = None) -> Task:
    from glide.train.diffusion_task import make_diffusion_task
    from glide.train.text2im import Text2ImOptions, build_trainable

    model = build_trainable(
        Text2ImOptions(model=opts.model, init=opts.init, checkpoints_dir=opts.checkpoints_dir),
        cfg.seed,
    )
    if model.config.super_res and model.config.inpaint:
        raise GlideError(
            f"model {model.config.model_class} is an inpainting upsampler; continue it with "
            "python -m glide.train.upsample_inpaint --init ..."
        )
    if not model.config.super_res:
        raise GlideError(
            f"model {model.config.model_class} is not an upsampler; set super_res=true "
            "(e.g. --model embedded-upsample)"
        )
    size = model.config.image_size
    if opts.low_res >= size:
        raise GlideError(f"--low-res {opts.low_res} must be smaller than image_size {size}")
    factor = size // opts.low_res
    step = 2 ** (len(model.config.channel_mult) - 1)
    if opts.crop and (opts.crop > size or opts.crop % step or opts.crop % factor):
        raise GlideError(
            f"--crop {opts.crop} must be at most {size} and a multiple of {step} (the U-Net's "
            f"downsampling) and of {factor} (image_size / low_res)"
        )
    if data is None:
        data = load_data(
            cfg.data,
            size,
            seed=cfg.data_seed,
            n=cfg.data_size,
            captions_per_image=cfg.captions_per_image,
            image_fit=cfg.image_fit,
            progress=cfg.progress,
        )

    def extra_inputs(x0: torch.Tensor, ctx: StepContext) -> dict[str, torch.Tensor]:
        return {"low_res": low_res_of(x0, x0.shape[-1] // factor)}

    def crop_images(x0: torch.Tensor, ctx: StepContext) -> torch.Tensor:
        return random_crops(x0, opts.crop, ctx.draws.rand(2))

    return make_diffusion_task(
        "upsample",
        model,
        data,
        uncond_prob=opts.uncond_prob,
        export_name="upsample",
        export_dtype=opts.export_dtype,
        extra_inputs=extra_inputs,
        transform=crop_images if opts.crop else None,
        image_size=opts.crop or size,
        recipe_config={
            "model": model.config.to_options(),
            "low_res": opts.low_res,
            "crop": opts.crop,
            "uncond_prob": opts.uncond_prob,
            "init": opts.init,
        },
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m glide.train.upsample",
        description="Train a GLIDE 64->256 text-conditional upsampler (hybrid loss).",
    )
    cli.add_common_arguments(
        parser, steps=1000, batch_size=8, lr=3e-4, ema_rate=0.995, data_size=4000
    )
    presets = [k for k in UNET_PRESETS if k.endswith("-upsample")] + ["upsample"]
    cli.add_model_arguments(parser, "embedded-upsample", ", ".join(presets))
    g = parser.add_argument_group("recipe")
    g.add_argument(
        "--low-res",
        type=int,
        default=64,
        help="side of the low-resolution conditioning image (default 64)",
    )
    g.add_argument(
        "--crop",
        type=int,
        default=0,
        help="train on random CROP x CROP patches (and the matching low-res patches), 4-16x "
        "cheaper per example than whole images; the network is convolutional, so it still "
        "upsamples whole images (default 0 = whole images)",
    )
    g.add_argument(
        "--uncond-prob",
        type=float,
        default=0.0,
        help="caption dropout (default 0: GLIDE samples the upsampler unguided)",
    )
    g.add_argument("--init", default=None, help="upsampler checkpoint to continue from")
    g.add_argument("--checkpoints-dir", default=None, help="folder holding --init when a name")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    def body() -> int:
        from glide.train.text2im import resolve_model_options

        opts = UpsampleOptions(
            model=resolve_model_options(args, "embedded-upsample"),
            low_res=args.low_res,
            crop=args.crop,
            uncond_prob=args.uncond_prob,
            init=args.init,
            checkpoints_dir=args.checkpoints_dir,
            export_dtype=args.export_dtype,
        )
        cfg = cli.train_config(args, init=args.init)
        return cli.train_and_report(make_task(cfg, opts), cfg)

    return cli.run_main(body)


if __name__ == "__main__":
    raise SystemExit(main())
