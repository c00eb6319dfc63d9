"""The one-command demo: the main job on the embedded default, from captions to a report.

``python -m reports.demo`` sweeps classifier-free and CLIP guidance over a few scales on the
captions of the synthetic set's ``test`` split with the embedded small GLIDE models, scores the
samples (FID / IS / KID / precision-recall through torch-fidelity on the embedded extractor,
CLIP score with the embedded evaluation CLIP, the attribute classifier's caption match), draws
the Pareto plots and sample grids (all by ``bench.sweep``), then writes the HTML and PDF reports
(``reports.build``) and prints the report's path. Sized to finish in about 15 minutes on a
2-core CPU; every option of ``bench.sweep`` can be used for the real thing instead.

Data: the captions and the reference ("real") images of FID, KID and precision/recall are the
first 1,000 items of the synthetic ``test`` split (``bench.synthetic_captions``), which no
training, checkpoint choice or tuning of the embedded models ever read: the embedded base was
chosen on ``val`` captions (MODEL_CARD.md), so the demo's figures are not selection-time
figures. The generator never saw the reference images either (it learned from ``train``).

Resumable like the sweep: run the same command again after an interruption and it continues.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

from bench.errors import GlideError
from bench.spec import SAMPLERS, parse_scales
from bench.sweep_config import GenerationOptions, OutputOptions, SweepConfig

__all__ = ["build_parser", "demo_sweep_config", "main"]

DEFAULTS = {
    "scales": "1,2,3,4",
    "num_samples": 48,
    "sampler": "dpm++2m-sde",
    "steps": "15",
    "batch_size": 16,
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m reports.demo",
        description="Run the main job on the embedded default: a classifier-free vs CLIP "
        "guidance sweep (bench.sweep), its metrics, Pareto plots and sample grids, then the "
        "HTML/PDF report (reports.build). Captions and reference images: the synthetic set's "
        "test split, which no training or model selection read. Prints the report's path. "
        "Run it again to resume.",
    )
    parser.add_argument(
        "--out",
        default="demo",
        help="folder for the sweep (DIR/sweep) and the report (DIR/report) (default: demo)",
    )
    parser.add_argument(
        "--scales",
        default=DEFAULTS["scales"],
        help="guidance scales swept for both methods (default: %(default)s)",
    )
    parser.add_argument(
        "--num-samples",
        type=int,
        default=DEFAULTS["num_samples"],
        help="captions (one image each) per method and scale (default: %(default)s)",
    )
    parser.add_argument(
        "--sampler",
        choices=SAMPLERS,
        default=DEFAULTS["sampler"],
        help="base-model sampler, for both methods (default: %(default)s)",
    )
    parser.add_argument(
        "--steps",
        default=DEFAULTS["steps"],
        help="base-model respacing of the sampler (default: %(default)s)",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=DEFAULTS["batch_size"],
        help="images generated together (default: %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=0, help="caption subset and noise seed")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    return parser


def demo_sweep_config(args: argparse.Namespace) -> SweepConfig:
    """The sweep the demo runs: both methods on the default captions (the synthetic test split),
    every metric that applies; its command line is recorded in its sweep.json."""
    return SweepConfig(
        methods=("cfg", "clip"),
        scales=parse_scales(args.scales),
        num_samples=args.num_samples,
        seed=args.seed,
        generation=GenerationOptions(
            sampler=args.sampler, steps=str(args.steps), batch_size=args.batch_size
        ),
        output=OutputOptions(out=Path(args.out) / "sweep", progress=not args.no_progress),
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    from bench import sweep
    from bench.sweep_options import config_to_argv
    from reports import build

    if args.num_samples < 2:
        print(
            f"error: --num-samples {args.num_samples} is too small: FID needs at least 2 "
            "images per run; use e.g. 48",
            file=sys.stderr,
        )
        return 2
    start = time.perf_counter()
    try:
        config = demo_sweep_config(args)
    except GlideError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print("demo: python -m bench.sweep " + shlex.join(config_to_argv(config)), flush=True)
    code = sweep.run_command(config)
    if code != 0:
        return code
    report_dir = Path(args.out) / "report"
    report_argv = ["--sweep", str(Path(args.out) / "sweep"), "--out", str(report_dir)]
    print("demo: python -m reports.build " + " ".join(report_argv), flush=True)
    code = build.main(report_argv)
    if code != 0:
        return code
    minutes = (time.perf_counter() - start) / 60
    print(f"demo finished in {minutes:.1f} min")
    print(f"report: {(report_dir / 'report.html').resolve()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
