"""Measure a trained GLIDE stack on held-out captions of the synthetic set (for model cards).

    python -m bench.model_eval --checkpoints DIR [--split val|test] [--n 64] \
        [--scales 1,2,3] [--steps 100] [--out eval.json]

For the first ``n`` captions of a held-out split of the synthetic set (``--split``, seed
``--data-seed``; both held-out splits hold the (shape, colour) pairs that never occur in
``train``, so part of them is zero-shot), samples one
64x64 image per caption with classifier-free guidance at each scale (same per-sample seeds at
every scale), and scores each image with a judge that was trained separately: by default the
attribute classifier of the embedded benchmark (``bench.judges.embedded.caption_match``, which needs
the bench extra). Because the outcomes are paired, each scale is also compared with the first
one caption by caption (exact McNemar test). Also times a batch of 16 with CFG and 27 steps.
Writes a JSON report.

Which split: ``val`` (the default) is the development split: every comparison made while
choosing a checkpoint, a recipe or a setting reads it, so the figures it gives for the chosen
model are optimistic (selection-time figures). ``test`` is the final evaluation: run it once on
the chosen model and report it as the headline; choosing anything by it makes it a second val.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from glide.errors import GlideError
from glide.samplers import SAMPLERS
from glide.train.cli import run_main

__all__ = [
    "evaluate_caption_match",
    "main",
    "paired_versus_first",
    "split_captions",
    "time_sampling",
    "val_captions",
]

EVAL_SPLITS = ("val", "test")  # the held-out splits (train is what the models learned from)

Judge = Callable[[np.ndarray, list[str]], np.ndarray]
Details = Callable[[np.ndarray, list[str]], dict[str, Any]]


def split_captions(n: int, data_seed: int = 0, split: str = "val") -> tuple[list[str], list[bool]]:
    """The first ``n`` captions of ``split`` (``val`` or ``test``) and whether each uses a
    held-out (shape, colour) pair."""
    from glide.data.synthetic import SyntheticCaptions

    if split not in EVAL_SPLITS:
        raise GlideError(
            f"split: {split!r}; the evaluation reads a held-out split, one of {list(EVAL_SPLITS)}"
        )
    ds = SyntheticCaptions(data_seed, split)
    items = [ds.item(i) for i in range(n)]
    return [it.caption for it in items], [bool(it.scene.heldout) for it in items]


def val_captions(n: int, data_seed: int = 0) -> tuple[list[str], list[bool]]:
    """The first ``n`` val captions and whether each uses a held-out (shape, colour) pair."""
    return split_captions(n, data_seed, "val")


def evaluate_caption_match(
    pipe: Any,
    captions: Sequence[str],
    heldout: Sequence[bool],
    judge: Judge,
    *,
    scales: Sequence[float],
    steps: str = "100",
    sampler: str = "ancestral",
    seed: int = 0,
    batch: int = 32,
    progress: bool = True,
    details: Details | None = None,
) -> dict[str, Any]:
    """Caption-match accuracy per guidance scale: overall, held-out pairs, seen pairs; plus
    whatever ``details(images, captions)`` returns (e.g. per-attribute accuracies)."""
    from tqdm import tqdm

    seeds = [seed * 100_003 + i for i in range(len(captions))]
    held = np.asarray(heldout, dtype=bool)
    out: dict[str, Any] = {}
    for scale in scales:
        images = []
        t0 = time.perf_counter()
        for s in tqdm(
            range(0, len(captions), batch), desc=f"cfg scale {scale}", disable=not progress
        ):
            images.append(
                pipe(
                    list(captions[s : s + batch]),
                    seeds[s : s + batch],
                    guidance="cfg",
                    scale=float(scale),
                    sampler=sampler,
                    steps=steps,
                )
            )
        images_all = np.concatenate(images)
        ok = np.asarray(judge(images_all, list(captions)), dtype=bool)
        out[f"{scale:g}"] = {
            "accuracy": float(ok.mean()),
            "accuracy_heldout": float(ok[held].mean()) if held.any() else None,
            "accuracy_seen": float(ok[~held].mean()) if (~held).any() else None,
            "n": int(len(ok)),
            "n_heldout": int(held.sum()),
            "matches": [bool(v) for v in ok],
            "seconds": time.perf_counter() - t0,
        }
        if details is not None:
            out[f"{scale:g}"].update(details(images_all, list(captions)))
    return out


def paired_versus_first(results: dict[str, Any]) -> dict[str, Any]:
    """Each later scale of :func:`evaluate_caption_match`'s ``results`` against the first one,
    caption by caption (same seeds at every scale, so the outcomes are paired): difference of
    exact-match rates with a bootstrap 95% interval, the captions that only one scale gets
    right, and the exact McNemar p-value (``bench.metrics.uncertainty.paired_comparison``)."""
    try:
        from bench.metrics.uncertainty import paired_comparison
    except ImportError as exc:
        raise GlideError(
            f"the paired comparison needs the bench extra ({exc}); pip install -e '.[bench]'"
        ) from None
    keys = list(results)
    if not keys:
        return {}
    first = results[keys[0]]["matches"]
    return {
        f"{key} vs {keys[0]}": paired_comparison(first, results[key]["matches"]) for key in keys[1:]
    }


def time_sampling(
    pipe: Any,
    captions: Sequence[str],
    *,
    batch: int = 16,
    steps: str = "27",
    scale: float = 3.0,
    sampler: str = "ancestral",
    repeats: int = 2,
) -> dict[str, Any]:
    """Wall time of sampling ``batch`` 64x64 images with CFG (best of ``repeats``)."""
    caps = [captions[i % len(captions)] for i in range(batch)]
    times = []
    for r in range(repeats):
        t0 = time.perf_counter()
        pipe(
            caps, list(range(r * batch, (r + 1) * batch)), guidance="cfg", scale=scale,
            sampler=sampler, steps=steps,
        )  # fmt: skip
        times.append(time.perf_counter() - t0)
    return {
        "batch": batch,
        "steps": steps,
        "scale": scale,
        "sampler": sampler,
        "seconds_best": min(times),
        "seconds_all": times,
        "threads": torch.get_num_threads(),
    }


def _default_judge() -> tuple[Judge, Details]:
    try:
        from bench.judges.embedded import attribute_summary, caption_match
    except ImportError as exc:
        raise GlideError(
            f"the default judge bench.judges.embedded.caption_match is unavailable ({exc}); "
            "install the bench extra (pip install -e '.[bench]')"
        ) from None
    return caption_match, attribute_summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.model_eval",
        description="Caption-match accuracy of 64x64 samples on held-out synthetic captions "
        "at several classifier-free guidance scales, and sampling time.",
    )
    parser.add_argument(
        "--checkpoints", default=None, help="checkpoints folder (default: the embedded default)"
    )
    parser.add_argument(
        "--split",
        default="val",
        choices=EVAL_SPLITS,
        help="synthetic split of the captions: val (default; the development split that model "
        "selection and tuning read, so its figures for a chosen model are optimistic) or test "
        "(the final evaluation, never used for any choice)",
    )
    parser.add_argument("--n", type=int, default=64, help="number of captions (64)")
    parser.add_argument("--data-seed", type=int, default=0, help="synthetic set seed (0)")
    parser.add_argument("--scales", default="1,2,3", help="CFG scales, comma-separated (1,2,3)")
    parser.add_argument("--steps", default="100", help="sampling steps (100)")
    parser.add_argument(
        "--sampler",
        default="ancestral",
        choices=SAMPLERS,
        help="base-model sampler for the evaluation (ancestral); the batch-16 timing uses it too",
    )
    parser.add_argument(
        "--dtype",
        default="float32",
        choices=("float32", "bfloat16", "float16"),
        help="model dtype; non-float32 runs the inference fast path (glide.fast) (float32)",
    )
    parser.add_argument("--seed", type=int, default=0, help="sampling seed (0)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = default)")
    parser.add_argument("--no-timing", action="store_true", help="skip the timing of batch 16")
    parser.add_argument("--out", default=None, help="write the JSON report here")
    args = parser.parse_args(argv)

    def body() -> int:
        from glide.fast import fast_path_for
        from glide.pipeline import Text2ImPipeline

        if args.threads:
            torch.set_num_threads(args.threads)
        try:
            scales = [float(s) for s in args.scales.split(",") if s.strip()]
        except ValueError:
            raise GlideError(f"--scales {args.scales!r}: give numbers such as 1,2,3") from None
        if args.n < 1:
            raise GlideError(f"--n {args.n}: give a positive number of captions")
        judge, details = _default_judge()
        pipe = Text2ImPipeline.from_checkpoints(args.checkpoints, progress=False)
        fast = fast_path_for("cpu", args.dtype)
        if fast is not None:
            pipe.use_fast_path(fast)
        captions, heldout = split_captions(args.n, args.data_seed, args.split)
        report: dict[str, Any] = {
            "checkpoints": pipe.describe(),
            "split": args.split,
            "n": args.n,
            "data_seed": args.data_seed,
            "steps": args.steps,
            "sampler": args.sampler,
            "dtype": args.dtype,
            "threads": torch.get_num_threads(),
            "seed": args.seed,
            "caption_match": evaluate_caption_match(
                pipe,
                captions,
                heldout,
                judge,
                scales=scales,
                steps=args.steps,
                sampler=args.sampler,
                seed=args.seed,
                details=details,
            ),
        }
        report["paired_versus_first_scale"] = paired_versus_first(report["caption_match"])
        if not args.no_timing:
            report["timing_batch16_cfg_27steps"] = time_sampling(
                pipe, captions, sampler=args.sampler
            )
        text = json.dumps(report, indent=2)
        if args.out:
            Path(args.out).write_text(text + "\n")
        print(text)
        return 0

    return run_main(body)


if __name__ == "__main__":
    raise SystemExit(main())
