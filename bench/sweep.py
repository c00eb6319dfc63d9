"""``python -m bench.sweep``: guidance-scale sweeps, metrics, tables and Pareto plots.

Flow (data moves one way): captions -> per-(method, scale) run folders of PNGs + manifests ->
metrics.json per run -> results.csv / results.parquet -> plots/ and grids/. Each stage skips
what is already done, so re-running a command continues it and a finished sweep recomputes
nothing. Under ``torchrun`` every process generates its shard of every run; rank 0 then scores,
tabulates and plots. See ``--help`` and the README section "Benchmark sweeps".
"""

from __future__ import annotations

import datetime
import json
import logging
import resource
import shlex
import sys
import time
from pathlib import Path
from typing import Any

from bench.captions import CaptionSet, load_caption_set
from bench.distributed import barrier, device_for, dist_from_env, init_process_group, shutdown
from bench.errors import BenchError
from bench.generate import generate_run
from bench.generators import GeneratorOptions, build_generator, check_generator_name
from bench.grids import make_grids
from bench.images import atomic_write_text
from bench.metrics.context import EvalConfig, Evaluator, default_cache_dir
from bench.metrics.registry import get_metric, metric_names, parse_metrics
from bench.plots import plot_all
from bench.progress import progress_bars, progress_enabled
from bench.results import build_table, write_table
from bench.runfolder import RunFolder
from bench.spec import (
    RunSpec,
    SweepSettings,
    check_steps,
    parse_methods,
    parse_scales,
)
from bench.sweep_options import build_parser, resolve
from bench.synthetic_captions import ensure_synthetic_val
from glide.errors import GlideError
from glide.log import command_logging, verbosity_from_args
from glide.versions import installed_versions, lock_record

log = logging.getLogger(__name__)


def _versions() -> dict[str, str]:
    """Every package the numbers depend on (glide.versions.NUMERIC_PACKAGES), how torchvision's
    operators are provided, the CUDA runtime of torch, and whether this is the locked set."""
    import torch

    from bench._torchvision import torchvision_ops_status

    out = installed_versions()
    out["torch CUDA runtime"] = torch.version.cuda or "none (CPU build)"
    out["torchvision operators"] = torchvision_ops_status()
    out["environment"] = lock_record()
    return out


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat()


def _caption_set(args, values: dict[str, Any], cache_dir: Path) -> CaptionSet:
    if args.coco_captions is not None:
        return load_caption_set(
            args.coco_captions,
            args.coco_images,
            num_samples=values["num_samples"],
            seed=args.seed,
            reference=values["reference"],
            kind="coco",
        )
    if values["num_samples"] > args.synthetic_val_size:
        raise BenchError(
            f"--num-samples: {values['num_samples']} exceeds the synthetic validation set "
            f"({args.synthetic_val_size} captions); raise --synthetic-val-size"
        )
    captions, images = ensure_synthetic_val(
        cache_dir,
        resolution=values["resolution"],
        n_val=args.synthetic_val_size,
        split=args.synthetic_split,
    )
    return load_caption_set(
        captions,
        images,
        num_samples=values["num_samples"],
        seed=args.seed,
        reference=values["reference"],
        kind="synthetic",
    )


def _default_metrics(kind: str) -> tuple[str, ...]:
    return tuple(
        m for m in metric_names() if kind == "synthetic" or get_metric(m).family != "caption_match"
    )


