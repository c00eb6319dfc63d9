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

Issue 24 adds two axes and the cost: ``--guidance-intervals`` crosses every configuration with
guidance intervals (noise levels sigma where guidance acts, ``glide.guidance.GuidanceInterval``;
"full" = every step), and ``--upsample-configs`` (e.g. ``ddim:fast27,dpm++2m:10``) makes every
row a 256x256 sweep through the upsampler with that sampler and respacing (the first is the
baseline, the paper's fast27). Each row reports its cost from the sweep's results table: network
evaluations per image (counted) and seconds per image (measured, ``bench.cost``); a
quality-vs-cost plot per metric is written beside the table, and :func:`goal_lines` prints the
speed-ups at equal quality (every metric's interval overlapping its comparison's).

Every stage is the sweep's own, so re-running the command resumes (finished images and metrics
are not recomputed). Outputs: ``<out>/<config>/`` sweep folders, ``<out>/quality.csv`` (tidy:
one row per configuration and metric), ``<out>/quality.md`` (the printed table) and
``<out>/quality_vs_cost_<metric>.png/.svg``.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.errors import BenchError
from bench.spec import (
    check_guidance_interval,
    format_interval,
    parse_methods,
    parse_sampler_steps,
    parse_scales,
)
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


def _name(steps: str) -> str:
    """A respacing as a folder-name part (section counts 5,4,1,1,2 -> 5_4_1_1_2)."""
    return steps.replace(",", "_")


@dataclass(frozen=True)
class Config:
    """One row of the table: a base-model sampler, its respacing and the model dtype, the
    guidance interval (None: every step) and, for 256x256 rows, the upsampler's sampler and
    respacing."""

    sampler: str
    steps: str
    dtype: str
    interval: tuple[float, float] | None = None
    upsample: tuple[str, str] | None = None

    @property
    def label(self) -> str:
        label = f"{self.sampler} {self.steps} {DTYPE_NAMES[self.dtype]}"
        if self.interval is not None:
            label += f" sigma[{format_interval(self.interval)}]"
        if self.upsample is not None:
            label += f" | up {self.upsample[0]} {self.upsample[1]}"
        return label

    @property
    def folder(self) -> str:
        folder = f"{self.sampler.replace('+', 'p')}-{_name(self.steps)}-{self.dtype}"
        if self.interval is not None:
            folder += f"-gi{self.interval[0]:g}_{self.interval[1]:g}"
        if self.upsample is not None:
            folder += f"-up-{self.upsample[0].replace('+', 'p')}-{_name(self.upsample[1])}"
        return folder

    @property
    def family(self) -> str:
        """The row without its steps and interval: one line of the quality-vs-cost plot."""
        up = "" if self.upsample is None else f" | up {self.upsample[0]}"
        return f"{self.sampler} {DTYPE_NAMES[self.dtype]}{up}"


def _pairs(text: str, option: str) -> list[tuple[str, str]]:
    """``"ddim:fast27,ddim:5,4,1,1,2"`` -> [("ddim", "fast27"), ("ddim", "5,4,1,1,2")]: items
    are split at commas, and a piece without a colon continues the previous item's section
    counts."""
    items: list[str] = []
    for piece in [p.strip() for p in text.split(",") if p.strip()]:
        if ":" not in piece and items and piece.isdigit():
            items[-1] += f",{piece}"
        else:
            items.append(piece)
    example = "ancestral:100,ddim:50,dpm++2m:15 (STEPS may be section counts: ddim:5,4,1,1,2)"
    return [parse_sampler_steps(item, option, example) for item in items]


def parse_intervals(text: str) -> list[tuple[float, float] | None]:
    """``"full;0.3,3"`` -> [None, (0.3, 3.0)] (semicolon-separated; "full" = every step)."""
    items = [p.strip() for p in str(text).split(";") if p.strip()]
    if not items:
        raise BenchError(f"--guidance-intervals: {text!r}; give 'full' and/or LO,HI items")
    return [None if i == "full" else check_guidance_interval(i) for i in items]


