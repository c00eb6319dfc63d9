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

from bench.perf.paired import time_paired
from glide.guidance import GuidanceInterval


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.perf.guidance_interval", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--interval", default="0.3,3", help="LO,HI in sigma (default %(default)s)")
    parser.add_argument("--sampler", default="dpm++2m-sde", help="(default %(default)s)")
    parser.add_argument("--steps", default="15", help="respacing (default %(default)s)")
    parser.add_argument("--scale", type=float, default=3.0, help="CFG scale (default 3)")
    parser.add_argument("--batch", type=int, default=8, help="images per timed batch (default 8)")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds (default 5)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--checkpoints", default=None, help="default: the embedded model")
    parser.add_argument("--device", default="cpu")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    import torch

    from glide.devices import check_device
    from glide.errors import GlideError
    from glide.pipeline import Text2ImPipeline

    try:
        interval = GuidanceInterval.parse(args.interval, "--interval")
        if args.batch < 1 or args.rounds < 1:
            raise GlideError("--batch and --rounds: give positive counts")
        check_device(args.device)
    except (GlideError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    pipe = Text2ImPipeline.from_checkpoints(
        checkpoints_dir=args.checkpoints, device=args.device, progress=False
    )
    captions = [f"a red cube and a blue sphere, number {i}" for i in range(args.batch)]
    seeds = list(range(args.batch))
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
