"""Evaluating run folders: shared networks and reference features, per-run caches.

:class:`Evaluator` holds what all runs of a sweep share (the torch-fidelity extractor, the
reference features, the evaluation CLIP), loaded lazily and once. :class:`EvalContext` gives a
metric what it needs for one run (features computed in batches from the PNGs and cached in the
run folder). ``metrics.json`` records each metric with a key over everything that changes it;
a metric whose key is unchanged is never recomputed.

Reference features are cached at ``<cache_dir>/reference/<key>.npz``; the key hashes the
reference files (names, sizes, modification times), the resolution, the crop-and-resize policy
and the extractor's identity (name, weights hash, layers, resize mode, torch-fidelity version).
"""

from __future__ import annotations

import datetime
import json
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.errors import BenchError
from bench.images import REFERENCE_PREPROCESS, center_crop_resize, read_png
from bench.judges.choice import AUTO, Judges, choose_judges
from bench.metrics.families import CLIP
from bench.metrics.family import EVAL_CLIP, FAMILIES, FEATURE_EXTRACTOR, Family
from bench.metrics.fidelity import (
    ExtractorSpec,
    FeatureExtractor,
    inception_cache_path,
    resolve_extractor,
)
from bench.metrics.registry import METRICS, MetricResult, get_metric
from bench.metrics.store import load_arrays, save_arrays
from bench.runfolder import RunFolder
from bench.spec import content_hash
from glide.io import atomic_write_text

# Bump when a metric's computation changes, so that stored values are recomputed.
METRIC_CODE_VERSION = 3


def default_cache_dir() -> Path:
    for name in ("GLIDE_BENCH_CACHE", "GLIDE_CACHE_DIR"):
        if os.environ.get(name):
            return Path(os.environ[name])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "glide-bench"


@dataclass(frozen=True)
class EvalConfig:
    metrics: tuple[str, ...]
    extractor: str = "auto"
    inception_weights: Path | None = None
    clip_model: str = "auto"
    clip_pretrained: Path | None = None
    allow_embedded_judges: bool = False  # embedded judges on real captions (a smoke test)
    require_quick_gelu: bool = False  # paper parity: the judge CLIP must use QuickGELU
    device: str = "cpu"
    batch_size: int = 32
    cache_dir: Path | None = None
    fid_splits: int = 20  # jackknife groups for the FID interval
    isc_split_size: int = 0  # images per IS split; 0: from the number of classes
    kid_subsets: int = 100
    kid_subset_size: int = 1000
    pr_neighborhood: int = 3
    half_samples: int = 200  # random halves for the recall interval
    bootstrap: int = 1000
    seed: int = 0

    def fidelity_params(self) -> dict[str, Any]:
        keys = (
            "fid_splits",
            "isc_split_size",
            "kid_subsets",
            "kid_subset_size",
            "pr_neighborhood",
            "half_samples",
        )
        return {k: getattr(self, k) for k in keys} | {"seed": self.seed}


def _batches(paths: Sequence[Path], size: int, loader: Callable[[Path], np.ndarray]) -> Iterator:
    for start in range(0, len(paths), size):
        yield np.stack([loader(p) for p in paths[start : start + size]])