def parse_configs(
    configs: str, dtypes: str, intervals: str = "full", upsample: str | None = None
) -> list[Config]:
    """``"ancestral:100,dpm++2m:10"`` x ``"float32,bfloat16"`` x intervals x upsampler configs
    -> configurations, in order (the dtype outermost, then the upsampler configuration, the
    base configuration, the interval)."""
    pairs = _pairs(configs, "--configs")
    ups: list[tuple[str, str] | None] = [None] if upsample is None else _pairs(
        upsample, "--upsample-configs"
    )  # fmt: skip
    if not ups:
        raise BenchError(f"--upsample-configs: {upsample!r}; give SAMPLER:STEPS items")
    gis = parse_intervals(intervals)
    names = [d.strip() for d in dtypes.split(",") if d.strip()]
    bad = [d for d in names if d not in DTYPE_NAMES]
    if not pairs or not names or bad:
        raise BenchError(
            f"--configs {configs!r} / --dtypes {dtypes!r}: give at least one SAMPLER:STEPS and "
            f"dtypes from {', '.join(DTYPE_NAMES)}"
        )
    out = [Config(s, st, d, gi, up) for d in names for up in ups for s, st in pairs for gi in gis]
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
        guidance_intervals=(config.interval,),
        num_samples=args.num_samples,
        seed=args.seed,
        captions=CaptionOptions(synthetic_split="val"),
        generation=GenerationOptions(
            checkpoints=args.checkpoints,
            sampler=config.sampler,
            steps=config.steps,
            dtype=config.dtype,
            resolution=64 if config.upsample is None else 256,
            upsample_sampler="ddim" if config.upsample is None else config.upsample[0],
            upsample_steps="fast27" if config.upsample is None else config.upsample[1],
            batch_size=args.batch_size,
            device=args.device,
        ),
        judges=JudgeOptions(metrics=METRICS, extractor="glide-bench-synth"),
        output=OutputOptions(
            out=args.out / config.folder, cache_dir=args.cache_dir, progress=not args.no_progress
        ),
    )


def _cost(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The run's cost from its results rows (bench.cost's columns; NaN in older tables)."""
    generated = [r for r in rows if r.get("method") != "real"]
    first = generated[0] if generated else {}

    def number(key: str) -> float:
        value = first.get(key, math.nan)
        return float(value) if value is not None and value == value else math.nan

    return {
        "seconds_per_image": number("seconds_per_image"),
        "images_per_second": number("images_per_second"),
        "evaluations_per_image": number("evaluations_per_image"),
        "device": str(first.get("cost_device", "") or ""),
        "cost_dtype": str(first.get("cost_dtype", "") or ""),
    }


def run_config(config: Config, args: argparse.Namespace) -> tuple[list[dict[str, Any]], dict]:
    """Run (or resume) one configuration's sweep; its metric rows (the generated run's; the
    real-images floor is left out) and its cost."""
    import pandas as pd

    from bench.sweep import run_sweep

    run_sweep(sweep_config(config, args))
    folder = args.out / config.folder
    results = folder / "results.csv"
    if not results.is_file():
        raise BenchError(f"{config.label}: the sweep in {folder} wrote no results.csv")
    table = pd.read_csv(results, keep_default_na=False, na_values=["", "nan", "NaN"])
    rows = [r for r in table.to_dict("records") if r["method"] != "real"]
    return rows, _cost(rows)


def build_rows(
    configs: list[Config], per_config: list[tuple[list[dict[str, Any]], dict]]
) -> list[dict[str, Any]]:
    """The tidy quality table, one row per (configuration, metric), with the comparison to the
    first configuration: "overlap" (the intervals intersect), "better" or "worse"."""
    rows: list[dict[str, Any]] = []
    baseline: dict[str, dict[str, Any]] = {}
    for i, (config, (metrics, cost)) in enumerate(zip(configs, per_config, strict=True)):
        for m in metrics:
            row = {
                "config": config.label, "family": config.family, "sampler": config.sampler,
                "steps": config.steps, "dtype": config.dtype,
                "guidance_interval": format_interval(config.interval),
                "upsample": "" if config.upsample is None else ":".join(config.upsample),
                "metric": m["metric"], "display_name": m["display_name"],
                "value": m["value"], "ci_low": m["ci_low"], "ci_high": m["ci_high"], "n": m["n"],
                "lower_is_better": bool(m["lower_is_better"]),
                "seconds_per_image": cost["seconds_per_image"],
                "images_per_second": cost["images_per_second"],
                "evaluations_per_image": cost["evaluations_per_image"],
                "device": cost["device"], "cost_dtype": cost["cost_dtype"],
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


def _devices(rows: list[dict[str, Any]]) -> str:
    pairs = sorted({(r["device"] or "?", r["cost_dtype"] or "?") for r in rows})
    return "; ".join(f"{d}, {t}" for d, t in pairs)


def _same_quality(a: dict[str, dict[str, Any]], b: dict[str, dict[str, Any]]) -> bool:
    """Every metric of ``a`` has an interval overlapping ``b``'s."""
    shared = [m for m in a if m in b]
    return bool(shared) and all(compare(a[m], b[m]) == "overlap" for m in shared)


