"""``python -m bench.perf.upsampler``: seconds per 256x256 image with the paper's upsampler
schedule (DDIM over fast27) against a few-step one, timed in alternating rounds in one process.

Both settings sample the same captions and seeds with the same base-model settings (so the base
stage costs both alike and the ratio is that of the whole 64->256 pipeline); each round times
one batch of each (:mod:`bench.perf.paired`) and the figure printed is the median of the
per-round ratios. A benchmark: prints, asserts nothing. Quality at equal settings is measured
by ``bench.sampler_quality --upsample-configs``.
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.perf.upsampler", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--baseline", default="ddim:fast27", help="upsampler SAMPLER:STEPS (default %(default)s)"
    )
    parser.add_argument(
        "--candidate", default="ddim:quad13", help="upsampler SAMPLER:STEPS (default %(default)s)"
    )
    add_pipeline_options(parser, rounds=3)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from bench.errors import BenchError
    from bench.spec import parse_sampler_steps, step_count
    from glide.errors import GlideError

    try:
        baseline = parse_sampler_steps(args.baseline, "--baseline", "ddim:quad13")
        candidate = parse_sampler_steps(args.candidate, "--candidate", "ddim:quad13")
        check_pipeline_options(args)
    except (BenchError, GlideError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    pipe, captions, seeds = timing_pipeline(args, upsample=True)
    base = dict(steps=args.steps, sampler=args.sampler, scale=args.scale, upsample=True)

    def run(upsampler: tuple[str, str]):
        return lambda: pipe.generate(
            captions, seeds, upsample_sampler=upsampler[0], upsample_steps=upsampler[1], **base
        )

    run(candidate)()  # warm-up, untimed (one batch)
    timing = time_paired(
        run(baseline),
        run(candidate),
        images=args.batch,
        rounds=args.rounds,
        report=lambda r, a, b: print(
            f"round {r}: {args.baseline} {a:.3f} s/image, {args.candidate} {b:.3f} s/image, "
            f"ratio {a / b:.2f}"
        ),
    )
    evals = [step_count(s) for _, s in (baseline, candidate)]
    print(
        f"64->256 pipeline (base {args.sampler} {args.steps}, CFG {args.scale:g}), upsampler "
        f"{args.baseline} ({evals[0]} evaluations) vs {args.candidate} ({evals[1]}; "
        f"{evals[0] / evals[1]:.2f}x fewer), batch {args.batch}, {args.threads} threads, "
        f"{args.device}: " + timing.summary(args.baseline, args.candidate)
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
