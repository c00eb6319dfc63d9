"""Recipe: inpainting fine-tuning of a base model (GLIDE sec. 3.2 and 4).

    python -m glide.train.inpaint --out RUN --init BASE_CHECKPOINT [--steps N] [--device cuda]

"We fine-tune our model ... with four additional input channels: a second set of RGB channels,
and a mask channel. We initialize the corresponding input weights for these new channels to zero
before fine-tuning." So the inpainting model built here from a base checkpoint computes exactly
the base model's function at step 0 (:func:`inpaint_model_from_base`). Each training example has
random rectangles erased (:mod:`glide.train.masks`); the model sees ``image * mask`` and the mask,
and is trained on the whole image with the base recipe's hybrid loss and caption dropout.
``--init`` may also be an inpainting checkpoint (continue fine-tuning). The final EMA weights
are exported as ``base_inpaint.pt`` + ``glide_options.json``. The 256x256 inpainting upsampler
is fine-tuned from an upsampler the same way by :mod:`glide.train.upsample_inpaint`.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import torch
from torch import nn

from glide.errors import GlideError
from glide.train import cli
from glide.train.config import TrainConfig
from glide.train.data import CaptionedImages, load_data
from glide.train.loop import StepContext, Task
from glide.train.masks import random_keep_masks

__all__ = ["InpaintOptions", "inpaint_model_from_base", "main", "make_task"]

INPUT_CONV = "input_blocks.0.0.weight"


@dataclass(frozen=True)
class InpaintOptions:
    init: str
    checkpoints_dir: str | None = None
    uncond_prob: float = 0.2
    mask_min_frac: float = 0.25
    mask_max_frac: float = 0.7
    export_dtype: str = "float32"

    def __post_init__(self) -> None:
        if not 0.0 <= self.uncond_prob < 1.0:
            raise GlideError(f"--uncond-prob {self.uncond_prob!r} must be in [0, 1)")
        cli.check_mask_fracs(self.mask_min_frac, self.mask_max_frac)


def _input_channel_map(cfg) -> list[int]:
    """Where each input channel of a non-inpainting U-Net goes in its inpainting variant.

    Inputs are ``[x_t (3), low_res (3, upsamplers)]`` and ``[x_t (3), image * mask (3),
    mask (1), low_res (3, upsamplers)]`` (glide.text2im), so x_t keeps channels 0-2 and an
    upsampler's low-res image moves from 3-5 to 7-9.
    """
    return [0, 1, 2] + ([7, 8, 9] if cfg.super_res else [])


@torch.no_grad()
def inpaint_model_from_base(base: nn.Module) -> nn.Module:
    """An inpainting U-Net whose weights are ``base``'s, with ZERO weights on the 4 new input
    channels (image * mask, mask), so that it initially equals ``base`` (GLIDE sec. 4).

    ``base`` is a base model (-> base-inpaint) or an upsampler (-> upsample-inpaint, whose
    low-res channels keep the upsampler's weights)."""
    import glide

    cfg = base.config
    if cfg.inpaint:
        raise GlideError("the --init model is already an inpainting model")
    model = glide.build_model(cfg.replace(inpaint=True), device=base.device, dtype=base.dtype)
    target = model.state_dict()
    channels = _input_channel_map(cfg)
    for key, value in base.state_dict().items():
        if key == INPUT_CONV:
            assert target[key].shape[1] == value.shape[1] + 4, (target[key].shape, value.shape)
            assert len(channels) == value.shape[1], (channels, value.shape)
            target[key].zero_()
            target[key][:, channels] = value
        else:
            target[key].copy_(value)
    return model


def make_task(cfg: TrainConfig, opts: InpaintOptions, data: CaptionedImages | None = None) -> Task:
    from glide.train.diffusion_task import make_diffusion_task
    from glide.train.text2im import load_init_model

    start = load_init_model(opts.init, opts.checkpoints_dir)
    if start.config.super_res:
        raise GlideError(
            f"--init {opts.init!r} is an upsampler ({start.config.model_class}); this recipe "
            "fine-tunes a 64x64 base model, use python -m glide.train.upsample_inpaint for "
            "the inpainting upsampler"
        )
    model = start if start.config.inpaint else inpaint_model_from_base(start)
    if data is None:
        data = load_data(
            cfg.data,
            model.config.image_size,
            seed=cfg.data_seed,
            n=cfg.data_size,
            captions_per_image=cfg.captions_per_image,
            image_fit=cfg.image_fit,
            progress=cfg.progress,
        )
    size = model.config.image_size

    def extra_inputs(x0: torch.Tensor, ctx: StepContext) -> dict[str, torch.Tensor]:
        mask = random_keep_masks(
            ctx.draws, size, min_frac=opts.mask_min_frac, max_frac=opts.mask_max_frac
        ).to(ctx.device)
        return {"inpaint_image": x0, "inpaint_mask": mask}

    return make_diffusion_task(
        "inpaint",
        model,
        data,
        uncond_prob=opts.uncond_prob,
        export_name="base-inpaint",
        export_dtype=opts.export_dtype,
        extra_inputs=extra_inputs,
        recipe_config={
            "model": model.config.to_options(),
            "init": opts.init,
            "uncond_prob": opts.uncond_prob,
            "mask_min_frac": opts.mask_min_frac,
            "mask_max_frac": opts.mask_max_frac,
        },
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m glide.train.inpaint",
        description="Fine-tune a GLIDE base model for inpainting: 4 extra input channels "
        "(image * mask, mask) with zero-initialised weights, random rectangles erased.",
    )
    cli.add_common_arguments(parser, steps=500, batch_size=32, lr=1e-4, ema_rate=0.995)
    g = parser.add_argument_group("recipe")
    g.add_argument(
        "--init",
        required=True,
        help="base checkpoint to fine-tune: a .pt path (with glide_options.json "
        "beside it for non-official sizes) or a name in --checkpoints-dir",
    )
    g.add_argument("--checkpoints-dir", default=None, help="folder holding --init when a name")
    g.add_argument(
        "--uncond-prob",
        type=float,
        default=0.2,
        help="caption dropout for classifier-free guidance (default 0.2)",
    )
    cli.add_mask_arguments(g)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    def body() -> int:
        opts = InpaintOptions(
            init=args.init,
            checkpoints_dir=args.checkpoints_dir,
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
