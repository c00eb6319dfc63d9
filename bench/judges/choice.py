"""Which networks judge a sweep: the judges follow the captions, never a silent fallback.

The embedded judges (the ``glide-bench-synth`` feature extractor and the embedded evaluation
CLIP) were trained on the synthetic coloured-shapes set; they fit its captions and nothing
else. Real captions (MS-COCO or any other captions file) are judged by the standard networks:
torch-fidelity's ``inception-v3-compat`` Inception-v3 and an open_clip model with local weights
(the paper's is OpenAI's ViT-B/16). ``auto`` picks by caption source, never by what happens to
be in a cache, and a missing weights file is an error that names the option, the file and where
it comes from. Scoring real captions with an embedded judge needs ``--allow-embedded-judges``
and is recorded as a deviation in sweep.json and the report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.errors import BenchError

AUTO = "auto"
INCEPTION = "inception-v3-compat"
SYNTH = "glide-bench-synth"
EMBEDDED_CLIP = "embedded"
PAPER_CLIP = "ViT-B-16"

INCEPTION_FILE = "weights-inception-2015-12-05-6726825d.pth"
INCEPTION_SOURCE = (
    "torch-fidelity's release v0.2.0 on GitHub (toshas/torch-fidelity), the TensorFlow FID "
    "Inception graph converted to PyTorch"
)
OPENAI_CLIP_FILE = "ViT-B-16.pt"
OPENAI_CLIP_SOURCE = (
    "OpenAI's CLIP release (the TorchScript archive that `clip.load('ViT-B/16')` and "
    "open_clip's 'openai' tag download)"
)
OPT_IN = "--allow-embedded-judges"


@dataclass(frozen=True)
class Judges:
    """The resolved judge choice of a sweep (concrete names, no ``auto``)."""

    extractor: str
    clip_model: str
    caption_kind: str
    deviations: tuple[str, ...] = field(default=())

    def record(self) -> dict[str, Any]:
        """For sweep.json: what judged, and why (the rule, and any opt-in deviation)."""
        return {
            "rule": "judges follow the captions: synthetic -> embedded judges; any other "
            "caption source -> standard Inception-v3 and an open_clip CLIP",
            "caption_kind": self.caption_kind,
            "extractor": self.extractor,
            "clip_model": self.clip_model,
            "embedded_judges_on_real_captions": list(self.deviations),
        }


def _needs_inception_error(kind: str) -> BenchError:
    return BenchError(
        f"--inception-weights: {kind} captions are scored with the standard Inception-v3 "
        f"(torch-fidelity's {INCEPTION}), whose weights are not available offline; download "
        f"{INCEPTION_FILE} from {INCEPTION_SOURCE} and give --inception-weights PATH, or drop "
        f"fid/is/kid/precision/recall from --metrics. (To score {kind} captions with the "
        f"synthetic-shapes extractor anyway, a smoke test whose numbers compare with nothing, "
        f"add {OPT_IN}.)"
    )


def _needs_clip_error(kind: str) -> BenchError:
    return BenchError(
        f"--clip-pretrained: {kind} captions are scored by an open_clip CLIP with local weights "
        f"(the paper's judge is OpenAI's ViT-B/16); give --clip-model {PAPER_CLIP} "
        f"--clip-pretrained PATH with {OPENAI_CLIP_FILE} from {OPENAI_CLIP_SOURCE}, or drop "
        f"clip_score from --metrics. (To score {kind} captions with the embedded synthetic-shapes "
        f"CLIP anyway, add {OPT_IN}.)"
    )


def choose_judges(
    *,
    caption_kind: str,
    extractor: str,
    clip_model: str,
    inception_weights: Path | None,
    inception_cached: Path | None,
    clip_pretrained: Path | None,
    needs_fidelity: bool,
    needs_clip: bool,
    allow_embedded: bool,
) -> Judges:
    """Resolve ``--extractor`` and ``--clip-model`` for ``caption_kind`` (see the module doc).

    ``inception_cached`` is torch-fidelity's own download of the Inception weights when present.
    Judges of metrics that are not computed are resolved but never checked for files.
    """
    real = caption_kind != "synthetic"
    deviations: list[str] = []

    inception_available = inception_weights is not None or (
        inception_cached is not None and Path(inception_cached).is_file()
    )
    if extractor == AUTO:
        extractor = INCEPTION if real else SYNTH
        if real and needs_fidelity and not inception_available and allow_embedded:
            extractor = SYNTH  # the opt-in, recorded as a deviation below
    if real and extractor == SYNTH and needs_fidelity:
        if not allow_embedded:
            raise BenchError(
                f"--extractor {SYNTH}: the embedded extractor was trained on synthetic shapes "
                f"and does not fit {caption_kind} captions; use {INCEPTION} (give "
                f"--inception-weights PATH) or add {OPT_IN} for a smoke test"
            )
        deviations.append(f"feature extractor {SYNTH} (synthetic shapes) on {caption_kind} images")
    if extractor == INCEPTION and needs_fidelity and not inception_available:
        if real:
            raise _needs_inception_error(caption_kind)
        raise BenchError(
            f"--extractor {INCEPTION}: its weights are not available offline; give "
            f"--inception-weights PATH ({INCEPTION_FILE} from {INCEPTION_SOURCE})"
        )

    if clip_model == AUTO:
        clip_model = PAPER_CLIP if real else EMBEDDED_CLIP
        if real and needs_clip and clip_pretrained is None and not allow_embedded:
            raise _needs_clip_error(caption_kind)
        if real and needs_clip and clip_pretrained is None:
            clip_model = EMBEDDED_CLIP
    if real and clip_model == EMBEDDED_CLIP and needs_clip:
        if not allow_embedded:
            raise BenchError(
                f"--clip-model {EMBEDDED_CLIP}: the embedded CLIP was trained on synthetic "
                f"shapes (a 24-token context) and does not fit {caption_kind} captions; give "
                f"--clip-model {PAPER_CLIP} --clip-pretrained PATH, or add {OPT_IN} for a smoke "
                "test"
            )
        deviations.append(f"evaluation CLIP {EMBEDDED_CLIP} (synthetic shapes) on {caption_kind}")
    return Judges(extractor, clip_model, caption_kind, tuple(deviations))
