"""``python -m bench.perf.guidance_interval``: seconds per image with guidance over the full range
against guidance inside a noise-level interval, timed in alternating rounds in one process.

Both settings sample the same captions and seeds on the same pipeline; each round times one
batch of each, one after the other, so that whatever else the machine does slows both alike, and
the figure printed is the median of the per-round ratios. A benchmark: prints, asserts nothing.
Quality at equal settings is measured by ``bench.sampler_quality --guidance-intervals``.
"""

from __future__ import annotations

import argparse
import sys

from bench.perf.paired import (
    add_pipeline_options,
    check_pipeline_options,
    time_paired,
    timing_pipeline,
)
from glide.guidance import GuidanceInterval


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.perf.guidance_interval", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--interval", default="0.3,3", help="LO,HI in sigma (default %(default)s)")
    add_pipeline_options(parser, rounds=5)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from glide.errors import GlideError

    try:
        interval = GuidanceInterval.parse(args.interval, "--interval")
        check_pipeline_options(args)
    except (GlideError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    pipe, captions, seeds = timing_pipeline(args)
    settings = dict(steps=args.steps, sampler=args.sampler, scale=args.scale)
    pipe.generate(captions[:2], seeds[:2], **settings)  # warm-up, untimed
    timing = time_paired(
        lambda: pipe.generate(captions, seeds, **settings),
        lambda: pipe.generate(captions, seeds, guidance_interval=interval, **settings),
        images=args.batch,
        rounds=args.rounds,
        report=lambda r, a, b: print(
            f"round {r}: full {a:.3f} s/image, interval {b:.3f} s/image, ratio {a / b:.2f}"
        ),
    )
    print(
        f"{args.sampler} {args.steps} steps, CFG {args.scale:g}, interval sigma in "
        f"[{args.interval}], batch {args.batch}, {args.threads} threads, {args.device}: "
        + timing.summary("full", "interval")
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
