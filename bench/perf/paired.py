"""Paired timing: two settings timed in alternating rounds in one process.

Each round times one batch of A, then one batch of B, so that whatever else the machine does
slows both alike; the figure to report is the median of the per-round ratios A/B (a benchmark's
printout, never an assertion).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass


def add_pipeline_options(parser: argparse.ArgumentParser, *, rounds: int) -> None:
    """The options every paired pipeline timing shares: the base model's sampler, steps and
    CFG scale, the batch, the rounds, threads, checkpoints and device."""
    parser.add_argument(
        "--sampler", default="dpm++2m-sde", help="base-model sampler (default %(default)s)"
    )
    parser.add_argument("--steps", default="15", help="base-model respacing (default %(default)s)")
    parser.add_argument("--scale", type=float, default=3.0, help="CFG scale (default 3)")
    parser.add_argument("--batch", type=int, default=8, help="images per timed batch (default 8)")
    parser.add_argument(
        "--rounds", type=int, default=rounds, help="timed rounds (default %(default)s)"
    )
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--checkpoints", default=None, help="default: the embedded model")
    parser.add_argument("--device", default="cpu")


def check_pipeline_options(args: argparse.Namespace) -> None:
    """GlideError for a non-positive --batch/--rounds or a --device this machine lacks."""
    from glide.devices import check_device
    from glide.errors import GlideError

    if args.batch < 1 or args.rounds < 1:
        raise GlideError(f"--batch {args.batch} / --rounds {args.rounds}: give positive counts")
    check_device(args.device)


def timing_pipeline(args: argparse.Namespace, *, upsample: bool = False):
    """The pipeline to time (torch on ``--threads``), and a batch of captions and seeds."""
    import torch

    from glide.pipeline import Text2ImPipeline

    torch.set_num_threads(args.threads)
    pipe = Text2ImPipeline.from_checkpoints(
        checkpoints_dir=args.checkpoints, device=args.device, upsample=upsample, progress=False
    )
    captions = [f"a red cube and a blue sphere, number {i}" for i in range(args.batch)]
    return pipe, captions, list(range(args.batch))


@dataclass(frozen=True)
class PairedTiming:
    """Seconds per image of A and B in each round, and their per-round ratios A/B."""

    a: tuple[float, ...]
    b: tuple[float, ...]

    @property
    def ratios(self) -> tuple[float, ...]:
        return tuple(x / y for x, y in zip(self.a, self.b, strict=True))

    def summary(self, name_a: str, name_b: str) -> str:
        return (
            f"median {name_a} {statistics.median(self.a):.3f} s/image, {name_b} "
            f"{statistics.median(self.b):.3f} s/image, median paired ratio "
            f"{statistics.median(self.ratios):.2f}x ({len(self.a)} rounds)"
        )


def time_paired(
    run_a: Callable[[], object],
    run_b: Callable[[], object],
    *,
    images: int,
    rounds: int,
    report: Callable[[int, float, float], None] | None = None,
) -> PairedTiming:
    """Time ``run_a`` then ``run_b`` (each making ``images`` images) ``rounds`` times;
    ``report(round, a, b)`` is called after each round with its seconds per image."""
    a, b = [], []
    for r in range(rounds):
        start = time.perf_counter()
        run_a()
        a.append((time.perf_counter() - start) / images)
        start = time.perf_counter()
        run_b()
        b.append((time.perf_counter() - start) / images)
        if report is not None:
            report(r, a[-1], b[-1])
    return PairedTiming(tuple(a), tuple(b))
