"""Recipe: the noised CLIP used for CLIP guidance (GLIDE sec. 2.4 and 4).

    python -m glide.train.clip --out RUN [--model embedded-clip] [--steps N] [--device cuda]

"We train noised CLIP models with an image encoder f(x_t, t) that receives noised images x_t":
for each caption/image pair of the batch, t is drawn uniformly from the model's
``n_timesteps`` and x_t = q_sample(x0, t) on the base model's noise schedule (the CLIP config's
``beta_schedule``, squaredcos_cap_v2 for the 64x64 base). The loss is CLIP's symmetric
contrastive cross-entropy over the logits ``exp(logit_scale) * <f(x_t, t), g(c)>`` of every
image against every caption of the GLOBAL batch (all processes, gathered with gradients). Rows
with the very same caption string are all counted as matches (soft targets), since a synthetic
set repeats captions. Exported as ``clip_image_enc.pt`` + ``clip_text_enc.pt`` +
``glide_options.json``.

Deviation: the logit scale is fixed at the config's ``logit_scale`` (100; a non-persistent
buffer of :class:`glide.clip.NoisedCLIP`, not trained). CLIP (Radford et al., 2021) learns it,
starting from 1/0.07 = 14.3 and capped at 100. The checkpoint layout keeps the scale in the
config (``glide_options.json``), not in the weights, and the official noised CLIP's config
says 100, which CLIP guidance multiplies its gradient by; so the scale is held at that value
here, and the contrastive softmax is sharper from step 0 than CLIP's early in training.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from glide.train import cli
from glide.train.config import TrainConfig
from glide.train.data import CaptionedImages, load_data, to_model_range
from glide.train.distributed import all_gather_with_grad
from glide.train.loop import StepContext, Task
from glide.train.presets import CLIP_PRESETS, clip_options

__all__ = ["ClipOptions", "ContrastivePair", "contrastive_losses", "main", "make_task"]


@dataclass(frozen=True)
class ClipOptions:
    config: dict[str, Any]  # reference config.yaml keys (CLIPConfig)
    export_dtype: str = "float32"


class ContrastivePair(nn.Module):
    """Wraps the noised CLIP so one forward returns both unit-norm embeddings (what DDP needs)."""

    def __init__(self, clip: nn.Module) -> None:
        super().__init__()
        self.clip = clip

    def forward(
        self, x_t: torch.Tensor, t: torch.Tensor, tokens: torch.Tensor, text_len: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return self.clip.image_embeddings(x_t, t), self.clip.text_embeddings(tokens, text_len)


def contrastive_losses(
    image_emb: torch.Tensor,
    text_emb: torch.Tensor,
    logit_scale: torch.Tensor,
    keys: torch.Tensor,
) -> dict[str, torch.Tensor]:
    """Per-row symmetric contrastive loss (Radford et al., 2021) with soft targets.

    ``image_emb``, ``text_emb``: [B, D] unit-norm; ``keys`` [B]: rows with equal keys (equal
    captions) are all positives of each other. Returns ``loss`` [B] = (image->text CE +
    text->image CE) / 2 and ``acc`` [B] = 1 where the top image->text logit is a positive.
    """
    logits = logit_scale.exp() * image_emb.float() @ text_emb.float().T  # [B, B]
    positive = keys[:, None] == keys[None, :]
    targets = positive.float() / positive.float().sum(dim=1, keepdim=True)
    loss_i = -(targets * F.log_softmax(logits, dim=1)).sum(dim=1)
    loss_t = -(targets * F.log_softmax(logits.T, dim=1)).sum(dim=1)
    acc = positive[torch.arange(len(keys)), logits.argmax(dim=1)].float()
    return {"loss": 0.5 * (loss_i + loss_t), "acc": acc}


def make_task(cfg: TrainConfig, opts: ClipOptions, data: CaptionedImages | None = None) -> Task:
    from glide.clip import build_clip
    from glide.config import CLIPConfig
    from glide.diffusion import create_diffusion
    from glide.tokenizer import get_clip_tokenizer
    from glide.train.export import export_weights

    config = CLIPConfig.from_yaml_dict(opts.config)
    clip = build_clip(config)
    clip.reset_parameters(torch.Generator().manual_seed(cfg.seed))
    module = ContrastivePair(clip)
    if data is None:
        data = load_data(
            cfg.data,
            config.image_size,
            seed=cfg.data_seed,
            n=cfg.data_size,
            captions_per_image=cfg.captions_per_image,
            image_fit=cfg.image_fit,
            progress=cfg.progress,
        )
    diffusion = create_diffusion(steps=config.n_timesteps, noise_schedule=config.beta_schedule)
    tokenizer = get_clip_tokenizer()
    size = config.image_size

    def losses(wrapped: nn.Module, ctx: StepContext) -> dict[str, torch.Tensor]:
        d = ctx.draws
        gidx, idx = d.indices(len(ctx.data))
        t = d.randint(config.n_timesteps)
        noise = d.randn(3, size, size)
        images, captions = ctx.data.batch(idx)
        x0 = to_model_range(images, ctx.device)
        t, noise = t.to(ctx.device), noise.to(ctx.device)
        x_t = diffusion.q_sample(x0, t, noise).float()
        tokens, text_len = tokenizer.encode_batch(captions, config.max_text_len)
        img, txt = wrapped(x_t, t, tokens.to(ctx.device), text_len.to(ctx.device))
        img_all = all_gather_with_grad(img, ctx.info)
        txt_all = all_gather_with_grad(txt, ctx.info)
        keys = ctx.data.caption_keys(gidx).to(ctx.device)
        out = contrastive_losses(img_all, txt_all, module.clip.logit_scale, keys)
        return {k: v[d.lo : d.hi] for k, v in out.items()}

    def export(ema: nn.Module, folder: Path) -> list[Path]:
        entry = config.to_yaml_dict()
        return export_weights(
            folder,
            {"clip-image-enc": ema.clip.image_encoder, "clip-text-enc": ema.clip.text_encoder},
            {"clip-image-enc": entry, "clip-text-enc": entry},
            dtype=opts.export_dtype,
        )

    return Task(
        name="clip",
        module=module,
        data=data,
        losses=losses,
        export=export,
        recipe_config={"clip": config.to_yaml_dict()},
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m glide.train.clip",
        description="Train a noised CLIP (timestep-conditioned image encoder + text encoder) "
        "with a contrastive loss on noised images, for GLIDE's CLIP guidance.",
    )
    cli.add_common_arguments(
        parser, steps=1000, batch_size=64, lr=5e-4, ema_rate=0.995, warmup_steps=100
    )
    g = parser.add_argument_group("model")
    g.add_argument(
        "--model",
        default="embedded-clip",
        help=f"size preset: {', '.join(list(CLIP_PRESETS) + ['clip'])} (default embedded-clip)",
    )
    g.add_argument(
        "--model-options",
        default=None,
        help="JSON file (or inline object) of config.yaml keys replacing the preset's",
    )
    g.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one config key, e.g. --set n_xf_blocks_image=4 (repeatable)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    def body() -> int:
        config = cli.apply_overrides(clip_options(args.model), args.model_options, args.set)
        opts = ClipOptions(config=config, export_dtype=args.export_dtype)
        cfg = cli.train_config(args)
        return cli.train_and_report(make_task(cfg, opts), cfg)

    return cli.run_main(body)


if __name__ == "__main__":
    raise SystemExit(main())
