"""Recipe: text-conditional base training (GLIDE sec. 4) with classifier-free guidance dropout.

    python -m glide.train.text2im --out RUN [--model embedded-base] [--data synthetic] \
        [--steps N] [--batch-size B] [--uncond-prob 0.2] [--init CHECKPOINT] [--device cuda]

Trains the 64x64 text-conditional U-Net on captioned images with the hybrid objective
``L_simple + lambda * L_vlb`` (learned variances), replacing 20% of the captions by the empty
sequence so that one network gives both the conditional and the unconditional prediction for
classifier-free guidance (GLIDE sec. 2.3 and 4). ``--init`` starts from a checkpoint
(fine-tuning); the architecture is then the checkpoint's. Several processes:
``torchrun --nproc_per_node N -m glide.train.text2im ...`` (gloo on CPU, NCCL on CUDA).
The final EMA weights are exported as ``base.pt`` + ``glide_options.json``.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

import torch

from glide.errors import GlideError
from glide.train import cli
from glide.train.config import TrainConfig
from glide.train.data import CaptionedImages, load_data
from glide.train.loop import Task
from glide.train.presets import UNET_PRESETS, unet_options

__all__ = ["Text2ImOptions", "main", "make_task"]


@dataclass(frozen=True)
class Text2ImOptions:
    """Recipe options: the architecture (reference-style options) and caption dropout."""

    model: dict[str, Any] | None  # None: the architecture of ``init``
    uncond_prob: float = 0.2
    t_high_frac: float = 0.0
    t_high_from: int = 900
    high_t_weight: float = 1.0
    init: str | None = None
    checkpoints_dir: str | None = None
    export_dtype: str = "float32"

    def __post_init__(self) -> None:
        if self.model is None and not self.init:
            raise GlideError("give model options, or init= a checkpoint to fine-tune")
        if not 0.0 <= self.uncond_prob < 1.0:
            raise GlideError(
                f"--uncond-prob {self.uncond_prob!r} must be in [0, 1); GLIDE uses 0.2"
            )
        if not 0.0 <= self.t_high_frac < 1.0:
            raise GlideError(
                f"--t-high-frac {self.t_high_frac!r} must be in [0, 1); 0 is the paper's uniform t"
            )
        if not self.high_t_weight >= 1.0:
            raise GlideError(
                f"--high-t-weight {self.high_t_weight!r} must be >= 1 (1: the paper's loss)"
            )
        if not 0 <= self.t_high_from < 1000:
            raise GlideError(
                f"--t-high-from {self.t_high_from!r} must be a timestep in [0, 1000), e.g. 900"
            )


def load_init_model(init: str, checkpoints_dir: str | None) -> torch.nn.Module:
    """A checkpoint name or .pt path -> model (architecture from its glide_options.json)."""
    from glide.checkpoints import load_checkpoint

    return load_checkpoint(init, checkpoints_dir=checkpoints_dir, device="cpu", dtype=torch.float32)


def build_trainable(opts: Text2ImOptions, seed: int) -> torch.nn.Module:
    """The network to train: from ``opts.init`` (fine-tuning) or freshly initialised."""
    import glide

    if opts.init:
        model = load_init_model(opts.init, opts.checkpoints_dir)
        wanted = opts.model and glide.UNetConfig.from_options(opts.model)
        if wanted and model.config != wanted:
            raise GlideError(
                f"--init {opts.init!r} has options {model.config.to_options()}, which differ "
                f"from the requested model {opts.model}; drop --model/--set when fine-tuning"
            )
        return model
    torch.manual_seed(seed)
    return glide.build_model(opts.model)


def make_task(cfg: TrainConfig, opts: Text2ImOptions, data: CaptionedImages | None = None) -> Task:
    from glide.train.diffusion_task import make_diffusion_task

    model = build_trainable(opts, cfg.seed)
    if model.config.super_res or model.config.inpaint:
        raise GlideError(
            f"model {model.config.model_class} is not a base model; use glide.train.upsample, "
            "glide.train.inpaint or glide.train.upsample_inpaint"
        )
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
    return make_diffusion_task(
        "text2im",
        model,
        data,
        uncond_prob=opts.uncond_prob,
        t_high_frac=opts.t_high_frac,
        t_high_from=opts.t_high_from,
        high_t_weight=opts.high_t_weight,
        export_name="base",
        export_dtype=opts.export_dtype,
        recipe_config={
            "model": model.config.to_options(),
            "uncond_prob": opts.uncond_prob,
            "t_high_frac": opts.t_high_frac,
            "t_high_from": opts.t_high_from,
            "high_t_weight": opts.high_t_weight,
            "init": opts.init,
        },
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m glide.train.text2im",
        description="Train (or fine-tune) a GLIDE text-conditional 64x64 base model with the "
        "hybrid loss and classifier-free guidance caption dropout.",
    )
    cli.add_common_arguments(parser, steps=2000, batch_size=32, lr=3e-4, ema_rate=0.999)
    base_presets = [k for k in UNET_PRESETS if k.endswith("-base")] + ["base"]
    cli.add_model_arguments(parser, "embedded-base", ", ".join(base_presets))
    g = parser.add_argument_group("recipe")
    g.add_argument(
        "--uncond-prob",
        type=float,
        default=0.2,
        help="probability of replacing a caption by the empty sequence "
        "(classifier-free guidance training; GLIDE: 0.2)",
    )
    g.add_argument(
        "--t-high-frac",
        type=float,
        default=0.0,
        help="fraction of each batch whose timestep is redrawn uniformly from "
        "[--t-high-from, T) (default 0: the paper's uniform t). The embedded default uses "
        "0.5: on its flat synthetic images the caption matters only at the highest noise levels",
    )
    g.add_argument(
        "--t-high-from",
        type=int,
        default=900,
        help="lowest timestep of the emphasised range (default: 900)",
    )
    g.add_argument(
        "--high-t-weight",
        type=float,
        default=1.0,
        help="cap W of the eps-MSE weight clip(1/SNR_t, 1, W) (default 1: the paper's "
        "unweighted L_simple); > 1 lets the caption's effect on the predicted x0 at the "
        "highest noise levels be learned",
    )
    g.add_argument(
        "--init",
        default=None,
        help="checkpoint to start from (name such as 'base' or a .pt path with a "
        "glide_options.json beside it): fine-tuning",
    )
    g.add_argument(
        "--checkpoints-dir", default=None, help="folder that holds --init when it is a name"
    )
    return parser


def resolve_model_options(args: argparse.Namespace, parser_default: str) -> dict[str, Any] | None:
    """--model/--model-options/--set -> options; None with --init (the checkpoint's)."""
    if args.init and (args.set or args.model_options or args.model != parser_default):
        raise GlideError(
            "--init takes the architecture from the checkpoint; drop --model, "
            "--model-options and --set"
        )
    if args.init:
        return None
    return cli.apply_overrides(unet_options(args.model), args.model_options, args.set)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)

    def body() -> int:
        model = resolve_model_options(args, "embedded-base")
        opts = Text2ImOptions(
            model=model,
            uncond_prob=args.uncond_prob,
            t_high_frac=args.t_high_frac,
            t_high_from=args.t_high_from,
            high_t_weight=args.high_t_weight,
            init=args.init,
            checkpoints_dir=args.checkpoints_dir,
            export_dtype=args.export_dtype,
        )
        cfg = cli.train_config(args, init=args.init)
        return cli.train_and_report(make_task(cfg, opts), cfg)

    return cli.run_main(body)


if __name__ == "__main__":
    raise SystemExit(main())