def verdict(same: bool) -> str:
    return "equal (every metric's interval overlaps)" if same else "NOT equal"


def goal_lines(rows: list[dict[str, Any]]) -> list[str]:
    """The issue-24 figures: (1) each guidance interval against full-range guidance at the same
    sampler, steps, dtype and upsampler: seconds per image saved, and whether every metric's
    interval overlaps; (2) each upsampler configuration against the first one (the paper's
    fast27) at the same base configuration and interval: upsampler evaluations saved."""
    by_config: dict[str, dict[str, dict[str, Any]]] = {}
    for r in rows:
        by_config.setdefault(r["config"], {})[r["metric"]] = r
    configs = list(by_config)
    lines = []

    def key(cfg: str, *drop: str) -> tuple:
        r = next(iter(by_config[cfg].values()))
        parts = {"sampler": r["sampler"], "steps": r["steps"], "dtype": r["dtype"],
                 "gi": r["guidance_interval"], "up": r["upsample"]}  # fmt: skip
        return tuple(v for k, v in parts.items() if k not in drop)

    for cfg in configs:
        first = next(iter(by_config[cfg].values()))
        if first["guidance_interval"]:
            full = [c for c in configs if key(c, "gi") == key(cfg, "gi")
                    and not next(iter(by_config[c].values()))["guidance_interval"]]  # fmt: skip
            for other in full:
                base = next(iter(by_config[other].values()))
                speed = base["seconds_per_image"] / first["seconds_per_image"]
                evals = base["evaluations_per_image"] / first["evaluations_per_image"]
                same = _same_quality(by_config[cfg], by_config[other])
                lines.append(
                    f"guidance interval: {cfg} vs {other}: {speed:.2f}x fewer seconds per image "
                    f"({evals:.2f}x fewer network evaluations); quality {verdict(same)}; "
                    f"n = {first['n']}"
                )
    ups = list(dict.fromkeys(next(iter(v.values()))["upsample"] for v in by_config.values()))
    ups = [u for u in ups if u]
    if len(ups) > 1:
        reference = ups[0]
        for cfg in configs:
            first = next(iter(by_config[cfg].values()))
            if not first["upsample"] or first["upsample"] == reference:
                continue
            for other in configs:
                base = next(iter(by_config[other].values()))
                if base["upsample"] != reference or key(other, "up") != key(cfg, "up"):
                    continue
                up_steps, ref_steps = _upsampler_evals(first), _upsampler_evals(base)
                same = _same_quality(by_config[cfg], by_config[other])
                lines.append(
                    f"upsampler: {cfg} vs {other}: {ref_steps / up_steps:.2f}x fewer upsampler "
                    f"evaluations ({up_steps} vs {ref_steps}), "
                    f"{base['seconds_per_image'] / first['seconds_per_image']:.2f}x fewer seconds "
                    f"per image; quality {verdict(same)}; n = {first['n']}"
                )
    return lines


def _upsampler_evals(row: dict[str, Any]) -> int:
    """Upsampler evaluations per image of a 256x256 row: one per step of its respacing (the
    upsampler runs unguided) over the 1000 steps every GLIDE model is trained with."""
    from glide.schedule import space_timesteps

    return len(space_timesteps(1000, row["upsample"].partition(":")[2]))


