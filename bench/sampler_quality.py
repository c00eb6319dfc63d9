"""``python -m bench.sampler_quality``: sample quality of fast samplers and of bf16, in one table.

For each configuration (sampler, steps, dtype) it runs one ``bench.sweep`` (one method at one
guidance scale; its :class:`~bench.sweep_config.SweepConfig` is :func:`sweep_config`) into its
own sweep folder under ``--out``: the same captions and the same
per-sample seeds for every configuration (paired comparisons), scored with FID (the embedded
feature extractor ``glide-bench-synth``), caption-match accuracy (the attribute classifier) and
CLIP score (the embedded evaluation CLIP), each with its interval, then tabulates them side by
side with the generation time per image and how each interval compares with the baseline's
(the first configuration; by default 100 ancestral steps in float32). Issue 8 asks: does
DPM-Solver++(2M) (the ODE form dpm++2m or the SDE form dpm++2m-sde) at <= 20 steps reach
the 100-step ancestral sampler's FID and caption match, and does bf16 (the fast path) equal
float32 within the intervals?

Every stage is the sweep's own, so re-running the command resumes (finished images and metrics
are not recomputed). Outputs: ``<out>/<config>/`` sweep folders, ``<out>/quality.csv`` (tidy:
one row per configuration and metric) and ``<out>/quality.md`` (the printed table).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.errors import BenchError
from bench.spec import SAMPLERS, check_steps, parse_methods, parse_scales
from bench.sweep_config import (
    CaptionOptions,
    GenerationOptions,
    JudgeOptions,
    OutputOptions,
    SweepConfig,
)
from glide.errors import GlideError

DEFAULT_CONFIGS = (
    "ancestral:100,ddim:50,dpm++2m:10,dpm++2m:15,dpm++2m:20,"
    "dpm++2m-sde:10,dpm++2m-sde:15,dpm++2m-sde:20"
)
DEFAULT_DTYPES = "float32,bfloat16"
METRICS = ("fid", "caption_match", "attribute_match", "clip_score")
DTYPE_NAMES = {"float32": "fp32", "bfloat16": "bf16", "float16": "fp16"}


@dataclass(frozen=True)
class Config:
    """One row of the table: a base-model sampler, its respacing and the model dtype."""

    sampler: str
    steps: str
    dtype: str

    @property
    def label(self) -> str:
        return f"{self.sampler} {self.steps} {DTYPE_NAMES[self.dtype]}"

    @property
    def folder(self) -> str:
        return f"{self.sampler.replace('+', 'p')}-{self.steps}-{self.dtype}"


def parse_configs(configs: str, dtypes: str) -> list[Config]:
    """``"ancestral:100,dpm++2m:10"`` x ``"float32,bfloat16"`` -> configurations, in order
    (all samplers in float32 first, then in the next dtype, ...)."""
    pairs = []
    for item in [p.strip() for p in configs.split(",") if p.strip()]:
        sampler, sep, steps = item.partition(":")
        if not sep or sampler not in SAMPLERS:
            raise BenchError(
                f"--configs: {item!r} is not SAMPLER:STEPS with SAMPLER in {', '.join(SAMPLERS)}, "
                "e.g. ancestral:100,ddim:50,dpm++2m:15"
            )
        pairs.append((sampler, check_steps(steps, "--configs")))
    names = [d.strip() for d in dtypes.split(",") if d.strip()]
    bad = [d for d in names if d not in DTYPE_NAMES]
    if not pairs or not names or bad:
        raise BenchError(
            f"--configs {configs!r} / --dtypes {dtypes!r}: give at least one SAMPLER:STEPS and "
            f"dtypes from {', '.join(DTYPE_NAMES)}"
        )
    out = [Config(s, st, d) for d in names for s, st in pairs]
    if len(set(out)) != len(out):
        raise BenchError(f"--configs {configs!r}: a configuration appears twice")
    return out


def sweep_config(config: Config, args: argparse.Namespace) -> SweepConfig:
    """The ``bench.sweep`` config of one configuration: one method at one scale on the
    synthetic ``val`` split (a tuning tool never reads the test split), scored by the embedded
    judges."""
    return SweepConfig(
        methods=parse_methods([args.method]),
        scales=parse_scales(args.scale),
        num_samples=args.num_samples,
        seed=args.seed,
        captions=CaptionOptions(synthetic_split="val"),
        generation=GenerationOptions(
            checkpoints=args.checkpoints,
            sampler=config.sampler,
            steps=config.steps,
            dtype=config.dtype,
            batch_size=args.batch_size,
            device=args.device,
        ),
        judges=JudgeOptions(metrics=METRICS, extractor="glide-bench-synth"),
        output=OutputOptions(
            out=args.out / config.folder, cache_dir=args.cache_dir, progress=not args.no_progress
        ),
    )


def _timing(folder: Path, summary: dict[str, Any]) -> dict[str, Any]:
    """Accumulate generation time over invocations (a resumed run adds to it)."""
    from glide.io import atomic_write_text

    path = folder / "timing.json"
    timing = json.loads(path.read_text()) if path.is_file() else {"images": 0, "seconds": 0.0}
    if summary["generated"]:
        timing["images"] += int(summary["generated"])
        timing["seconds"] += float(summary["generation_seconds"])
        atomic_write_text(path, json.dumps(timing, indent=2) + "\n")
    return timing


def run_config(config: Config, args: argparse.Namespace) -> tuple[list[dict[str, Any]], dict]:
    """Run (or resume) one configuration's sweep; its metric rows and its timing."""
    import pandas as pd

    from bench.sweep import run_sweep

    summary = run_sweep(sweep_config(config, args))
    folder = args.out / config.folder
    results = folder / "results.csv"
    if not results.is_file():
        raise BenchError(f"{config.label}: the sweep in {folder} wrote no results.csv")
    rows = pd.read_csv(results).to_dict("records")
    return rows, _timing(folder, summary)


