"""``glide-bench-synth``: the attribute classifier's image network as a torch-fidelity extractor.

Used for FID / KID / precision-recall / IS on the embedded default when the Inception weights
are absent. Features:

- ``"256"``: the classifier's 256-d penultimate layer (post-ReLU), for FID, KID and PR;
- ``"logits_unbiased"`` (= ``"logits"``): 35 log-probabilities over the first object's
  (shape, colour) pair, ``log p(shape) + log p(colour)``, for the Inception Score.

Input: uint8 ``[N, 3, H, W]`` as torch-fidelity passes it; other sizes are resized to 64x64
(bilinear, antialiased).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from bench._torchvision import ensure_torchvision
from bench.judges.attributes import HEAD_NAMES, split_logits
from bench.judges.classifier import CLASSIFIER_FILE, INPUT_SIZE, load_classifier_file
from glide.io import sha256_file

NAME = "glide-bench-synth"
FEATURES = ("256", "logits_unbiased", "logits")
DEFAULT_LAYERS = {"isc": "logits_unbiased", "fid": "256", "kid": "256", "prc": "256"}


def _extractor_class():
    ensure_torchvision()
    from torch_fidelity.feature_extractor_base import FeatureExtractorBase

    class SynthFeatureExtractor(FeatureExtractorBase):
        RESIZE_MODE = (
            "uint8 images as stored; resized to 64x64 (bilinear, antialiased) inside "
            "glide-bench-synth when not 64x64"
        )
        WEIGHTS_SHA256: str | None = None

        def __init__(self, name, features_list, feature_extractor_weights_path=None, **kwargs):
            super().__init__(name, features_list)
            path = Path(feature_extractor_weights_path or CLASSIFIER_FILE)
            self.net = load_classifier_file(path)

        @staticmethod
        def get_provided_features_list():
            return FEATURES

        @staticmethod
        def get_default_feature_layer_for_metric(metric):
            return DEFAULT_LAYERS[metric]

        @staticmethod
        def can_be_compiled():
            return False

        @staticmethod
        def get_dummy_input_for_compile():
            return torch.zeros(1, 3, INPUT_SIZE, INPUT_SIZE, dtype=torch.uint8)

        def forward(self, x):
            feats = self.net.features(self.net.prepare(x))
            heads = dict(zip(HEAD_NAMES, split_logits(self.net.head(feats)), strict=True))
            shape = F.log_softmax(heads["a_shape"].float(), dim=1)
            colour = F.log_softmax(heads["a_colour"].float(), dim=1)
            pair = (shape[:, :, None] + colour[:, None, :]).flatten(1)  # [N, 5 * 7]
            out = {"256": feats.float(), "logits_unbiased": pair, "logits": pair}
            return tuple(out[name] for name in self.features_list)

    return SynthFeatureExtractor


def register_fidelity_extractor() -> str:
    """Register ``glide-bench-synth`` in torch-fidelity's registry (idempotent); returns NAME."""
    ensure_torchvision()
    import torch_fidelity

    registry = torch_fidelity.registry.FEATURE_EXTRACTORS_REGISTRY
    if NAME in registry:
        return NAME
    load_classifier_file(CLASSIFIER_FILE)  # fail here, with the fix, if the weights are absent
    cls = _extractor_class()
    cls.WEIGHTS_SHA256 = sha256_file(CLASSIFIER_FILE)
    torch_fidelity.register_feature_extractor(NAME, cls)
    return NAME