def _read_sweep_json(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise BenchError(f"{path}: not valid JSON ({exc}); fix or delete it") from None


def _check_same_sweep(existing: dict[str, Any] | None, settings: SweepSettings, out: Path) -> None:
    if existing is None or existing.get("settings_key") == settings.key():
        return
    old, new = existing.get("settings", {}), settings.to_json()
    differ = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
    raise BenchError(
        f"--out: {out} holds a sweep with other shared settings (differing: {', '.join(differ)}); "
        "runs of one sweep folder must be comparable; use another --out"
    )


def _sweep_runs(out: Path, key: str) -> list[RunFolder]:
    folders = []
    for spec_path in sorted((out / "runs").glob("*/spec.json")):
        spec = RunSpec.from_json(json.loads(spec_path.read_text(encoding="utf-8")))
        if spec.settings.key() == key:
            folders.append(RunFolder(out, spec))
    return sorted(folders, key=lambda f: (f.spec.method, f.spec.scale))


def _peak_memory_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def run_sweep(argv: list[str]) -> dict[str, Any]:
    """Do the whole sweep for ``argv``; returns a summary (paths, timing) for the caller."""
    args = build_parser().parse_args(argv)
    resolved = resolve(args)
    values = resolved.values
    methods = parse_methods(args.method or ["cfg"])
    scales = parse_scales(args.scales)
    steps = check_steps(values["steps"])
    cache_dir = args.cache_dir or default_cache_dir()
    dist = dist_from_env()
    init_process_group(dist)
    try:
        check_generator_name(args.generator)
        captions = _caption_set(args, values, cache_dir)
        if args.metrics is None:
            metrics = _default_metrics(captions.source["kind"])
        elif args.metrics.strip() == "none":
            metrics = ()
        else:
            metrics = parse_metrics(args.metrics)
        device = device_for(args.device, dist)
        evaluator = None
        if metrics:
            evaluator = Evaluator(
                EvalConfig(
                    metrics=metrics,
                    extractor=values["extractor"],
                    inception_weights=args.inception_weights,
                    clip_model=values["clip_model"],
                    clip_pretrained=args.clip_pretrained,
                    allow_embedded_judges=args.allow_embedded_judges,
                    require_quick_gelu=resolved.paper_parity,
                    device=device,
                    batch_size=max(args.batch_size, 16),
                    cache_dir=cache_dir,
                    fid_splits=args.fid_splits,
                    bootstrap=args.bootstrap,
                    seed=args.seed,
                ),
                reference_paths=captions.reference_paths(),
                resolution=values["resolution"],
                caption_kind=captions.source["kind"],
            )
            # fail now, not after hours of sampling: judges' files checked and (on the scoring
            # process) loaded, every reference image read; the model is not loaded yet
            evaluator.preflight(load=dist.is_main)
        generate, description = build_generator(
            args.generator,
            GeneratorOptions(
                checkpoints_dir=args.checkpoints,
                device=device,
                dtype=args.dtype,
                sampler=values["sampler"],
                steps=steps,
                resolution=values["resolution"],
                methods=methods,
                upsample_steps=args.upsample_steps,
                upsample_temp=args.upsample_temp,
            ),
        )
        settings = SweepSettings(
            generator=args.generator,
            checkpoints=description["identity"],
            captions=captions.spec_record(),
            sampler=values["sampler"],
            steps=steps,
            resolution=values["resolution"],
            seed=args.seed,
            num_samples=values["num_samples"],
            upsample_steps=args.upsample_steps,
            upsample_temp=args.upsample_temp,
            dtype=args.dtype,
        )
        out = args.out or Path("sweeps") / settings.key()
        sweep_path = out / "sweep.json"
        existing = _read_sweep_json(sweep_path)
        _check_same_sweep(existing, settings, out)
        if evaluator is not None:
            evaluator.check_judges_independent_of(description)
        specs = [RunSpec(m, s, settings) for m in methods for s in scales]
        log.info(
            "sweep %s: %d runs (%s), %d images each, %s captions, %d process(es)",
            out,
            len(specs),
            ", ".join(spec.label for spec in specs),
            values["num_samples"],
            captions.source["kind"],
            dist.world_size,
        )

        started = time.perf_counter()
        stats = []
        for spec in specs:
            folder = RunFolder(out, spec)
            stats.append(
                generate_run(
                    folder,
                    captions,
                    generate,
                    batch_size=args.batch_size,
                    dist=dist,
                    progress=not args.no_progress and progress_enabled(),
                )
            )
        gen_seconds = time.perf_counter() - started
        barrier(dist)
        generated = sum(s.generated for s in stats)
        summary: dict[str, Any] = {
            "out": out,
            "generated": generated,
            "generation_seconds": gen_seconds,
            "images_per_second": generated / gen_seconds if generated else None,
            "peak_memory_mib": _peak_memory_mib(),
            "rank": dist.rank,
        }
        if not dist.is_main:
            return summary

        folders = _sweep_runs(out, settings.key())
        for folder in folders:
            folder.compact()
        runs_meta = [
            {
                "run_id": f.spec.run_id,
                "method": f.spec.method,
                "scale": f.spec.scale,
                "label": f.spec.label,
                "num_images": len(f.read_manifest()),
                "complete": f.is_complete(),
            }
            for f in folders
        ]
        sweep = existing or {"created_at": _now(), "invocations": []}
        sweep.update(
            {
                "updated_at": _now(),
                "command": shlex.join(["python", "-m", "bench.sweep", *argv]),
                "argv": list(argv),
                "world_size": dist.world_size,
                "settings_key": settings.key(),
                "settings": settings.to_json(),
                "versions": _versions(),
                "generator": description.get("pipeline"),
                "captions": captions.source,
                "protocol": {
                    "paper_parity": resolved.paper_parity,
                    "deviations_from_paper": resolved.deviations,
                    "per_sample_seed": "sha256('glide-bench/sample/<seed>/<caption index>')",
                    "caption_subset": captions.source["subset"],
                    "reference": captions.source["reference"],
                    "reference_preprocess": captions.source["reference_preprocess"],
                    "judges": None if evaluator is None else evaluator.judges_record(),
                    "device": device,
                    "batch_size": args.batch_size,
                    "batching": "fixed blocks of --batch-size indices; bit-identical output "
                    "for a given batch size whatever the process count or resumption",
                },
                "runs": runs_meta,
            }
        )
        sweep["invocations"].append(
            {
                "at": _now(),
                "argv": list(argv),
                "world_size": dist.world_size,
                "generated": generated,
                "generation_seconds": round(gen_seconds, 3),
                "peak_memory_mib_rank0": round(_peak_memory_mib(), 1),
            }
        )
        atomic_write_text(sweep_path, json.dumps(sweep, indent=2, sort_keys=True) + "\n")

        complete = [f for f in folders if f.is_complete()]
        for f in folders:
            if f not in complete:
                log.warning("run %s is incomplete; not scored", f.spec.label)
        if evaluator is not None and complete:
            log.info("scoring %d runs: %s", len(complete), ", ".join(evaluator.config.metrics))
            scored = [(f.spec, evaluator.evaluate(f)) for f in complete]
            sweep["evaluation"] = evaluator.describe()
            atomic_write_text(sweep_path, json.dumps(sweep, indent=2, sort_keys=True) + "\n")
            table = build_table(scored)
            summary["results"] = write_table(table, out)
            subtitle = (
                f"{captions.source['kind']} captions, n={values['num_samples']}, "
                f"{values['resolution']}px, {steps} {values['sampler']} steps"
            )
            summary["plots"] = plot_all(table, out / "plots", subtitle)
        summary["grids"] = make_grids(complete, out / "grids", rows=args.grid_rows)
        summary["peak_memory_mib"] = _peak_memory_mib()
        return summary
    finally:
        shutdown(dist)


def _report(summary: dict[str, Any]) -> None:
    out = summary["out"]
    rate = summary["images_per_second"]
    rate_text = f"{rate:.3f} images/s" if rate else "nothing new to generate"
    print(f"sweep folder: {out}")
    print(
        f"generated {summary['generated']} images in {summary['generation_seconds']:.1f} s "
        f"({rate_text}); peak memory {summary['peak_memory_mib']:.0f} MiB"
    )
    if "results" in summary:
        csv_path, parquet_path = summary["results"]
        print(f"results table: {csv_path} (and {parquet_path.name})")
        for name, paths in summary.get("plots", {}).items():
            where = ", ".join(str(p) for p in paths) if paths else "not drawn (metrics missing)"
            print(f"plot {name}: {where}")
    for method, path in summary.get("grids", {}).items():
        print(f"sample grid {method}: {path}")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # argparse: --help (0) or a malformed command line (2)
        return int(exc.code or 0)
    # one logging setup (glide.log): under torchrun rank 0 shows info and progress bars, the
    # other ranks warnings and errors with a [rank N] prefix; --quiet / --verbose
    with command_logging(verbosity_from_args(args)):
        try:
            with progress_bars(not args.no_progress and progress_enabled()):
                summary = run_sweep(argv)
        except GlideError as exc:
            log.error("%s", exc)
            return 2
    if summary.get("rank", 0) == 0:
        _report(summary)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