class Evaluator:
    """Shared evaluation state for the runs of one sweep (one extractor, one reference set)."""

    def __init__(
        self,
        config: EvalConfig,
        *,
        reference_paths: Sequence[Path],
        resolution: int,
        caption_kind: str,
    ) -> None:
        for name in config.metrics:
            family = get_metric(name).family_spec
            if not family.fits_captions(caption_kind):
                raise BenchError(
                    f"--metrics: {name!r} needs {' or '.join(family.caption_kinds or ())} "
                    f"captions (its judge, the {family.judge}, reads nothing else), not "
                    f"{caption_kind!r}; drop it from --metrics"
                )
        self.config = config
        needed = {family.judge for family in self._families()}
        self.judges: Judges = choose_judges(
            caption_kind=caption_kind,
            extractor=config.extractor,
            clip_model=config.clip_model,
            inception_weights=config.inception_weights,
            inception_cached=inception_cache_path() if FEATURE_EXTRACTOR in needed else None,
            clip_pretrained=config.clip_pretrained,
            needs_fidelity=FEATURE_EXTRACTOR in needed,
            needs_clip=EVAL_CLIP in needed,
            allow_embedded=config.allow_embedded_judges,
        )
        self.reference_paths = list(reference_paths)
        self.resolution = resolution
        self.caption_kind = caption_kind
        self.cache_dir = Path(config.cache_dir) if config.cache_dir else default_cache_dir()
        self._spec: ExtractorSpec | None = None
        self._extractor: FeatureExtractor | None = None
        self._reference: dict[str, np.ndarray] | None = None
        self._ref_stats: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._clip = None
        self._clip_choice = None

    def _families(self) -> list[Family]:
        """The families of the configured metrics, in registration order."""
        used = {METRICS[name].family for name in self.config.metrics}
        return [family for name, family in FAMILIES.items() if name in used]

    def families(self) -> set[str]:
        return {family.name for family in self._families()}

    # -- fidelity ----------------------------------------------------------------------------
    def extractor_spec(self) -> ExtractorSpec:
        if self._spec is None:
            self._spec = resolve_extractor(self.judges.extractor, self.config.inception_weights)
        return self._spec

    def extractor(self) -> FeatureExtractor:
        if self._extractor is None:
            self._extractor = FeatureExtractor(self.extractor_spec(), self.config.device)
        return self._extractor

    def reference_key(self) -> str:
        files = []
        for path in self.reference_paths:
            st = path.stat()
            files.append([path.name, st.st_size, st.st_mtime_ns])
        return content_hash(
            {
                "files": files,
                "resolution": self.resolution,
                "preprocess": REFERENCE_PREPROCESS,
                "extractor": self.extractor_spec().identity(),
                "version": 1,
            },
            length=24,
        )

    def reference_features(self) -> dict[str, np.ndarray]:
        if self._reference is None:
            key = self.reference_key()
            path = self.cache_dir / "reference" / f"{key}.npz"
            arrays = load_arrays(path)
            if arrays is None:
                extractor = self.extractor()
                arrays = extractor.features(
                    _batches(
                        self.reference_paths,
                        self.config.batch_size,
                        lambda p: center_crop_resize(p, self.resolution),
                    ),
                    total=len(self.reference_paths),
                    desc="reference features",
                )
                save_arrays(path, arrays)
                meta = {
                    "key": key,
                    "num_images": len(self.reference_paths),
                    "first_file": str(self.reference_paths[0]),
                    "resolution": self.resolution,
                    "preprocess": REFERENCE_PREPROCESS,
                    "extractor": self.extractor_spec().identity(),
                }
                atomic_write_text(path.with_suffix(".json"), json.dumps(meta, indent=2) + "\n")
            self._reference = arrays
        return self._reference

    def reference_stats(self, layer: str) -> tuple[np.ndarray, np.ndarray]:
        from bench.metrics.fidelity_metrics import feature_statistics

        if layer not in self._ref_stats:
            self._ref_stats[layer] = feature_statistics(self.reference_features()[layer])
        return self._ref_stats[layer]

    # -- clip / classifier -------------------------------------------------------------------
    def clip_choice(self):
        """The evaluation CLIP that runs (architecture, activation, weights), checked once."""
        from bench.metrics.clip_score import resolve_clip

        if self._clip_choice is None:
            self._clip_choice = resolve_clip(
                self.judges.clip_model,
                self.config.clip_pretrained,
                name_given=self.config.clip_model != AUTO,
                require_quick_gelu=self.config.require_quick_gelu,
            )
        return self._clip_choice

    def clip(self):
        from bench.metrics.clip_score import ClipScorer

        if self._clip is None:
            self._clip = ClipScorer(self.clip_choice(), device=self.config.device)
        return self._clip

    def check_judges_independent_of(self, generator_description: Any) -> None:
        """Refuse a judge whose weights are a checkpoint of the generator (the guiding CLIP)."""
        for family in self._families():
            family.independent_of(self, generator_description)

    def family_key(self, family: str) -> str:
        body = FAMILIES[family].key(self)
        return content_hash({"family": family, "code_version": METRIC_CODE_VERSION, **body})

    def preflight(self, load: bool = True) -> None:
        """Fail now (before hours of sampling) if a configured metric cannot be computed.

        With ``load`` (the process that scores), the judges' weights are loaded (a wrong file
        fails here) and the reference features computed and cached (an unreadable reference
        image fails here); without it only the cheap checks run.
        """
        families = self._families()
        # cheap checks first: a missing file is reported before any slow work
        for family in families:
            family.check(self)
        if not load:
            return
        for family in families:
            family.load(self)
        for family in families:
            family.prepare(self)

    def judges_record(self) -> dict[str, Any]:
        """The judge choice for sweep.json, with the CLIP that actually runs (activation)."""
        record = self.judges.record()
        for family in self._families():
            record.update(family.record(self))
        return record

    def describe(self) -> dict[str, Any]:
        """Metadata for sweep.json: which networks judged the images."""
        out: dict[str, Any] = {"metrics": list(self.config.metrics), "judges": self.judges_record()}
        for family in self._families():
            out.update(family.describe(self))
        return out

    # -- one run -----------------------------------------------------------------------------
    def evaluate(self, folder: RunFolder) -> dict[str, MetricResult]:
        """Compute (or reuse from metrics.json) every configured metric of one finished run."""
        path = folder.path / "metrics.json"
        stored: dict[str, Any] = {}
        if path.is_file():
            try:
                stored = json.loads(path.read_text(encoding="utf-8")).get("metrics", {})
            except json.JSONDecodeError:
                stored = {}
        keys = {name: self.family_key(METRICS[name].family) for name in self.config.metrics}
        ctx: EvalContext | None = None
        results: dict[str, MetricResult] = {}
        changed = False
        for name in self.config.metrics:
            entry = stored.get(name)
            if entry is not None and entry.get("key") == keys[name]:
                fields = {k: entry[k] for k in MetricResult.__dataclass_fields__}
                results[name] = MetricResult(**fields)
            else:
                ctx = ctx or EvalContext(self, folder)
                results[name] = METRICS[name].compute(ctx)
                changed = True
            METRICS[name].family_spec.annotate(self, results[name])
        if changed:
            for name, result in results.items():
                metric = METRICS[name]
                stored[name] = {
                    "key": keys[name],
                    "display_name": metric.display_name,
                    "lower_is_better": metric.lower_is_better,
                    **result.to_json(),
                }
            doc = {
                "run_id": folder.spec.run_id,
                "label": folder.spec.label,
                "updated_at": datetime.datetime.now(datetime.timezone.utc).isoformat(),
                "metrics": stored,
            }
            atomic_write_text(
                path, json.dumps(doc, indent=2, sort_keys=True, allow_nan=True) + "\n"
            )
        return results


