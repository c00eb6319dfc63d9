"""torch-fidelity feature extractors: choosing one, and computing features in batches.

One extractor per table, never mixed. Which one is :mod:`bench.judges.choice`' decision (``auto``
follows the captions): the standard Inception-v3 (torch-fidelity's ``inception-v3-compat``,
converted from the TensorFlow FID graph) with its weights from ``--inception-weights PATH`` or
torch-fidelity's own download cache (``torch.hub`` checkpoints folder), or the embedded
extractor ``glide-bench-synth`` trained on the synthetic set (registered in torch-fidelity's
registry, the only registry of extractors, by
``bench.judges.feature_extractor.register_fidelity_extractor`` on first use). Nothing is
downloaded. The extractor's name, weights hash, feature layers and resize mode go with every
number.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from bench._torchvision import ensure_torchvision
from bench.errors import BenchError
from bench.judges.choice import INCEPTION, INCEPTION_FILE, INCEPTION_SOURCE, SYNTH
from bench.progress import progress_enabled
from bench.spec import content_hash
from glide.io import sha256_file

METRIC_LAYERS = ("isc", "fid", "kid", "prc")
INCEPTION_RESIZE = (
    "uint8 PNG -> TF1-compatible bilinear resize to 299x299 inside torch-fidelity's "
    "inception-v3-compat (as the original TensorFlow FID code)"
)


def _torch_fidelity():
    ensure_torchvision()
    import torch_fidelity  # noqa: F401
    import torch_fidelity.registry
    import torch_fidelity.utils

    return torch_fidelity


def inception_cache_path() -> Path:
    """Where torch-fidelity's own download of the Inception weights would be."""
    _torch_fidelity()
    from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3

    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(URL_INCEPTION_V3)


@dataclass(frozen=True)
class ExtractorSpec:
    """A torch-fidelity feature extractor and how it is used."""

    name: str
    weights_path: str | None
    weights_sha256: str | None
    resize: str
    layers: tuple[tuple[str, str], ...]  # (metric, layer) for isc/fid/kid/prc

    def layer(self, metric: str) -> str:
        return dict(self.layers)[metric]

    def identity(self) -> dict[str, Any]:
        tf = _torch_fidelity()
        return {
            "name": self.name,
            "weights_sha256": self.weights_sha256,
            "resize": self.resize,
            "layers": dict(self.layers),
            "torch_fidelity": tf.__version__,
        }

    def key(self) -> str:
        return content_hash(self.identity())


def _registry() -> dict[str, Any]:
    tf = _torch_fidelity()
    return tf.registry.FEATURE_EXTRACTORS_REGISTRY


def _ensure_synth_registered() -> None:
    """Register the one built-in extractor of this project on first use (it loads weights, so
    never at import); torch-fidelity's registry is the only registry of extractors."""
    if SYNTH in _registry():
        return
    try:
        from bench.judges.feature_extractor import register_fidelity_extractor
    except ImportError as exc:
        raise BenchError(
            f"the embedded feature extractor {SYNTH!r} is not available ({exc}); give the "
            f"standard Inception weights with --inception-weights PATH (torch-fidelity's "
            f"weights-inception-2015-12-05-6726825d.pth) instead"
        ) from exc
    register_fidelity_extractor()


