"""Speed of one GLIDE denoising step on this machine, next to its FLOP count.

    python -m bench.perf            # full-size base (batch 2 and 8) and upsampler, fp32 + bf16
    python -m bench.perf --quick    # one repeat, base batch 2 and upsampler, float32 only

A step is what the sampler does per timestep (``glide.sampling.p_sample_step``): the network
forward plus the posterior math. The base model runs classifier-free guidance, so "batch 2" is
one sample (its conditional and unconditional rows) and "batch 8" four; the caption encodings
are computed once per sample beforehand (the pipeline does the same), so they are not in the
step. The upsampler runs unguided at batch 1 (256x256, 64x64 low-res input). Weights are random
(same architecture and FLOPs as the released checkpoints).

FLOPs are counted with ``torch.utils.flop_counter.FlopCounterMode`` (2 per multiply-add;
convolutions, matmuls and linear layers), so "GFLOP/s" is the achieved rate. The
"matmul peak" row measures a large square matmul in each dtype: a practical ceiling for this
machine. The reference implementation's CPU timings (glide-text2im, 2 threads, float32; it
re-encodes the caption at every step) are shown for comparison.

This is a benchmark, not a test: it prints numbers and asserts nothing about them.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from bench.errors import BenchError

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
# glide_reference/README.md "Performance": median seconds per forward, float32, 2 threads
REFERENCE_SECONDS = {("base", 2): 2.87, ("base", 8): 11.24, ("upsample", 1): 7.55}
REFERENCE_GFLOP = {("base", 2): 476.6, ("base", 8): 1906.3, ("upsample", 1): 1281.1}


@dataclass(frozen=True)
class Result:
    workload: str
    model: str
    batch: int
    dtype: str
    seconds: list[float]
    median_s: float
    gflop: float
    gflops_per_s: float
    flops_by_op: dict[str, float]
    reference_s: float | None


def build(spec: Any, dtype: torch.dtype, device: str) -> torch.nn.Module:
    from glide.text2im import build_model

    return build_model(spec, device=device, dtype=dtype)


def make_step(model: torch.nn.Module, batch: int, device: str) -> Callable[[], torch.Tensor]:
    """One sampler step of ``model`` for ``batch`` network rows (CFG pairs for a base model)."""
    from glide.diffusion import create_diffusion
    from glide.guidance import classifier_free
    from glide.sampling import p_sample_step
    from glide.tokenizer import get_glide_tokenizer

    cfg = model.config
    g = torch.Generator().manual_seed(0)
    guided = not cfg.super_res
    n = batch // 2 if guided else batch
    captions = ["an oil painting of a corgi"] * n + ([""] if guided else [])
    tokens, mask = get_glide_tokenizer().encode_batch(captions, cfg.text_ctx)
    with torch.no_grad():
        enc = model.encode_text(tokens.to(device), mask.to(device))
    size = cfg.image_size
    x = torch.randn(n, 3, size, size, generator=g).to(device)
    z = torch.randn(n, 3, size, size, generator=g).to(device)
    cond: dict[str, Any] = {"text": enc[:n]}
    denoiser = model
    if guided:
        denoiser = classifier_free(model, 3.0)
        cond["uncond"] = {"text": enc[[n] * n]}
    else:
        cond["low_res"] = torch.rand(n, 3, 64, 64, generator=g).to(device) * 2 - 1
    d = create_diffusion(cfg.diffusion_steps, cfg.noise_schedule, "100")

    def step() -> torch.Tensor:
        with torch.no_grad():
            return p_sample_step(denoiser, d, x, 50, z, cond=cond)["sample"]

    return step


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def count_flops(step: Callable[[], Any]) -> tuple[float, dict[str, float]]:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        step()
    by_op = {str(op).removeprefix("aten."): float(v) for op, v in counter.get_flop_counts()[
        "Global"].items()}  # fmt: skip
    return float(counter.get_total_flops()), by_op


def time_step(step: Callable[[], Any], repeats: int, warmup: int, device: str) -> list[float]:
    for _ in range(warmup):
        step()
    _sync(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        _sync(device)
        times.append(time.perf_counter() - start)
    return times


def matmul_peak(dtype: torch.dtype, device: str, size: int = 2048, repeats: int = 3) -> float:
    """Achieved GFLOP/s of a size x size matmul (best of ``repeats``)."""
    a = torch.randn(size, size, device=device).to(dtype)
    b = torch.randn(size, size, device=device).to(dtype)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        a @ b
        _sync(device)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def run_workload(
    name: str, spec: Any, batch: int, dtype_name: str, device: str, repeats: int, warmup: int
) -> Result:
    """Time one step of model ``name`` ("base"/"upsample"; ``spec`` = preset or UNetConfig)."""
    model = build(spec, DTYPES[dtype_name], device)
    step = make_step(model, batch, device)
    flops, by_op = count_flops(step)  # also the first warm-up
    times = time_step(step, repeats, max(0, warmup - 1), device)
    median = statistics.median(times)
    official = isinstance(spec, str) and dtype_name == "float32"  # the reference's workloads
    ref = REFERENCE_SECONDS.get((name, batch)) if official else None
    return Result(
        workload=f"{name} {'CFG ' if name == 'base' else ''}batch {batch}",
        model=name, batch=batch, dtype=dtype_name, seconds=times, median_s=median,
        gflop=flops / 1e9, gflops_per_s=flops / 1e9 / median,
        flops_by_op={k: v / 1e9 for k, v in by_op.items()}, reference_s=ref,
    )  # fmt: skip


def format_table(results: Sequence[Result], peaks: dict[str, float]) -> str:
    header = (
        f"{'workload':<22}{'dtype':<10}{'s/step':>9}{'GFLOP':>9}{'GFLOP/s':>10}"
        f"{'% peak':>8}{'ref s':>8}{'ref GFLOP':>11}"
    )
    lines = [header, "-" * len(header)]
    for r in results:
        peak = peaks.get(r.dtype)
        ref_flop = REFERENCE_GFLOP.get((r.model, r.batch))
        lines.append(
            f"{r.workload:<22}{r.dtype:<10}{r.median_s:>9.3f}{r.gflop:>9.1f}"
            f"{r.gflops_per_s:>10.1f}{(100 * r.gflops_per_s / peak if peak else 0):>7.0f}%"
            f"{(f'{r.reference_s:.2f}' if r.reference_s else '-'):>8}"
            f"{(f'{ref_flop:.1f}' if ref_flop and r.reference_s else '-'):>11}"
        )
    for name, value in peaks.items():
        lines.append(f"{'matmul peak':<22}{name:<10}{'':>9}{'':>9}{value:>10.1f}")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.perf",
        description="Seconds per GLIDE denoising step (full-size base and upsampler, random "
        "weights) with FLOP counts and achieved GFLOP/s. A benchmark: prints, asserts nothing.",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="short run: 1 repeat, base batch 2 + upsampler, float32 only",
    )
    parser.add_argument(
        "--models",
        default="base,upsample",
        help="comma-separated presets to time (default: %(default)s)",
    )
    parser.add_argument(
        "--batches",
        default="2,8",
        help="base-model batch sizes in rows, CFG pairs (default: %(default)s)",
    )
    parser.add_argument(
        "--upsample-batch", type=int, default=1, help="upsampler batch size (default: %(default)s)"
    )
    parser.add_argument(
        "--dtypes",
        default="float32,bfloat16",
        help=f"comma-separated, from {', '.join(DTYPES)} (default: %(default)s)",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="timed steps per workload; the median is shown (default: %(default)s)",
    )
    parser.add_argument(
        "--warmup",
        type=int,
        default=1,
        help="untimed steps first (the FLOP-counting one included) (default: %(default)s)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch intra-op threads (default: PyTorch's choice)",
    )
    parser.add_argument("--device", default="cpu", help="torch device (default: %(default)s)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument("--tiny", action="store_true", help=argparse.SUPPRESS)  # smoke tests
    return parser


def _parse_list(name: str, text: str, allowed: Sequence[str] | None = None) -> list[str]:
    items = [p.strip() for p in text.split(",") if p.strip()]
    bad = [p for p in items if allowed is not None and p not in allowed]
    if not items or bad:
        choices = f"choose from {', '.join(allowed)}" if allowed else "give a comma-separated list"
        raise BenchError(f"{name}={text!r} is invalid; {choices}")
    return items


def run(args: argparse.Namespace) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    models = ["base", "upsample"] if args.quick else _parse_list(
        "--models", args.models, ["base", "upsample"])  # fmt: skip
    dtypes = ["float32"] if args.quick else _parse_list("--dtypes", args.dtypes, list(DTYPES))
    batches = [2] if args.quick else _parse_list("--batches", args.batches)
    if not all(b.isdigit() for b in batches) or any(int(b) < 2 or int(b) % 2 for b in batches):
        raise BenchError(
            f"--batches={args.batches!r}: use even integers >= 2 (CFG pairs), e.g. 2,8"
        )
    batches = [int(b) for b in batches]
    repeats = 1 if args.quick else args.repeats
    if repeats < 1 or args.warmup < 1:
        raise BenchError("--repeats and --warmup must be >= 1")
    presets = {"base": "base", "upsample": "upsample"}
    if args.tiny:  # a small stand-in for the smoke test of this code path
        presets = {"base": _tiny("base"), "upsample": _tiny("upsample")}
    print(
        f"torch {torch.__version__}, device {args.device}, threads {torch.get_num_threads()}",
        flush=True,
    )
    results: list[Result] = []
    for model in models:
        for batch in batches if model == "base" else [args.upsample_batch]:
            for dtype in dtypes:
                r = run_workload(
                    model, presets[model], batch, dtype, args.device, repeats, args.warmup
                )
                results.append(r)
                print(f"  {r.workload} {dtype}: {r.median_s:.3f} s/step", file=sys.stderr)
    peaks = {dt: matmul_peak(DTYPES[dt], args.device, 512 if args.tiny else 2048) for dt in dtypes}
    print(format_table(results, peaks), flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        payload = {"torch": torch.__version__, "threads": torch.get_num_threads(),
                   "device": args.device, "matmul_peak_gflops": peaks,
                   "results": [asdict(r) for r in results]}  # fmt: skip
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
    return 0


def _tiny(kind: str):
    from glide.config import UNetConfig

    options = dict(
        image_size=16, num_channels=32, num_res_blocks=1, channel_mult="1,2",
        attention_resolutions="8", num_head_channels=32, text_ctx=8, xf_width=8, xf_layers=1,
        xf_heads=1, dropout=0.0,
    )  # fmt: skip
    if kind == "upsample":
        options.update(super_res=True, noise_schedule="linear")
    return UNetConfig.from_options(options)


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
