"""Recipe: inpainting fine-tuning of the 64->256 upsampler (GLIDE sec. 3.2 and 4).

    python -m glide.train.upsample_inpaint --out RUN --init UPSAMPLER_CHECKPOINT \
        [--low-res 64] [--crop 64] [--steps N] [--device cuda]

The paper fine-tunes both stages for inpainting; this is the second stage, the model released
as ``upsample_inpaint.pt``. As in :mod:`glide.train.inpaint`, the upsampler gets four more input
channels (``image * mask`` and ``mask``, at the high resolution) whose input weights start at
zero (:func:`glide.train.inpaint.inpaint_model_from_base`; the low-res channels keep the
upsampler's weights), so the model computes exactly the upsampler's function at step 0. Each
example has random rectangles erased (:mod:`glide.train.masks`); the model sees x_t, the
clean image area-downsampled to ``--low-res`` (as :mod:`glide.train.upsample`, with the same
train/sample mismatch: at sampling time the low-res input is the base-inpaint model's sample),
``image * mask``, the mask and the caption, and is trained on the whole image with the hybrid
loss. ``--crop`` trains on random patches (masks drawn on the patch). ``--init`` may also be an
inpainting upsampler (continue fine-tuning). The final EMA weights are exported as
``upsample_inpaint.pt`` + ``glide_options.json``.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import torch

from glide.errors import GlideError
from glide.train import cli
from glide.train.config import TrainConfig
from glide.train.data import CaptionedImages, load_data
from glide.train.loop import StepContext, Task
from glide.train.masks import random_keep_masks

__all__ = ["UpsampleInpaintOptions", "main", "make_task"]


@dataclass(frozen=True)
class UpsampleInpaintOptions:
    init: str
    checkpoints_dir: str | None = None
    low_res: int = 64
    crop: int = 0  # train on random crops of this side (0 = whole images)
    uncond_prob: float = 0.0
    mask_min_frac: float = 0.25
    mask_max_frac: float = 0.7
    export_dtype: str = "float32"

    def __post_init__(self) -> None:
        if not 0.0 <= self.uncond_prob < 1.0:
            raise GlideError(f"--uncond-prob {self.uncond_prob!r} must be in [0, 1)")
        if self.low_res < 1:
            raise GlideError(f"--low-res {self.low_res!r} must be a positive side length")
        if self.crop < 0:
            raise GlideError(f"--crop {self.crop!r} must be 0 (whole images) or a side length")
        cli.check_mask_fracs(self.mask_min_frac, self.mask_max_frac)


def make_task(
    cfg: TrainConfig, opts: UpsampleInpaintOptions, data: CaptionedImages | None = None
) -> Task:
    from glide.train.diffusion_task import make_diffusion_task
    from glide.train.inpaint import inpaint_model_from_base
    from glide.train.text2im import load_init_model
    from glide.train.upsample import low_res_of, random_crops

    start = load_init_model(opts.init, opts.checkpoints_dir)
    if not start.config.super_res:
        raise GlideError(
            f"--init {opts.init!r} is a {start.config.image_size}x{start.config.image_size} "
            f"{start.config.model_class}, not an upsampler; give an upsampler checkpoint (e.g. "
            "an export of python -m glide.train.upsample), or fine-tune a base model with "
            "python -m glide.train.inpaint"
        )
    model = start if start.config.inpaint else inpaint_model_from_base(start)
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
        side = x0.shape[-1]
        mask = random_keep_masks(
            ctx.draws, side, min_frac=opts.mask_min_frac, max_frac=opts.mask_max_frac
        ).to(ctx.device)
        return {
            "low_res": low_res_of(x0, side // factor),
            "inpaint_image": x0,
            "inpaint_mask": mask,
        }

    def crop_images(x0: torch.Tensor, ctx: StepContext) -> torch.Tensor:
        return random_crops(x0, opts.crop, ctx.draws.rand(2))

    return make_diffusion_task(
        "upsample-inpaint",
        model,
        data,
        uncond_prob=opts.uncond_prob,
        export_name="upsample-inpaint",
        export_dtype=opts.export_dtype,
        extra_inputs=extra_inputs,
        transform=crop_images if opts.crop else None,
        image_size=opts.crop or size,
        recipe_config={
            "model": model.config.to_options(),
            "init": opts.init,
            "low_res": opts.low_res,
            "crop": opts.crop,
            "uncond_prob": opts.uncond_prob,
            "mask_min_frac": opts.mask_min_frac,
            "mask_max_frac": opts.mask_max_frac,
        },
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m glide.train.upsample_inpaint",
        description="Fine-tune a GLIDE 64->256 upsampler for inpainting: 4 extra input "
        "channels (image * mask, mask) with zero-initialised weights, random rectangles erased.",
    )
    cli.add_common_arguments(
        parser, steps=500, batch_size=8, lr=1e-4, ema_rate=0.995, data_size=4000
    )
    g = parser.add_argument_group("recipe")
    g.add_argument(
        "--init",
        required=True,
        help="upsampler checkpoint to fine-tune: a .pt path (with glide_options.json beside it "
        "for non-official sizes) or a name in --checkpoints-dir ('upsample', or "
        "'upsample-inpaint' to continue)",
    )
    g.add_argument("--checkpoints-dir", default=None, help="folder holding --init when a name")
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
        help="train on random CROP x CROP patches (masks drawn on the patch, matching low-res "
        "patches) (default 0 = whole images)",
    )
    g.add_argument(
        "--uncond-prob",
        type=float,
        default=0.0,
        help="caption dropout (default 0: GLIDE samples the upsamplers unguided)",
    )
    cli.add_mask_arguments(g)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    def body() -> int:
        opts = UpsampleInpaintOptions(
            init=args.init,
            checkpoints_dir=args.checkpoints_dir,
            low_res=args.low_res,
            crop=args.crop,
            uncond_prob=args.uncond_prob,
            mask_min_frac=args.mask_min_frac,
            mask_max_frac=args.mask_max_frac,
            export_dtype=args.export_dtype,
        )
        cfg = cli.train_config(args, init=args.init)
        return cli.train_and_report(make_task(cfg, opts), cfg)

    return cli.run_main(body)


if __name__ == "__main__":
    raise SystemExit(main())