def build_rows(
    configs: list[Config], per_config: list[tuple[list[dict[str, Any]], dict]]
) -> list[dict[str, Any]]:
    """The tidy quality table, one row per (configuration, metric), with the comparison to the
    first configuration: "overlap" (the intervals intersect), "better" or "worse"."""
    rows: list[dict[str, Any]] = []
    baseline: dict[str, dict[str, Any]] = {}
    for i, (config, (metrics, timing)) in enumerate(zip(configs, per_config, strict=True)):
        per_image = timing["seconds"] / timing["images"] if timing["images"] else math.nan
        for m in metrics:
            row = {
                "config": config.label, "sampler": config.sampler, "steps": config.steps,
                "dtype": config.dtype, "metric": m["metric"], "display_name": m["display_name"],
                "value": m["value"], "ci_low": m["ci_low"], "ci_high": m["ci_high"], "n": m["n"],
                "lower_is_better": bool(m["lower_is_better"]), "seconds_per_image": per_image,
                "notes": "" if not isinstance(m.get("notes"), str) else m["notes"],
            }  # fmt: skip
            if i == 0:
                baseline[m["metric"]] = row
            row["vs_baseline"] = compare(row, baseline.get(m["metric"]))
            rows.append(row)
    return rows


def compare(row: dict[str, Any], base: dict[str, Any] | None) -> str:
    """ "overlap" if the two intervals intersect, else "better"/"worse"; "n/a" without both."""
    if base is None or any(
        not math.isfinite(float(r[k])) for r in (row, base) for k in ("ci_low", "ci_high")
    ):
        return "n/a"
    if row["ci_low"] <= base["ci_high"] and base["ci_low"] <= row["ci_high"]:
        return "overlap"
    higher = row["value"] > base["value"]
    return "worse" if higher == row["lower_is_better"] else "better"