def format_table(rows: list[dict[str, Any]], baseline: str) -> str:
    configs = list(dict.fromkeys(r["config"] for r in rows))
    names = {r["metric"]: r["display_name"] for r in rows}
    metrics = [m for m in METRICS if m in names]
    head = [
        "| configuration | evals/image | s/image | " + " | ".join(names[m] for m in metrics) + " |"
    ]
    head.append("|" + "---|" * (3 + len(metrics)))
    mark = {"overlap": "=", "better": "+", "worse": "-", "n/a": "?"}
    for config in configs:
        cells = {r["metric"]: r for r in rows if r["config"] == config}
        any_row = next(iter(cells.values()))
        parts = [
            config.replace("|", "\\|") + (" (baseline)" if config == baseline else ""),
            f"{any_row['evaluations_per_image']:g}",
            f"{any_row['seconds_per_image']:.2f}",
        ]
        for m in metrics:
            r = cells.get(m)
            if r is None:
                parts.append("-")
                continue
            digits = 1 if m == "fid" else 3
            text = f"{r['value']:.{digits}f} [{r['ci_low']:.{digits}f}, {r['ci_high']:.{digits}f}]"
            parts.append(text if config == baseline else f"{text} {mark[r['vs_baseline']]}")
        head.append("| " + " | ".join(parts) + " |")
    n = rows[0]["n"] if rows else 0
    head.append("")
    head.append(
        f"n = {n} samples per configuration, same captions and seeds. Marks compare each "
        f"interval with the baseline's ({baseline}): = intervals overlap, + better, - worse, "
        "? no interval. FID with the embedded extractor (glide-bench-synth). evals/image: "
        "U-Net rows per image (base + upsampler; counted); s/image: measured generation time "
        f"per image ({_devices(rows)}); sigma[lo,hi]: guidance only at noise levels "
        "lo <= sigma <= hi."
    )
    for m in metrics:  # the metrics' own notes (interval method, caveats), once each
        notes = dict.fromkeys(r["notes"] for r in rows if r["metric"] == m and r["notes"])
        head += [f"{names[m]}: {note}" for note in notes]
    return "\n".join(head)


def plot_rows(rows: list[dict[str, Any]], out: Path) -> dict[str, list[Path]]:
    """Quality against seconds per image, one plot per metric (bench.cost_plots): a line per
    sampler family, points labelled with their steps (and interval)."""
    import pandas as pd

    from bench.cost_plots import plot_quality_vs_cost

    written = {}
    for metric in METRICS:
        mine = [r for r in rows if r["metric"] == metric]
        if not mine:
            continue
        points = pd.DataFrame(
            {
                "series": [r["family"] for r in mine],
                "point": [
                    r["steps"]
                    + (f" [{r['guidance_interval']}]" if r["guidance_interval"] else "")
                    + (f" up{r['upsample'].partition(':')[2]}" if r["upsample"] else "")
                    for r in mine
                ],
                "x": [r["seconds_per_image"] for r in mine],
                "y": [r["value"] for r in mine],
                "y_low": [r["ci_low"] for r in mine],
                "y_high": [r["ci_high"] for r in mine],
            }
        ).dropna(subset=["x", "y"])
        better = "lower is better" if mine[0]["lower_is_better"] else "higher is better"
        written[metric] = plot_quality_vs_cost(
            points,
            y_label=f"{mine[0]['display_name']} ({better})",
            lower_is_better=bool(mine[0]["lower_is_better"]),
            title=f"{mine[0]['display_name']} vs cost, n = {mine[0]['n']}",
            path_stem=out / f"quality_vs_cost_{metric}",
        )
    return written


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
    p.add_argument(
        "--guidance-intervals", default="full",
        help="semicolon-separated guidance intervals crossed with every configuration: 'full' "
        "(every step) or LO,HI noise levels sigma where guidance acts (bench.sweep "
        "--guidance-interval), e.g. 'full;0.3,3' (default: %(default)s)",
    )  # fmt: skip
    p.add_argument(
        "--upsample-configs", default=None,
        help="comma-separated upsampler SAMPLER:STEPS; given, every row is a 256x256 sweep "
        "through the upsampler with each (the first is the baseline of the upsampler figures), "
        "e.g. ddim:fast27,dpm++2m:10 (default: 64x64 rows)",
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

    configs = parse_configs(
        args.configs, args.dtypes, args.guidance_intervals, args.upsample_configs
    )
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
    goals = goal_lines(rows)
    if goals:
        table += "\n\n" + "\n".join(f"- {line}" for line in goals)
    args.out.mkdir(parents=True, exist_ok=True)
    plot_rows(rows, args.out)
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
