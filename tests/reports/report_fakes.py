"""Small sweep and ratings folders written by hand, in the CONTRACTS formats, for report tests.

Numbers are made up by the caller (or by simple closed forms here); images are random noise.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

METRIC_INFO = {  # name: (display name, lower is better, family extractor label)
    "fid": ("FID", True, "glide-bench-synth"),
    "is": ("Inception Score", False, "glide-bench-synth"),
    "kid": ("KID", True, "glide-bench-synth"),
    "precision": ("Precision", False, "glide-bench-synth"),
    "recall": ("Recall", False, "glide-bench-synth"),
    "clip_score": ("CLIP score", False, "embedded-clip"),
    "caption_match": ("Caption match", False, "attribute-classifier"),
    "attribute_match": ("Attribute match", False, "attribute-classifier"),
}
NAN = float("nan")

#: Shared by the report tests: a caption holding markup and a note for a missing metric.
SCRIPT_CAPTION = 'a red square <script>alert("x")</script> & <b>friends</b>'
FID_NOTE = "FID needs at least 2 images in each set (have 1 generated, 1000 reference)"
CAPTIONS = [
    "a blue circle on a grey background",
    SCRIPT_CAPTION,
    "a green triangle on a white background",
    "a yellow star on a black background",
    "a purple square on a grey background",
    "an orange circle on a white background",
]

ValueFn = Callable[[str, float], dict[str, tuple[float, float, float]]]


def realistic_values(method: str, scale: float) -> dict[str, tuple[float, float, float]]:
    """A plausible trade-off: guidance raises IS/precision/CLIP and lowers recall; cfg wins."""
    boost = 1.0 if method == "cfg" else 0.6
    s = scale
    fid = (14.0 if method == "cfg" else 19.0) + 2.2 * (s - 1.6) ** 2
    vals = {
        "fid": fid,
        "is": 12 + 6 * boost * math.log1p(s),
        "kid": fid / 1000.0,
        "precision": min(0.95, 0.55 + 0.12 * boost * s),
        "recall": max(0.05, 0.62 - 0.09 * s / boost),
        "clip_score": 21 + 6 * boost * (1 - math.exp(-1.3 * s)),
        "caption_match": 0.2 + 0.6 * boost * (1 - math.exp(-1.5 * s)),
        "attribute_match": 0.5 + 0.4 * boost * (1 - math.exp(-1.5 * s)),
    }
    out = {}
    for name, v in vals.items():
        half = 0.04 * abs(v) + 1e-4
        out[name] = (v, v - half, v + half)
    return out


def real_values(method: str, scale: float) -> dict[str, tuple[float, float, float]]:
    """The real-images floor: better than every realistic_values run on fidelity (FID, KID,
    precision, recall), with a CLIP score and caption match of real images."""
    vals = {
        "fid": 6.0,
        "is": 24.0,
        "kid": 0.006,
        "precision": 0.97,
        "recall": 0.9,
        "clip_score": 27.5,
        "caption_match": 0.88,
        "attribute_match": 0.93,
    }
    return {k: (v, v - 0.04 * v, v + 0.04 * v) for k, v in vals.items()}


def fake_sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _write_png(path: Path, rng: np.random.Generator, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    base = rng.integers(0, 256, size=(1, 1, 3))
    noise = rng.integers(-60, 60, size=(size, size, 3))
    Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8)).save(path)


def make_sweep(
    root: Path,
    *,
    methods: Sequence[str] = ("cfg", "clip"),
    scales: Sequence[float] = (1.0, 2.0, 3.0, 4.0),
    captions: Sequence[str] | None = None,
    values: ValueFn = realistic_values,
    metrics: Sequence[str] = tuple(METRIC_INFO),
    missing: dict[tuple[str, str], str] | None = None,
    results: bool = True,
    resolution: int = 64,
    incomplete: dict[str, int] | None = None,
    seed: int = 0,
    real: ValueFn | None = real_values,
    sweep_overrides: dict | None = None,
) -> Path:
    """Write ``root/`` as bench.sweep would: sweep.json, runs/, results.csv (+ parquet).

    ``missing`` maps (label, metric) to a note: that row gets value NaN with the note.
    ``incomplete`` maps a label to the number of finished images of that run.
    ``real``: the values of the real-images run (``runs/real-images``, method "real", scale
    null, as the bench side writes it); None: an older sweep without one.
    ``sweep_overrides``: top-level keys of sweep.json to replace (e.g. other judges).
    """
    rng = np.random.default_rng(seed)
    captions = list(
        captions
        or [
            f"a {c} {s} on a {b} background"
            for c, s, b in zip(
                ["red", "green", "blue", "yellow", "purple", "orange", "white", "black"],
                ["square", "circle", "triangle", "star", "square", "circle", "triangle", "star"],
                ["grey", "white", "black", "green", "grey", "white", "black", "blue"],
                strict=True,
            )
        ]
    )
    missing = missing or {}
    incomplete = incomplete or {}
    n = len(captions)
    settings = {
        "captions": {
            "kind": "synthetic",
            "num_samples": n,
            "subset_seed": 0,
            "captions_sha256": fake_sha("captions"),
            "ids_sha256": fake_sha("ids"),
            "subset": "rank ids by sha256; first n",
        },
        "checkpoints": {"base": {"sha256": fake_sha("base.pt")}},
        "dtype": "float32",
        "generator": "glide",
        "num_samples": n,
        "resolution": resolution,
        "sampler": "ancestral",
        "seed": 0,
        "steps": "50",
        "upsample_steps": "fast27",
        "upsample_temp": 0.997,
    }
    runs_meta, rows = [], []
    plan = [(m, float(s)) for m in methods for s in scales]
    if real is not None:
        plan.append(("real", None))
    for method, scale in plan:  # the real-images run has no scale
        is_real = method == "real"
        label = "real images" if is_real else f"{method}@{scale:g}"
        run_id = "real-images" if is_real else fake_sha(label)[:12]
        run_dir = root / "runs" / run_id
        run_dir.mkdir(parents=True)
        spec = {
            "run_id": run_id,
            "label": label,
            "spec_version": 1,
            "method": method,
            "scale": scale,
            **settings,
        }
        (run_dir / "spec.json").write_text(json.dumps(spec, indent=2))
        done = incomplete.get(label, n)
        lines = []
        for i in range(done):
            file = f"images/{i:05d}.png"
            _write_png(run_dir / file, rng, resolution)
            lines.append(
                json.dumps(
                    {
                        "index": i,
                        "caption_id": 100 + i,
                        "caption": captions[i],
                        "seed": 1000 + i,
                        "file": file,
                    }
                )
            )
        (run_dir / "manifest.jsonl").write_text("".join(x + "\n" for x in lines))
        runs_meta.append(
            {
                "run_id": run_id,
                "label": label,
                "method": method,
                "scale": scale,
                "num_images": done,
                "complete": done == n,
            }
        )
        if done < n:
            continue
        vals = (real or values)(method, scale) if is_real else values(method, scale)
        for metric in metrics:
            display, lower, extractor = METRIC_INFO[metric]
            note = missing.get((label, metric))
            v, lo, hi = (NAN, NAN, NAN) if note is not None else vals[metric]
            rows.append(
                {
                    "run_id": run_id,
                    "method": method,
                    "scale": float("nan") if scale is None else scale,
                    "label": label,
                    "metric": metric,
                    "display_name": display,
                    "value": v,
                    "ci_low": lo,
                    "ci_high": hi,
                    "n": n,
                    "lower_is_better": lower,
                    "extractor": extractor,
                    "resize": "torch-fidelity default" if extractor.endswith("synth") else "",
                    "notes": note if note is not None else f"interval for {metric}",
                }
            )
    sweep = {
        "command": "python -m bench.sweep --method cfg,clip --scales "
        + ",".join(f"{s:g}" for s in scales)
        + f" --num-samples {n} --out {root}",
        "argv": ["--method", "cfg,clip"],
        "created_at": "2026-01-02T03:04:05+00:00",
        "updated_at": "2026-01-02T04:05:06+00:00",
        "captions": {
            **settings["captions"],
            "captions_file": "/data/captions_val.json",
            "num_captions_available": 1000,
            "reference": "all",
            "num_reference_images": 1000,
            "reference_preprocess": "center-crop, bicubic resize",
        },
        "generator": {
            "kind": "glide",
            "checkpoints": {
                "base": {"file": "/ckpt/base.pt", "sha256": fake_sha("base.pt")},
                "clip-image-enc": {
                    "file": "/ckpt/clip_image_enc.pt",
                    "sha256": fake_sha("clip_image_enc.pt"),
                },
            },
            "options": {"base": {"num_channels": 192, "text_ctx": 128}},
        },
        "evaluation": {
            "metrics": list(metrics),
            "extractor": {
                "name": "glide-bench-synth",
                "weights_sha256": fake_sha("extractor"),
                "torch_fidelity": "0.4.0",
            },
            "clip": {
                "model": "embedded",
                "weights_sha256": fake_sha("clip"),
                "convention": "100 * cos, not clamped",
            },
        },
        "protocol": {
            "paper_parity": False,
            "device": "cpu",
            "per_sample_seed": "sha256('glide-bench/sample/<seed>/<caption index>')",
            "deviations_from_paper": {"steps": "50 instead of 250"},
        },
        "runs": runs_meta,
        "settings": settings,
        "settings_key": "abc123",
        "versions": {"python": "3.11.7", "torch": "2.13.0+cpu", "torch-fidelity": "0.4.0"},
        "world_size": 1,
        "invocations": [],
    }
    sweep["protocol"]["judges"] = {
        "rule": "judges follow the captions",
        "caption_kind": "synthetic",
        "extractor": "glide-bench-synth",
        "clip_model": "embedded",
        "embedded_judges_on_real_captions": [],
    }
    sweep["protocol"]["reference"] = "all"
    sweep.update(sweep_overrides or {})
    root.mkdir(parents=True, exist_ok=True)
    (root / "sweep.json").write_text(json.dumps(sweep, indent=2))
    if results:
        table = pd.DataFrame(rows)
        table.to_csv(root / "results.csv", index=False)
    return root


def make_ratings(
    root: Path,
    conditions: Sequence[tuple[str, str, float]],
    *,
    questions: Sequence[str] = ("photorealism", "caption"),
    elo: Callable[[str, str, float], float] | None = None,
    excluded: Sequence[str] = ("rater-<b>bad</b>",),
    nan_conditions: Sequence[str] = (),
) -> Path:
    """Write a ratings folder (CONTRACTS "Ratings output") for ``(condition, method, scale)``."""
    elo = elo or (lambda q, m, s: (40.0 if m == "cfg" else 20.0) * s - 3 * s * s)
    rows, agree = [], []
    names = [c for c, _, _ in conditions]
    root.mkdir(parents=True, exist_ok=True)
    for question in questions:
        for condition, method, scale in conditions:
            for system in ("elo", "bradley_terry"):
                r = NAN if condition in nan_conditions else elo(question, method, scale)
                r += 0.0 if system == "elo" else 1.5
                rows.append(
                    {
                        "question": question,
                        "condition": condition,
                        "method": method,
                        "scale": scale,
                        "system": system,
                        "rating": r,
                        "ci_low": r - 25,
                        "ci_high": r + 25,
                        "n_votes": 40,
                    }
                )
        k = len(names)
        matrix = np.full((k, k), np.nan)
        for i in range(k):
            for j in range(k):
                if i != j and abs(i - j) <= 2:
                    matrix[i, j] = 0.5 + 0.1 * (i - j)
        pd.DataFrame(matrix, index=names, columns=names).to_csv(root / f"winrate_{question}.csv")
        for stat, value in (
            ("krippendorff_alpha_nominal", 0.41),
            ("krippendorff_alpha_interval", 0.52),
            ("fleiss_kappa", 0.4),
            ("percent_agreement", NAN),
        ):
            agree.append({"question": question, "statistic": stat, "value": value, "n_items": 17})
    pd.DataFrame(rows).to_csv(root / "ratings.csv", index=False)
    pd.DataFrame(agree).to_csv(root / "agreement.csv", index=False)
    raters = [
        {"rater": "alice", "n_votes": 120, "gold_accuracy": 0.95, "excluded": False},
        {"rater": "bob", "n_votes": 80, "gold_accuracy": 0.9, "excluded": False},
    ]
    raters += [
        {"rater": name, "n_votes": 30, "gold_accuracy": 0.2, "excluded": True} for name in excluded
    ]
    pd.DataFrame(raters).to_csv(root / "raters.csv", index=False)
    meta = {
        "study": "demo-study",
        "created_at": "2026-01-03T00:00:00+00:00",
        "db": "sqlite:///votes.db",
        "questions": list(questions),
        "reference": names[0],
        "counts": {
            "votes_total": 600,
            "votes_gold": 40,
            "raters": len(raters),
            "raters_excluded": len(excluded),
            "raters_flagged": 1,
            "votes_used": {q: 260 for q in questions},
        },
        "tie_convention": "a tie is half a win for each side",
        "bootstrap": {
            "replicates": 200,
            "level": 0.95,
            "seed": 0,
            "method": "multinomial resampling of votes",
        },
        "elo": {"prior_sd_points": 2000.0},
        "notes": {q: [] for q in questions},
    }
    (root / "ratings.json").write_text(json.dumps(meta, indent=2))
    return root
