"""The attribute classifier: a small CNN reading a synthetic scene's attributes off a 64x64 image.

Trained by ``python -m bench.judges.train classifier`` on its own data (seed and split
documented in its model card), never on the GLIDE training data, so the judge is not the guide.
Its 256-d penultimate layer also serves as the ``glide-bench-synth`` torch-fidelity features.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from bench.errors import BenchError
from bench.judges.attributes import NUM_LOGITS
from glide.io import atomic_torch_save, sha256_file

ASSETS = Path(__file__).resolve().parent / "assets"
CLASSIFIER_FILE = ASSETS / "attribute_classifier.pt"
FORMAT = "glide-bench-attribute-classifier/1"
INPUT_SIZE = 64
FEATURE_DIM = 256


def _block(c_in: int, c_out: int, stride: int, kernel: int = 3) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class AttributeNet(nn.Module):
    """uint8-range images ``[N, 3, H, W]`` -> logits ``[N, NUM_LOGITS]``
    (see bench.judges.attributes).

    Inputs of another size are resized to 64x64 (bilinear, antialiased) first.
    """

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        w = width
        self.body = nn.Sequential(
            _block(3, w, 2, kernel=5),  # 32x32
            _block(w, 2 * w, 2),  # 16x16
            _block(2 * w, 2 * w, 1),
            _block(2 * w, 4 * w, 2),  # 8x8
            _block(4 * w, 4 * w, 2),  # 4x4
        )
        self.fc = nn.Linear(4 * w * 16, FEATURE_DIM)
        self.head = nn.Linear(FEATURE_DIM, NUM_LOGITS)
        self.width = width

    @staticmethod
    def prepare(images: torch.Tensor) -> torch.Tensor:
        """``[N, 3, H, W]`` values in 0..255 (any dtype) -> float ``[N, 3, 64, 64]`` in [-1, 1]."""
        if images.ndim != 4 or images.shape[1] != 3:
            raise BenchError(f"images: expected [N, 3, H, W], got shape {tuple(images.shape)}")
        x = images.float() / 127.5 - 1.0
        if x.shape[-2:] != (INPUT_SIZE, INPUT_SIZE):
            x = F.interpolate(
                x,
                size=(INPUT_SIZE, INPUT_SIZE),
                mode="bilinear",
                align_corners=False,
                antialias=True,
            )
        return x

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Prepared ``[N, 3, 64, 64]`` -> penultimate features ``[N, 256]`` (post-ReLU)."""
        return F.relu(self.fc(self.body(x).flatten(1)))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(self.prepare(images)))


def save_classifier(model: AttributeNet, path: Path, meta: dict) -> str:
    """Atomically save fp16 weights (what ships) and return the file's sha256."""
    state = {k: (v.half() if v.is_floating_point() else v) for k, v in model.state_dict().items()}
    atomic_torch_save(
        {"format": FORMAT, "width": model.width, "state_dict": state, "meta": meta}, path
    )
    return sha256_file(path)


def load_classifier_file(path: Path = CLASSIFIER_FILE) -> AttributeNet:
    """Load a saved classifier (float32, eval mode)."""
    path = Path(path)
    if not path.is_file():
        raise BenchError(
            f"attribute classifier weights not found at {path}; train them with "
            "`python -m bench.judges.train classifier` "
            "(see bench/judges/assets/ATTRIBUTE_CLASSIFIER.md)"
        )
    payload = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise BenchError(f"{path} is not a glide-bench attribute classifier file ({FORMAT})")
    model = AttributeNet(width=int(payload["width"]))
    model.load_state_dict(
        {k: v.float() if v.is_floating_point() else v for k, v in payload["state_dict"].items()}
    )
    return model.eval()