class EvalContext:
    """What a metric sees of one run; features are computed once and cached in the run folder."""

    def __init__(self, evaluator: Evaluator, folder: RunFolder) -> None:
        self.evaluator = evaluator
        self.config = evaluator.config
        self.folder = folder
        self.image_paths = folder.image_files()
        done = folder.read_manifest()
        self.captions = [done[i]["caption"] for i in range(len(self.image_paths))]
        self._memo: dict[str, Any] = {}

    def memo(self, name: str, fn: Callable[[], Any]) -> Any:
        if name not in self._memo:
            self._memo[name] = fn()
        return self._memo[name]

    # fidelity
    def extractor_label(self) -> str:
        return self.evaluator.extractor_spec().name

    def num_reference(self) -> int:
        return len(self.evaluator.reference_paths)

    def _gen_all(self) -> dict[str, np.ndarray]:
        def compute() -> dict[str, np.ndarray]:
            spec = self.evaluator.extractor_spec()
            path = self.folder.path / "features" / f"{spec.key()}-n{len(self.image_paths)}.npz"
            arrays = load_arrays(path)
            if arrays is None:
                arrays = self.evaluator.extractor().features(
                    _batches(self.image_paths, self.config.batch_size, read_png),
                    total=len(self.image_paths),
                    desc=f"{self.folder.spec.label} features",
                )
                save_arrays(path, arrays)
            return arrays

        return self.memo("gen_features", compute)

    def gen_features(self, metric: str) -> np.ndarray:
        """Generated-image features for ``metric`` ('isc', 'fid', 'kid', 'prc'): [N, D]."""
        return self._gen_all()[self.evaluator.extractor_spec().layer(metric)]

    def ref_features(self, metric: str) -> np.ndarray:
        return self.evaluator.reference_features()[self.evaluator.extractor_spec().layer(metric)]

    def ref_stats(self, metric: str) -> tuple[np.ndarray, np.ndarray]:
        return self.evaluator.reference_stats(self.evaluator.extractor_spec().layer(metric))

    # clip
    def clip_label(self) -> str:
        return self.evaluator.clip().label

    def clip_scores(self) -> np.ndarray:
        def compute() -> np.ndarray:
            key = self.evaluator.family_key(CLIP.name)
            path = self.folder.path / "features" / f"clip-{key}-n{len(self.image_paths)}.npz"
            arrays = load_arrays(path)
            if arrays is None:
                scores = self.evaluator.clip().scores(
                    self.image_paths, self.captions, batch_size=self.config.batch_size
                )
                arrays = {"clip_score": scores}
                save_arrays(path, arrays)
            return arrays["clip_score"]

        return self.memo("clip_scores", compute)

    # caption match
    def classifier_label(self) -> str:
        return "attribute classifier (bench/judges/assets)"

    def _attribute_labels(self) -> tuple[np.ndarray, np.ndarray]:
        """Predicted and caption-stated attribute labels of every image (classifier runs once)."""

        def compute() -> tuple[np.ndarray, np.ndarray]:
            from bench.judges.embedded import predicted_and_stated_labels

            preds, targets = [], []
            size = self.config.batch_size
            for start, batch in zip(
                range(0, len(self.image_paths), size),
                _batches(self.image_paths, size, read_png),
                strict=True,
            ):
                p, t = predicted_and_stated_labels(batch, self.captions[start : start + size])
                preds.append(p)
                targets.append(t)
            return np.concatenate(preds), np.concatenate(targets)

        return self.memo("attribute_labels", compute)

    def caption_matches(self) -> np.ndarray:
        from bench.judges.attributes import matches

        return matches(*self._attribute_labels())

    def attribute_scores(self) -> np.ndarray:
        from bench.judges.attributes import attribute_fractions

        return attribute_fractions(*self._attribute_labels())
