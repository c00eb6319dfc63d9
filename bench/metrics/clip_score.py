"""CLIP score through open_clip, with the paper's convention.

CLIP score = mean over images of ``100 * cos(f(image), g(caption))``: normalised embeddings,
scale s = 100 (CLIP's logit scale), no clamp at 0 (torchmetrics clamps; CLIPScore papers use
w = 2.5; neither is done here). The evaluating CLIP is either any open_clip architecture with a
local pretrained file (``--clip-model ViT-B-16 --clip-pretrained PATH``; the paper used OpenAI's
ViT-B/16) or the embedded evaluation CLIP (``bench.judges.embedded.load_eval_clip``, synthetic
captions only; see ``bench.judges.choice``).
The guiding CLIP (GLIDE's noised CLIP) is never the judge:
a pretrained file whose hash matches a checkpoint of the generator is refused.

OpenAI's CLIP models use QuickGELU (``x * sigmoid(1.702 x)``); open_clip's plain ``ViT-B-16``
uses GELU (right for LAION-trained weights). The activation that runs is decided here, never
silently: OpenAI's TorchScript archive (``ViT-B-16.pt``) is recognised by its format and always
runs as the QuickGELU model (``ViT-B-16-quickgelu``); for a plain state dict the architecture
name decides, and when it was not given the choice is refused as ambiguous. The activation, the
file format and the architecture that ran go into the metric's identity and sweep.json.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from bench._torchvision import ensure_torchvision
from bench.errors import BenchError
from bench.metrics.families import CLIP
from bench.metrics.registry import MetricResult, register_metric
from bench.metrics.store import assets_sha256
from bench.metrics.uncertainty import bca_mean_interval
from bench.progress import progress_enabled
from glide.io import sha256_file

EMBEDDED = "embedded"
CONVENTION = "100 * cos(image, caption), no clamp (GLIDE paper)"
TORCHSCRIPT = "openai-torchscript"
STATE_DICT = "state-dict"
# entries of OpenAI's TorchScript archive that are not weights (open_clip drops them too)
_ARCHIVE_EXTRAS = ("input_resolution", "context_length", "vocab_size")


@functools.lru_cache(maxsize=16)
def _file_sha256(path: str, size: int, mtime_ns: int) -> str:
    return sha256_file(Path(path))


def cached_sha256(path: Path) -> str:
    """sha256 of a (large) weights file, computed once per file version in this process."""
    st = Path(path).stat()
    return _file_sha256(str(Path(path).resolve()), st.st_size, st.st_mtime_ns)


def clip_weights_format(path: Path) -> str:
    """``openai-torchscript`` for a TorchScript archive (OpenAI's release format), else
    ``state-dict`` (a torch.save'd dict, a .bin or a .safetensors file)."""
    if not zipfile.is_zipfile(path):
        return STATE_DICT
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
    if any(n.endswith("/constants.pkl") or "/code/" in n for n in names):
        return TORCHSCRIPT
    return STATE_DICT


@dataclass(frozen=True)
class ClipChoice:
    """The evaluation CLIP that will run: architecture, activation, weights and their format."""

    requested: str
    architecture: str
    activation: str  # "QuickGELU" or "GELU" (or "embedded")
    weights_format: str
    pretrained: Path | None
    weights_sha256: str | None
    force_quick_gelu: bool = False

    @property
    def label(self) -> str:
        if self.requested == EMBEDDED:
            return "embedded eval CLIP (bench/judges/assets)"
        return f"open_clip {self.architecture} ({self.activation})"

    def identity(self) -> dict[str, Any]:
        return {
            "model": self.architecture,
            "requested": self.requested,
            "activation": self.activation,
            "weights_format": self.weights_format,
            "weights_sha256": self.weights_sha256,
            "convention": CONVENTION,
        }


def _open_clip():
    ensure_torchvision()
    import open_clip

    return open_clip


def resolve_clip(
    model_name: str = EMBEDDED,
    pretrained: Path | None = None,
    *,
    name_given: bool = True,
    require_quick_gelu: bool = False,
) -> ClipChoice:
    """Check ``--clip-model/--clip-pretrained`` and decide what runs (no weights loaded).

    ``name_given`` is False when the architecture came from a default: a plain state dict is
    then refused, since only the name can say whether its weights want QuickGELU or GELU.
    ``require_quick_gelu`` (paper parity) refuses a GELU model.
    """
    if model_name == EMBEDDED:
        if pretrained is not None:
            raise BenchError(
                "--clip-pretrained: give it together with --clip-model ARCH (an open_clip "
                "architecture such as ViT-B-16); the embedded CLIP needs no file"
            )
        try:
            from bench.judges.eval_clip import WEIGHTS_FILE
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
        return ClipChoice(
            EMBEDDED, EMBEDDED, EMBEDDED, "bench/judges/assets", None, assets_sha256("eval_clip*")
        )
    open_clip = _open_clip()
    models = set(open_clip.list_models())
    if model_name not in models:
        raise BenchError(
            f"--clip-model: {model_name!r} is not an open_clip architecture; use 'embedded' or "
            "one of open_clip.list_models(), e.g. ViT-B-16 (OpenAI's TorchScript file or "
            "LAION weights), ViT-B-16-quickgelu (OpenAI's weights as a state dict), ViT-L-14"
        )
    if pretrained is None or not Path(pretrained).is_file():
        hint = ""
        if model_name.removesuffix("-quickgelu") == "ViT-B-16":
            hint = " (the paper's judge: OpenAI's TorchScript file ViT-B-16.pt)"
        raise BenchError(
            f"--clip-pretrained: {pretrained} is not a file; --clip-model {model_name} needs its "
            f"local pretrained weights{hint}; nothing is downloaded"
        )
    pretrained = Path(pretrained)
    fmt = clip_weights_format(pretrained)
    force = False
    if fmt == TORCHSCRIPT:
        # OpenAI's release: its models were trained with QuickGELU, whatever the name given
        base = model_name.removesuffix("-quickgelu")
        architecture = f"{base}-quickgelu"
        if architecture not in models:
            architecture, force = base, True
        activation = "QuickGELU"
    else:
        if not name_given:
            raise BenchError(
                f"--clip-model: {pretrained} is a plain state dict, and only the architecture "
                f"name says which activation its weights were trained with; give --clip-model "
                f"{model_name}-quickgelu for OpenAI's weights (QuickGELU) or --clip-model "
                f"{model_name} for weights trained with GELU (e.g. LAION's)"
            )
        architecture = model_name
        config = open_clip.get_model_config(model_name) or {}
        activation = "QuickGELU" if config.get("quick_gelu", False) else "GELU"
    if require_quick_gelu and activation != "QuickGELU":
        raise BenchError(
            f"--paper-parity: the paper's judge is OpenAI's CLIP ViT-B/16, which uses QuickGELU, "
            f"but --clip-model {model_name} with the state dict {pretrained} runs with GELU; give "
            "OpenAI's TorchScript file ViT-B-16.pt, or --clip-model ViT-B-16-quickgelu for "
            "OpenAI's weights saved as a state dict"
        )
    return ClipChoice(
        model_name, architecture, activation, fmt, pretrained, cached_sha256(pretrained), force
    )


def _state_dict_mismatch(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> str:
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    got = {k: tuple(v.shape) for k, v in state.items()}
    missing = sorted(set(expected) - set(got))
    unexpected = sorted(set(got) - set(expected))
    shapes = [f"{k} (file {list(got[k])}, model {list(expected[k])})"
              for k in sorted(set(expected) & set(got)) if expected[k] != got[k]]  # fmt: skip
    parts = []
    for what, keys in (("missing", missing), ("unexpected", unexpected), ("mis-shaped", shapes)):
        if keys:
            parts.append(f"{len(keys)} {what}: " + ", ".join(keys[:4]) + (" ..." * (len(keys) > 4)))
    return "; ".join(parts)


@contextlib.contextmanager
def _quiet_open_clip():
    """Hide open_clip's root-logger warnings while a model is built before its weights load."""
    logger = logging.getLogger()
    previous = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(previous)


def _load_torchscript_weights(choice: ClipChoice) -> dict[str, torch.Tensor]:
    try:
        archive = torch.jit.load(str(choice.pretrained), map_location="cpu")
    except Exception as exc:  # noqa: BLE001 - a broken archive fails in many ways
        raise BenchError(
            f"--clip-pretrained: {choice.pretrained} looks like a TorchScript archive but cannot "
            f"be read ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); "
            "download OpenAI's file again"
        ) from None
    return {
        k: v.float() if v.is_floating_point() else v
        for k, v in archive.state_dict().items()
        if k not in _ARCHIVE_EXTRAS
    }


def load_open_clip(choice: ClipChoice):
    """Build ``choice.architecture`` and load its weights strictly: (model, preprocess, tokenizer).

    Raises BenchError naming the file and the architecture when they do not fit each other.
    """
    open_clip = _open_clip()
    if choice.weights_format == TORCHSCRIPT:
        state = _load_torchscript_weights(choice)
        with _quiet_open_clip():  # it warns "initialized randomly"; the weights follow below
            model, _, preprocess = open_clip.create_model_and_transforms(
                choice.architecture, pretrained=None, force_quick_gelu=choice.force_quick_gelu
            )
        transient = {name for name, _ in model.named_buffers()} - set(model.state_dict())
        state = {k: v for k, v in state.items() if k not in transient}  # e.g. attn_mask
        if "logit_scale" in state and state["logit_scale"].shape != model.logit_scale.shape:
            state["logit_scale"] = state["logit_scale"].reshape(model.logit_scale.shape)
        problem = _state_dict_mismatch(model, state)
        if problem:
            raise BenchError(
                f"--clip-pretrained: {choice.pretrained} is not a {choice.requested} "
                f"checkpoint ({problem}); give the file of that architecture or the "
                "--clip-model it was made for"
            )
        model.load_state_dict(state, strict=True)
    else:
        try:
            model, _, preprocess = open_clip.create_model_and_transforms(
                choice.architecture, pretrained=str(choice.pretrained)
            )
        except Exception as exc:  # open_clip raises many types for a mismatched file
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise BenchError(
                f"--clip-pretrained: {choice.pretrained} could not be loaded into "
                f"{choice.architecture} ({first[:300]}); give the file of that architecture or "
                "the --clip-model it was made for"
            ) from exc
    return model, preprocess, open_clip.get_tokenizer(choice.architecture)


class ClipScorer:
    """A loaded evaluation CLIP: images and captions in, per-image CLIP scores out."""

    def __init__(self, choice: ClipChoice, *, device: str = "cpu") -> None:
        ensure_torchvision()
        self.device = torch.device(device)
        if choice.requested == EMBEDDED:
            from bench.judges.embedded import load_eval_clip

            model, preprocess, tokenizer = load_eval_clip()
        else:
            model, preprocess, tokenizer = load_open_clip(choice)
        self.model = model.to(self.device).eval()
        self.preprocess = preprocess
        self.tokenizer = tokenizer
        self.label = choice.label
        self.identity = choice.identity()

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
    family=CLIP.name,
    description="mean 100*cos(image, caption) with the evaluation CLIP; BCa bootstrap 95% "
    "interval over images",
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
    out = bca_mean_interval(
        values, num_resamples=ctx.config.bootstrap, seed=ctx.config.seed, unit="images"
    )
    return MetricResult(
        out.value,
        out.low,
        out.high,
        len(values),
        ctx.clip_label(),
        notes=f"{CONVENTION}; {out.note}",
    )
