"""Speed of one GLIDE denoising step on this machine: the float32 baseline next to the fast path.

    python -m bench.perf                     # base at CFG batch 2 and 8, upsampler at batch 1:
                                             #   fp32-ref, fp32, bf16, fast (about 10 minutes)
    python -m bench.perf --models base --batches 2   # one sample's CFG step only
    python -m bench.perf --variants fp32-ref,fp32,bf16,bf16-autocast,fp32-sdpa,fast
    python -m bench.perf --quick             # base batch 2, fp32-ref vs fast, one round

A step is what the sampler does per timestep (``glide.sampling.p_sample_step``): the network
forward plus the posterior math. The base model runs classifier-free guidance, so "batch 2" is
one sample (its conditional and unconditional rows) and "batch 8" four. The upsampler runs
unguided (256x256, 64x64 low-res input). Weights are random (same architecture and FLOPs as the
released checkpoints).

Variants (``--variants``; the first is the baseline of the speedup column):

- ``fp32-ref``: the float32 baseline, as the reference implementation runs: the caption goes
  through the text transformer at EVERY step, attention as two matmuls and a float32 softmax,
  NCHW tensors.
- ``fp32``: float32 with the caption encoded once per sample (this project's pipeline).
- ``fp32-sdpa``: ``fp32`` with PyTorch's fused attention kernel.
- ``bf16``: ``fp32`` with bfloat16 weights and activations, nothing else changed.
- ``bf16-autocast``: float32 weights under ``torch.autocast(dtype=bfloat16)``.
- ``fast``: ``glide.fast.default_fast_path(device)``: on this CPU bfloat16, caption encoded once,
  float32-accumulating norms/softmax without extra copies, channels-last; fp16/bf16 with SDPA on
  CUDA. ``fast-compile``: the same under ``torch.compile`` (minutes of compilation first).

Timing: all variants' models are built first, then timed in interleaved rounds (one step of each
variant per round), so a machine shared with other jobs slows them alike; the table shows the
median per variant and the speedup, and the median of the per-round ratios ("paired"). FLOPs
are counted with ``torch.utils.flop_counter.FlopCounterMode`` (2 per multiply-add; convolutions,
matmuls, linear layers) on the eager model, so "GFLOP/s" is the achieved rate. Peak memory: on
the CPU, each variant runs one step in a fresh process whose peak resident set (VmHWM, reset
after the model is built) is reported, with the weights' share; on CUDA, the peak allocated
memory of the step. The matmul peak of each dtype gives a practical ceiling. The reference
implementation's own timings (glide-text2im, float32, 2 threads, on this CPU while it was
otherwise idle) are shown for comparison.

This is a benchmark, not a test: it prints numbers and asserts nothing about them.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from bench.errors import BenchError
from bench.perf.memory import memory_in_fresh_process, probe_memory_cuda
from bench.perf.step import (  # noqa: F401  (re-exported: the public pieces of the benchmark)
    DTYPES,
    VARIANT_NAMES,
    Variant,
    _sync,
    _tiny,
    count_flops,
    make_step,
    make_variant,
    matmul_peak,
    prepare,
    time_step,
)

# glide_reference/README.md "Performance": median seconds per forward, float32, 2 threads
REFERENCE_SECONDS = {("base", 2): 2.87, ("base", 8): 11.24, ("upsample", 1): 7.55}
REFERENCE_GFLOP = {("base", 2): 476.6, ("base", 8): 1906.3, ("upsample", 1): 1281.1}
DEFAULT_VARIANTS = "fp32-ref,fp32,bf16,fast"


@dataclass(frozen=True)
class Result:
    workload: str
    model: str
    batch: int
    variant: str
    settings: dict[str, Any]
    seconds: list[float]
    median_s: float
    gflop: float
    gflops_per_s: float
    flops_by_op: dict[str, float]
    speedup: float | None = None  # baseline median / this median
    paired_speedup: float | None = None  # median over rounds of baseline time / this time
    memory: dict[str, Any] = field(default_factory=dict)
    reference_s: float | None = None


# ----- one workload ---------------------------------------------------------------------------


def run_workload(
    name: str,
    spec: Any,
    batch: int,
    variants: Sequence[Variant],
    device: str,
    repeats: int,
    warmup: int,
    *,
    memory: bool = True,
    threads: int | None = None,
    official: bool = False,
) -> list[Result]:
    """Time one step of model ``name`` ("base"/"upsample"; ``spec`` = preset or UNetConfig) for
    each variant, in interleaved rounds; the first variant is the speedup baseline."""
    from tqdm.auto import tqdm

    workload = f"{name} {'CFG ' if name == 'base' else ''}batch {batch}"
    prepared = []
    for v in tqdm(variants, desc=f"{workload}: build", leave=False, file=sys.stderr):
        step, flops, by_op, model = prepare(spec, v, batch, device)
        mem: dict[str, Any] = {}
        if memory and device.startswith("cuda"):
            mem = probe_memory_cuda(step, model)
        if not device.startswith("cuda"):
            del model  # the memory probe (fresh process) does not need it here
        prepared.append((v, step, flops, by_op, mem))
    times: dict[str, list[float]] = {v.name: [] for v in variants}
    rounds = tqdm(range(warmup + repeats), desc=f"{workload}: rounds", leave=False,
                  file=sys.stderr)  # fmt: skip
    for r in rounds:
        for v, step, *_ in prepared:
            _sync(device)
            start = time.perf_counter()
            step()
            _sync(device)
            if r >= warmup:
                times[v.name].append(time.perf_counter() - start)
    base_times = times[variants[0].name]
    base_median = statistics.median(base_times)
    results = []
    for v, _, flops, by_op, mem in prepared:
        if memory and not device.startswith("cuda"):
            mem = memory_in_fresh_process(spec, v, batch, threads or torch.get_num_threads())
        median = statistics.median(times[v.name])
        paired = [b / t for b, t in zip(base_times, times[v.name], strict=True)]
        ref = REFERENCE_SECONDS.get((name, batch)) if official else None
        results.append(
            Result(
                workload=workload,
                model=name,
                batch=batch,
                variant=v.name,
                settings=v.describe(),
                seconds=times[v.name],
                median_s=median,
                gflop=flops / 1e9,
                gflops_per_s=flops / 1e9 / median,
                flops_by_op={k: f / 1e9 for k, f in by_op.items()},
                speedup=base_median / median,
                paired_speedup=statistics.median(paired),
                memory=mem,
                reference_s=ref,
            )  # fmt: skip
        )
    return results


def format_table(results: Sequence[Result], peaks: dict[str, float]) -> str:
    header = (
        f"{'variant':<14}{'dtype':<8}{'text':<11}{'attn':<6}{'layout':<7}{'compile':<8}"
        f"{'s/step':>8}{'GFLOP':>8}{'GFLOP/s':>9}{'%peak':>7}{'speedup':>9}{'paired':>8}"
        f"{'peak MiB':>10}{'weights':>9}"
    )
    lines: list[str] = []
    workloads = list(dict.fromkeys(r.workload for r in results))
    for workload in workloads:
        rows = [r for r in results if r.workload == workload]
        lines += ["", f"{workload}  (speedup vs {rows[0].variant})", header, "-" * len(header)]
        for r in rows:
            st = r.settings
            short = {"float32": "fp32", "bfloat16": "bf16", "float16": "fp16"}
            dtype = short[st["dtype"]] if not st["autocast"] else f"{short[st['autocast']]} ac"
            peak = peaks.get(st["autocast"] or st["dtype"])
            mem = r.memory or {}
            lines.append(
                f"{r.variant:<14}{dtype:<8}{st['text']:<11}{st['attention']:<6}"
                f"{'NHWC' if st['channels_last'] else 'NCHW':<7}"
                f"{'yes' if st['compile'] else 'no':<8}{r.median_s:>8.3f}{r.gflop:>8.1f}"
                f"{r.gflops_per_s:>9.1f}"
                f"{(f'{100 * r.gflops_per_s / peak:.0f}%' if peak else '-'):>7}"
                f"{r.speedup:>8.2f}x{r.paired_speedup:>7.2f}x"
                f"{_fmt_mib(mem.get('peak_mib')):>10}{_fmt_mib(mem.get('weights_mib')):>9}"
            )
        ref = next((r.reference_s for r in rows if r.reference_s), None)
        if ref:
            key = (rows[0].model, rows[0].batch)
            fastest = min(rows, key=lambda r: r.median_s)
            lines.append(
                f"reference implementation (glide-text2im, float32, 2 threads, on this CPU while "
                f"it was idle): {ref:.2f} s/step, {REFERENCE_GFLOP[key]:.1f} GFLOP; "
                f"{fastest.variant} here: {ref / fastest.median_s:.2f}x its throughput (a fair "
                "comparison only if nothing else ran here either; the speedup columns are)"
            )
    lines.append("")
    lines.append("matmul peak GFLOP/s: " + ", ".join(f"{k} {v:.1f}" for k, v in peaks.items()))
    mem_note = next((r.memory.get("method") for r in results if r.memory), None)
    if mem_note:
        lines.append(f"peak MiB: {mem_note}")
    return "\n".join(lines)


def _fmt_mib(value: Any) -> str:
    return "-" if value is None else f"{value:.0f}"


# ----- command line ---------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.perf",
        description="Seconds per GLIDE denoising step (full-size models, random weights) for "
        "the float32 baseline and the fast path side by side, timed in interleaved rounds, "
        "with FLOP counts, achieved GFLOP/s, speedups and peak memory. A benchmark: prints, "
        "asserts nothing.",
    )
    parser.add_argument(
        "--quick", action="store_true",
        help="short run: 1 round (no warm-up round), base batch 2, variants fp32-ref and fast, "
        "no memory probe",
    )  # fmt: skip
    parser.add_argument(
        "--models", default="base,upsample",
        help="comma-separated presets to time: base, upsample (default: %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--batches", default="2,8",
        help="base-model batch sizes in rows, CFG pairs, e.g. 2,8; with --models upsample alone "
        "the upsampler's batch sizes, any positive integer (default: %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--upsample-batch", type=int, default=1, help="upsampler batch size (default: %(default)s)"
    )
    parser.add_argument(
        "--variants", default=DEFAULT_VARIANTS,
        help=f"comma-separated, from {', '.join(VARIANT_NAMES)}; the first is the baseline of "
        "the speedup columns (default: %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--repeats", type=int, default=3,
        help="timed rounds (one step of every variant each); medians are shown "
        "(default: %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--warmup", type=int, default=1,
        help="untimed rounds first, after the FLOP-counting step (default: %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--threads", type=int, default=2,
        help="torch intra-op threads; 0 = PyTorch's choice (default: %(default)s, as the "
        "reference timings)",
    )  # fmt: skip
    parser.add_argument(
        "--no-memory", action="store_true",
        help="skip the peak-memory probe (on the CPU one fresh process per variant)",
    )  # fmt: skip
    parser.add_argument("--device", default="cpu", help="torch device (default: %(default)s)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument("--tiny", action="store_true", help=argparse.SUPPRESS)  # smoke tests
    return parser


def _parse_list(name: str, text: str, allowed: Sequence[str] | None = None) -> list[str]:
    items = [p.strip() for p in text.split(",") if p.strip()]
    bad = [p for p in items if allowed is not None and p not in allowed]
    if not items or bad or len(set(items)) != len(items):
        choices = f"choose from {', '.join(allowed)}" if allowed else "give a comma-separated list"
        raise BenchError(f"{name}={text!r} is invalid; {choices} (each once)")
    return items


def run(args: argparse.Namespace) -> int:
    if args.threads < 0:
        raise BenchError(f"--threads={args.threads}: give a positive count, or 0 for the default")
    if args.threads:
        torch.set_num_threads(args.threads)
    models = _parse_list("--models", args.models, ["base", "upsample"])
    batches = _parse_list("--batches", args.batches)
    if not all(b.isdigit() and int(b) >= 1 for b in batches):
        raise BenchError(f"--batches={args.batches!r}: use positive integers, e.g. 2,8")
    if "base" in models and any(int(b) < 2 or int(b) % 2 for b in batches):
        raise BenchError(
            f"--batches={args.batches!r}: the base model runs classifier-free guidance, so its "
            "batches are even integers >= 2 (CFG pairs), e.g. 2,8; the upsampler runs unguided "
            "(--models upsample --batches 1, or --upsample-batch)"
        )
    batch_list = [2] if args.quick else [int(b) for b in batches]
    # --models upsample alone: --batches are the upsampler's (it runs unguided: any size)
    upsample_batches = (
        [int(b) for b in batches]
        if "base" not in models and not args.quick
        else [args.upsample_batch]
    )
    names = ["fp32-ref", "fast"] if args.quick else _parse_list(
        "--variants", args.variants, VARIANT_NAMES)  # fmt: skip
    variants = [make_variant(n, args.device) for n in names]
    repeats, warmup = (1, 0) if args.quick else (args.repeats, args.warmup)
    if repeats < 1 or warmup < 0:
        raise BenchError("--repeats must be >= 1 and --warmup >= 0")
    if args.upsample_batch < 1:
        raise BenchError(f"--upsample-batch={args.upsample_batch}: give a positive count")
    presets: dict[str, Any] = {"base": "base", "upsample": "upsample"}
    if args.tiny:  # a small stand-in for the smoke test of this code path
        presets = {"base": _tiny("base"), "upsample": _tiny("upsample")}
    print(
        f"torch {torch.__version__}, device {args.device}, threads {torch.get_num_threads()}, "
        f"{repeats} timed round(s) after {warmup} warm-up round(s)",
        flush=True,
    )
    results: list[Result] = []
    for model in models:
        for batch in batch_list if model == "base" else upsample_batches:
            results += run_workload(
                model, presets[model], batch, variants, args.device, repeats, warmup,
                memory=not (args.no_memory or args.quick), threads=torch.get_num_threads(),
                official=not args.tiny,
            )  # fmt: skip
            for r in results[-len(variants) :]:
                print(f"  {r.workload} {r.variant}: {r.median_s:.3f} s/step", file=sys.stderr)
    dtypes = sorted({v.autocast or v.fast.dtype for v in variants}, key=list(DTYPES).index)
    size = 512 if args.tiny else 2048
    peaks = {dt: matmul_peak(DTYPES[dt], args.device, size) for dt in dtypes}
    print(format_table(results, peaks), flush=True)
    if args.json:
        from glide.io import atomic_write_text

        payload = {"torch": torch.__version__, "threads": torch.get_num_threads(),
                   "device": args.device, "matmul_peak_gflops": peaks,
                   "results": [asdict(r) for r in results]}  # fmt: skip
        atomic_write_text(args.json, json.dumps(payload, indent=2) + "\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    try:
        return run(args)
    except BenchError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