def format_table(rows: list[dict[str, Any]], baseline: str) -> str:
    configs = list(dict.fromkeys(r["config"] for r in rows))
    names = {r["metric"]: r["display_name"] for r in rows}
    metrics = [m for m in METRICS if m in names]
    head = ["| configuration | s/image | " + " | ".join(names[m] for m in metrics) + " |"]
    head.append("|" + "---|" * (2 + len(metrics)))
    mark = {"overlap": "=", "better": "+", "worse": "-", "n/a": "?"}
    for config in configs:
        cells = {r["metric"]: r for r in rows if r["config"] == config}
        any_row = next(iter(cells.values()))
        parts = [config, f"{any_row['seconds_per_image']:.2f}"]
        for m in metrics:
            r = cells.get(m)
            if r is None:
                parts.append("-")
                continue
            digits = 1 if m == "fid" else 3
            text = f"{r['value']:.{digits}f} [{r['ci_low']:.{digits}f}, {r['ci_high']:.{digits}f}]"
            parts.append(f"{text} {mark[r['vs_baseline']]}")
        head.append("| " + " | ".join(parts) + " |")
    n = rows[0]["n"] if rows else 0
    head.append("")
    head.append(
        f"n = {n} samples per configuration, same captions and seeds. Marks compare each "
        f"interval with the baseline's ({baseline}): = intervals overlap, + better, - worse, "
        "? no interval. FID with the embedded extractor (glide-bench-synth)."
    )
    for m in metrics:  # the metrics' own notes (interval method, caveats), once each
        notes = dict.fromkeys(r["notes"] for r in rows if r["metric"] == m and r["notes"])
        head += [f"{names[m]}: {note}" for note in notes]
    return "\n".join(head)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench.sampler_quality",
        description="Quality table of samplers x dtypes on the embedded default (or --checkpoints):"
        " FID, caption-match accuracy and CLIP score with intervals, time per image, and each "
        "interval against the first configuration's. One resumable bench.sweep per "
        "configuration under --out.",
    )
    p.add_argument(
        "--configs", default=DEFAULT_CONFIGS,
        help=f"comma-separated SAMPLER:STEPS; the first (in the first dtype) is the baseline "
        f"(default: {DEFAULT_CONFIGS})",
    )  # fmt: skip
    p.add_argument(
        "--dtypes", default=DEFAULT_DTYPES,
        help="comma-separated model dtypes; non-float32 ones run on the fast path "
        "(default: %(default)s)",
    )  # fmt: skip
    p.add_argument(
        "--num-samples", type=int, default=40,
        help="captions (one image each) per configuration; ~15 min on 2 shared CPU cores "
        "at the default; FID from so few samples is only comparable within this table "
        "(default: %(default)s)",
    )  # fmt: skip
    p.add_argument("--method", default="cfg", help="cfg or clip (default: %(default)s)")
    p.add_argument("--scale", default="3", help="guidance scale (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="captions and per-sample seeds")
    p.add_argument("--batch-size", type=int, default=16, help="images per generator call")
    p.add_argument(
        "--checkpoints", type=Path, default=None,
        help="GLIDE checkpoints folder (default: the embedded default, glide/assets/embedded)",
    )  # fmt: skip
    p.add_argument("--device", default="cpu", help="torch device (default: %(default)s)")
    p.add_argument(
        "--threads", type=int, default=2, help="torch threads; 0 = PyTorch's choice "
        "(default: %(default)s)",
    )  # fmt: skip
    p.add_argument(
        "--out", type=Path, default=Path("sweeps/sampler_quality"),
        help="folder for the sweeps and the table (default: %(default)s)",
    )  # fmt: skip
    p.add_argument("--cache-dir", type=Path, default=None, help="as bench.sweep --cache-dir")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    return p


def run(args: argparse.Namespace) -> str:
    import torch

    from glide.io import atomic_write_text

    configs = parse_configs(args.configs, args.dtypes)
    parse_methods([args.method])
    parse_scales(args.scale)
    if args.num_samples < 2 or args.batch_size < 1 or args.threads < 0:
        raise BenchError(
            f"--num-samples={args.num_samples} / --batch-size={args.batch_size} / --threads="
            f"{args.threads}: give >= 2 samples, a positive batch size and threads >= 0"
        )
    if args.threads:
        torch.set_num_threads(args.threads)
    per_config = []
    for config in configs:
        started = time.perf_counter()
        print(f"== {config.label}: {args.out / config.folder}", file=sys.stderr, flush=True)
        per_config.append(run_config(config, args))
        print(f"   done in {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    rows = build_rows(configs, per_config)
    import pandas as pd

    table = format_table(rows, configs[0].label)
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out / "quality.csv", pd.DataFrame(rows).to_csv(index=False))
    atomic_write_text(args.out / "quality.md", table + "\n")
    return table


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    try:
        table = run(args)
    except GlideError as err:  # BenchError is a GlideError too
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(table)
    print(f"\ntable: {args.out / 'quality.md'}, {args.out / 'quality.csv'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