def resolve_extractor(choice: str, inception_weights: Path | None = None) -> ExtractorSpec:
    """The feature extractor ``choice`` (a registered name, resolved from ``auto`` by
    :func:`bench.judges.choose_judges`), with its weights file and identity."""
    weights: Path | None = None
    if inception_weights is not None:
        weights = Path(inception_weights)
        if not weights.is_file():
            raise BenchError(
                f"--inception-weights: {weights} is not a file; give torch-fidelity's "
                f"{INCEPTION_FILE} ({INCEPTION_SOURCE})"
            )
        if choice == "auto":
            choice = INCEPTION
    if choice == "auto":
        raise BenchError(
            "--extractor auto depends on the captions; resolve it with "
            "bench.judges.choose_judges first"
        )
    if choice == INCEPTION and weights is None:
        cached = inception_cache_path()
        if not cached.is_file():
            raise BenchError(
                f"--extractor {INCEPTION}: the standard Inception weights are not available "
                f"offline (not in {cached}); give --inception-weights PATH ({INCEPTION_FILE} "
                f"from {INCEPTION_SOURCE})"
            )
        weights = cached
    if choice != INCEPTION and inception_weights is not None:
        raise BenchError(
            f"--inception-weights: given, but --extractor is {choice!r}; drop one of the two"
        )
    if choice == SYNTH:
        _ensure_synth_registered()
    registry = _registry()
    if choice not in registry:
        raise BenchError(
            f"--extractor: {choice!r} is not a registered torch-fidelity feature extractor; "
            f"choose auto, {INCEPTION}, {SYNTH} or one of {sorted(registry)}"
        )
    cls = registry[choice]
    layers = tuple((m, cls.get_default_feature_layer_for_metric(m)) for m in METRIC_LAYERS)
    if choice == INCEPTION:
        resize = INCEPTION_RESIZE
    else:
        resize = getattr(cls, "RESIZE_MODE", None) or (
            f"uint8 PNG as stored, resized inside {choice} as its model card describes"
        )
    sha = sha256_file(weights) if weights is not None else getattr(cls, "WEIGHTS_SHA256", None)
    return ExtractorSpec(choice, None if weights is None else str(weights), sha, resize, layers)


class FeatureExtractor:
    """A loaded extractor: uint8 image batches in, one float32 array per feature layer out."""

    def __init__(self, spec: ExtractorSpec, device: str = "cpu") -> None:
        tf = _torch_fidelity()
        self.spec = spec
        self.device = torch.device(device)
        self.layer_names = sorted({layer for _, layer in spec.layers})
        kwargs: dict[str, Any] = {"verbose": False}
        if spec.weights_path is not None:
            kwargs["feature_extractor_weights_path"] = spec.weights_path
        try:
            model = tf.utils.create_feature_extractor(
                spec.name, self.layer_names, cuda=False, **kwargs
            )
        except Exception as exc:  # noqa: BLE001 - a wrong file fails in many ways
            if spec.weights_path is None:
                raise
            lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
            first = " ".join(line[:160] + ("..." if len(line) > 160 else "") for line in lines[:2])
            raise BenchError(
                f"--inception-weights: {spec.weights_path} is not torch-fidelity's {spec.name} "
                f"weights file ({type(exc).__name__}: {first}); give {INCEPTION_FILE} "
                f"from {INCEPTION_SOURCE}"
            ) from None
        self.model = model.to(self.device)

    @torch.inference_mode()
    def __call__(self, images: np.ndarray) -> dict[str, np.ndarray]:
        """images: uint8 ``[N, H, W, 3]`` -> ``{layer: float32 [N, D]}``."""
        x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).contiguous()
        out = self.model(x.to(self.device))
        named = self.model.convert_features_tuple_to_dict(out)
        return {k: v.detach().float().cpu().numpy() for k, v in named.items()}

    def features(
        self, batches: Iterable[np.ndarray], *, total: int | None = None, desc: str = "features"
    ) -> dict[str, np.ndarray]:
        """Run every batch; only the features (not the images) are kept."""
        parts: dict[str, list[np.ndarray]] = {name: [] for name in self.layer_names}
        with tqdm(
            total=total,
            desc=desc,
            unit="img",
            leave=False,
            dynamic_ncols=True,
            disable=not progress_enabled(),
        ) as bar:
            for batch in batches:
                for name, value in self(batch).items():
                    parts[name].append(value)
                bar.update(len(batch))
        if not parts[self.layer_names[0]]:
            raise BenchError(f"{desc}: no images to compute features of")
        return {name: np.concatenate(arrays, axis=0) for name, arrays in parts.items()}
