"""CLIP score through open_clip, with the paper's convention.

CLIP score = mean over images of ``100 * cos(f(image), g(caption))``: normalised embeddings,
scale s = 100 (CLIP's logit scale), no clamp at 0 (torchmetrics clamps; CLIPScore papers use
w = 2.5; neither is done here). The evaluating CLIP is either any open_clip architecture with a
local pretrained file (``--clip-model ViT-B-16 --clip-pretrained PATH``; the paper used
ViT-B/16) or, by default, the embedded evaluation CLIP (``bench.embedded.load_eval_clip``). The
guiding CLIP (GLIDE's noised CLIP) is never the judge: a pretrained file whose hash matches a
checkpoint of the generator is refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from bench._torchvision import ensure_torchvision
from bench.captions import sha256_file
from bench.errors import BenchError
from bench.metrics.registry import MetricResult, register_metric
from bench.metrics.store import assets_sha256
from bench.metrics.uncertainty import bootstrap_mean_interval
from bench.progress import progress_enabled

EMBEDDED = "embedded"
CONVENTION = "100 * cos(image, caption), no clamp (GLIDE paper)"


def _hashes_in(description: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(description, dict):
        for value in description.values():
            found |= _hashes_in(value)
    elif isinstance(description, (list, tuple)):
        for value in description:
            found |= _hashes_in(value)
    elif isinstance(description, str) and len(description) == 64:
        found.add(description.lower())
    return found


def clip_identity(model_name: str = EMBEDDED, pretrained: Path | None = None) -> dict[str, Any]:
    """What names the evaluation CLIP (without loading it): architecture and weights hash."""
    if model_name == EMBEDDED:
        weights = assets_sha256("eval_clip*")
    else:
        weights = (
            sha256_file(Path(pretrained)) if pretrained and Path(pretrained).is_file() else None
        )
    return {"model": model_name, "weights_sha256": weights, "convention": CONVENTION}


def check_clip_choice(model_name: str, pretrained: Path | None) -> None:
    """Cheap checks of ``--clip-model/--clip-pretrained`` without loading any weights."""
    ensure_torchvision()
    if model_name == EMBEDDED:
        try:
            from bench.embedded import load_eval_clip  # noqa: F401
            from bench.eval_clip import WEIGHTS_FILE
        except ImportError as exc:
            raise BenchError(
                f"the embedded evaluation CLIP is not available ({exc}); give --clip-model ARCH "
                "--clip-pretrained PATH, or drop clip_score from --metrics"
            ) from exc
        if not Path(WEIGHTS_FILE).is_file():
            raise BenchError(
                f"the embedded evaluation CLIP's weights are not installed ({WEIGHTS_FILE}); "
                "give --clip-model ARCH --clip-pretrained PATH, or drop clip_score from --metrics"
            )
        return
    import open_clip

    if model_name not in open_clip.list_models():
        raise BenchError(
            f"--clip-model: {model_name!r} is not an open_clip architecture; use 'embedded' or "
            "one of open_clip.list_models(), e.g. ViT-B-16, ViT-B-32, ViT-L-14"
        )
    if pretrained is None or not Path(pretrained).is_file():
        raise BenchError(
            f"--clip-pretrained: {pretrained} is not a file; --clip-model {model_name} needs its "
            "local pretrained weights (nothing is downloaded)"
        )


class ClipScorer:
    """A loaded evaluation CLIP: images and captions in, per-image CLIP scores out."""

    def __init__(
        self,
        model_name: str = EMBEDDED,
        pretrained: Path | None = None,
        *,
        device: str = "cpu",
        generator_description: Any = None,
    ) -> None:
        ensure_torchvision()
        self.device = torch.device(device)
        if model_name == EMBEDDED:
            if pretrained is not None:
                raise BenchError(
                    "--clip-pretrained: give it together with --clip-model ARCH (an open_clip "
                    "architecture such as ViT-B-16); the embedded CLIP needs no file"
                )
            try:
                from bench.embedded import load_eval_clip
            except ImportError as exc:
                raise BenchError(
                    f"the embedded evaluation CLIP is not available ({exc}); give "
                    "--clip-model ARCH --clip-pretrained PATH"
                ) from exc
            model, preprocess, tokenizer = load_eval_clip()
            label = "embedded eval CLIP (bench/assets)"
        else:
            model, preprocess, tokenizer, label = self._load_open_clip(
                model_name, pretrained, generator_description
            )
        self.model = model.to(self.device).eval()
        self.preprocess = preprocess
        self.tokenizer = tokenizer
        self.label = label
        self.identity = clip_identity(model_name, pretrained)

    @staticmethod
    def _load_open_clip(name: str, pretrained: Path | None, generator_description: Any):
        import open_clip

        check_clip_choice(name, pretrained)
        if sha256_file(Path(pretrained)) in _hashes_in(generator_description):
            raise BenchError(
                f"--clip-pretrained: {pretrained} is a checkpoint of the generator (the guiding "
                "CLIP); the evaluating CLIP must be a different model"
            )
        try:
            model, _, preprocess = open_clip.create_model_and_transforms(
                name, pretrained=str(pretrained)
            )
        except Exception as exc:  # open_clip raises many types for a mismatched file
            raise BenchError(
                f"--clip-pretrained: {pretrained} could not be loaded into {name} ({exc})"
            ) from exc
        return model, preprocess, open_clip.get_tokenizer(name), f"open_clip {name}"

    @torch.inference_mode()
    def scores(
        self, image_paths: Sequence[Path], captions: Sequence[str], *, batch_size: int = 32
    ) -> np.ndarray:
        """Per-image ``100 * cos`` between image and caption embeddings: float64 [N]."""
        if len(image_paths) != len(captions):
            raise AssertionError("one caption per image")
        out = []
        for start in tqdm(
            range(0, len(image_paths), batch_size),
            desc="CLIP score",
            unit="batch",
            leave=False,
            disable=not progress_enabled(),
        ):
            paths = image_paths[start : start + batch_size]
            texts = list(captions[start : start + batch_size])
            pixels = []
            for path in paths:
                with Image.open(path) as img:
                    pixels.append(self.preprocess(img.convert("RGB")))
            image = self.model.encode_image(torch.stack(pixels).to(self.device))
            text = self.model.encode_text(self.tokenizer(texts).to(self.device))
            image = image / image.norm(dim=-1, keepdim=True)
            text = text / text.norm(dim=-1, keepdim=True)
            out.append((100.0 * (image * text).sum(dim=-1)).double().cpu().numpy())
        return np.concatenate(out)


@register_metric(
    "clip_score",
    display_name="CLIP score",
    lower_is_better=False,
    family="clip",
    description="mean 100*cos(image, caption) with the evaluation CLIP; bootstrap 95% interval",
)
def clip_score(ctx) -> MetricResult:
    values = ctx.clip_scores()
    if not np.all(np.isfinite(values)):
        return MetricResult(
            float("nan"),
            float("nan"),
            float("nan"),
            len(values),
            ctx.clip_label(),
            notes="non-finite CLIP similarities (check the evaluation CLIP)",
        )
    low, high = bootstrap_mean_interval(
        values, num_resamples=ctx.config.bootstrap, seed=ctx.config.seed
    )
    return MetricResult(
        float(values.mean()),
        low,
        high,
        len(values),
        ctx.clip_label(),
        notes=f"{CONVENTION}; 95% percentile bootstrap over images ({ctx.config.bootstrap})",
    )
