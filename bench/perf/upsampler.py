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

from bench.perf.paired import time_paired


def _sampler_steps(text: str, option: str) -> tuple[str, str]:
    from bench.errors import BenchError
    from bench.spec import SAMPLERS, check_steps

    sampler, sep, steps = text.partition(":")
    if not sep or sampler not in SAMPLERS:
        raise BenchError(
            f"{option}: {text!r} is not SAMPLER:STEPS with SAMPLER in {', '.join(SAMPLERS)}, "
            "e.g. ddim:quad13"
        )
    return sampler, check_steps(steps, option)


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
    parser.add_argument(
        "--sampler", default="dpm++2m-sde", help="base sampler (default %(default)s)"
    )
    parser.add_argument("--steps", default="15", help="base respacing (default %(default)s)")
    parser.add_argument("--scale", type=float, default=3.0, help="CFG scale (default 3)")
    parser.add_argument("--batch", type=int, default=8, help="images per timed batch (default 8)")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds (default 3)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--checkpoints", default=None, help="default: the embedded model")
    parser.add_argument("--device", default="cpu")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    import torch

    from bench.errors import BenchError
    from bench.spec import step_count
    from glide.devices import check_device
    from glide.errors import GlideError
    from glide.pipeline import Text2ImPipeline

    try:
        baseline = _sampler_steps(args.baseline, "--baseline")
        candidate = _sampler_steps(args.candidate, "--candidate")
        if args.batch < 1 or args.rounds < 1:
            raise GlideError("--batch and --rounds: give positive counts")
        check_device(args.device)
    except (BenchError, GlideError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    pipe = Text2ImPipeline.from_checkpoints(
        checkpoints_dir=args.checkpoints, device=args.device, upsample=True, progress=False
    )
    captions = [f"a red cube and a blue sphere, number {i}" for i in range(args.batch)]
    seeds = list(range(args.batch))
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
