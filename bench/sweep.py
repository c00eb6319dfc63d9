"""``python -m bench.sweep``: guidance-scale sweeps, metrics, tables and Pareto plots.

Flow (data moves one way): captions -> per-(method, scale) run folders of PNGs + manifests ->
metrics.json per run -> results.csv / results.parquet -> plots/ and grids/. Each stage skips
what is already done, so re-running a command continues it and a finished sweep recomputes
nothing. Under ``torchrun`` every process generates its shard of every run; rank 0 then scores,
tabulates and plots. See ``--help`` and the README section "Benchmark sweeps".

:func:`run_sweep` takes a typed :class:`~bench.sweep_config.SweepConfig` (the command line's
is built by ``bench.sweep_options.config_from_args``) and runs four stages: :func:`plan_sweep`
(captions, judges and generator resolved, checked and loaded before any sampling; the folder's
earlier sweep checked to share the settings), :func:`generate_runs`, :func:`score_runs` and
the outputs: sweep.json written once, atomically (:func:`sweep_record`), then
:func:`write_outputs` (results table, plots, grids).
"""

from __future__ import annotations

import datetime
import json
import logging
import resource
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.captions import CaptionSet, load_caption_set
from bench.cost import read_cost
from bench.cost_plots import COST_AXIS, COST_PLOTS, plot_cost_frontiers
from bench.distributed import (
    DistInfo,
    barrier,
    device_for,
    dist_from_env,
    init_process_group,
    shutdown,
)
from bench.errors import BenchError
from bench.generate import generate_run
from bench.generators import (
    GenerateFn,
    GeneratorOptions,
    build_generator,
    check_generator_name,
    sampling_text,
)
from bench.grids import make_grids
from bench.metrics.context import EvalConfig, Evaluator, default_cache_dir
from bench.metrics.registry import get_metric, metric_names
from bench.plots import PLOTS, plot_all
from bench.progress import progress_bars, progress_enabled
from bench.real_floor import REAL_RUN_ID, FloorPlan, plan_floor, write_floor
from bench.results import build_table, write_table
from bench.runfolder import RunFolder
from bench.spec import RunSpec, SweepSettings
from bench.sweep_config import SweepConfig
from bench.sweep_options import build_parser, config_from_namespace, recorded_argv
from bench.synthetic_captions import ensure_synthetic_val
from glide.errors import GlideError
from glide.io import atomic_write_text
from glide.log import NORMAL, command_logging, verbosity_from_args
from glide.versions import installed_versions, lock_record

log = logging.getLogger(__name__)


# -- stage 1: resolve captions, judges and generator; check the sweep folder ----------------


@dataclass(frozen=True)
class SweepPlan:
    """What a sweep is, resolved before any sampling: its caption set, its evaluator (``None``
    without metrics), its generator, the settings its runs share and its folder."""

    config: SweepConfig
    captions: CaptionSet
    device: str
    evaluator: Evaluator | None
    generate: GenerateFn
    generator_description: dict[str, Any]
    settings: SweepSettings
    out: Path
    previous: dict[str, Any] | None  # the folder's sweep.json from an earlier invocation
    floor: FloorPlan | None = None  # the held-out real images scored as a run (with metrics)

    @property
    def specs(self) -> list[RunSpec]:
        c = self.config
        return [
            RunSpec(m, s, self.settings, guidance_interval=i)
            for m in c.methods
            for s in c.scales
            for i in c.guidance_intervals
        ]


def resolve_captions(config: SweepConfig, cache_dir: Path) -> CaptionSet:
    """The captions and reference images: the COCO files given, or the synthetic split (built
    into the cache once)."""
    c = config.captions
    if c.coco_captions is not None:
        files, kind = (c.coco_captions, c.coco_images), "coco"
    else:
        if config.num_samples > c.synthetic_val_size:
            raise BenchError(
                f"--num-samples: {config.num_samples} exceeds the synthetic validation set "
                f"({c.synthetic_val_size} captions); raise --synthetic-val-size"
            )
        files = ensure_synthetic_val(
            cache_dir,
            resolution=config.generation.resolution,
            n_val=c.synthetic_val_size,
            split=c.synthetic_split,
        )
        kind = "synthetic"
    return load_caption_set(
        *files, num_samples=config.num_samples, seed=config.seed, reference=c.reference, kind=kind
    )


def _default_metrics(kind: str) -> tuple[str, ...]:
    return tuple(
        m for m in metric_names() if kind == "synthetic" or get_metric(m).family != "caption_match"
    )


def build_evaluator(
    config: SweepConfig, captions: CaptionSet, device: str, cache_dir: Path, *, load: bool
) -> Evaluator | None:
    """The evaluator of the configured metrics (``None`` for none), preflighted: the judges'
    files checked and, with ``load`` (the scoring process), loaded and every reference image
    read, so that a missing file fails now, not after hours of sampling."""
    j = config.judges
    kind = captions.source["kind"]
    metrics = _default_metrics(kind) if j.metrics is None else j.metrics
    if not metrics:
        return None
    evaluator = Evaluator(
        EvalConfig(
            metrics=metrics,
            extractor=j.extractor,
            inception_weights=j.inception_weights,
            clip_model=j.clip_model,
            clip_pretrained=j.clip_pretrained,
            allow_embedded_judges=j.allow_embedded_judges,
            require_quick_gelu=config.paper_parity,
            device=device,
            batch_size=max(config.generation.batch_size, 16),
            cache_dir=cache_dir,
            fid_splits=j.fid_splits,
            bootstrap=j.bootstrap,
            seed=config.seed,
        ),
        reference_paths=captions.reference_paths(),
        resolution=config.generation.resolution,
        caption_kind=kind,
    )
    evaluator.preflight(load=load)
    return evaluator


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


def plan_sweep(config: SweepConfig, dist: DistInfo) -> SweepPlan:
    """Stage 1: everything checked and loaded that can fail before sampling."""
    g = config.generation
    cache_dir = config.output.cache_dir or default_cache_dir()
    check_generator_name(g.generator)
    captions = resolve_captions(config, cache_dir)
    device = device_for(g.device, dist)
    evaluator = build_evaluator(config, captions, device, cache_dir, load=dist.is_main)
    generate, description = build_generator(
        g.generator,
        GeneratorOptions(
            checkpoints_dir=g.checkpoints,
            device=device,
            dtype=g.dtype,
            sampler=g.sampler,
            steps=g.steps,
            resolution=g.resolution,
            methods=config.methods,
            upsample_steps=g.upsample_steps,
            upsample_temp=g.upsample_temp,
            upsample_sampler=g.upsample_sampler,
            model=g.model,
            revision=g.revision,
            images=g.images,
            name=g.generator_name,
            pipeline_resolution=g.pipeline_resolution,
            seed=config.seed,
            num_samples=config.num_samples,
            scales=config.scales,
        ),
    )
    settings = SweepSettings(
        generator=g.generator,
        checkpoints=description["identity"],
        captions=captions.spec_record(),
        sampler=g.sampler,
        steps=g.steps,
        resolution=g.resolution,
        seed=config.seed,
        num_samples=config.num_samples,
        upsample_steps=g.upsample_steps,
        upsample_temp=g.upsample_temp,
        dtype=g.dtype,
        upsample_sampler=g.upsample_sampler,
    )
    out = config.output.out or Path("sweeps") / settings.key()
    previous = _read_sweep_json(out / "sweep.json")
    _check_same_sweep(previous, settings, out)
    floor = None
    if evaluator is not None:
        evaluator.check_judges_independent_of(description)
        floor = plan_floor(
            captions,
            num_samples=config.num_samples,
            resolution=g.resolution,
            seed=config.seed,
            synthetic_split=config.captions.synthetic_split,
            synthetic_val_size=config.captions.synthetic_val_size,
        )
    return SweepPlan(
        config, captions, device, evaluator, generate, description, settings, out, previous, floor
    )


# -- stage 2: generate -----------------------------------------------------------------------


@dataclass(frozen=True)
class Generation:
    """What this process generated in this invocation."""

    generated: int
    seconds: float


def generate_runs(plan: SweepPlan, dist: DistInfo) -> Generation:
    """Stage 2: this process's share of every run's missing images."""
    specs = plan.specs
    log.info(
        "sweep %s: %d runs (%s), %d images each, %s captions, %d process(es)",
        plan.out,
        len(specs),
        ", ".join(spec.label for spec in specs),
        plan.config.num_samples,
        plan.captions.source["kind"],
        dist.world_size,
    )
    started = time.perf_counter()
    stats = [
        generate_run(
            RunFolder(plan.out, spec),
            plan.captions,
            plan.generate,
            batch_size=plan.config.generation.batch_size,
            dist=dist,
            progress=plan.config.output.progress and progress_enabled(),
            device=plan.device,
        )
        for spec in specs
    ]
    return Generation(sum(s.generated for s in stats), time.perf_counter() - started)


# -- stage 3: score (rank 0) -----------------------------------------------------------------


def _sweep_runs(out: Path, key: str) -> list[RunFolder]:
    folders = []
    for spec_path in sorted((out / "runs").glob("*/spec.json")):
        if spec_path.parent.name == REAL_RUN_ID:
            continue  # the real-data floor (bench.real_floor), not a generated run
        spec = RunSpec.from_json(json.loads(spec_path.read_text(encoding="utf-8")))
        if spec.settings.key() == key:
            folders.append(RunFolder(out, spec))
    return sorted(
        folders, key=lambda f: (f.spec.method, f.spec.scale, f.spec.guidance_interval or ())
    )


def score_runs(plan: SweepPlan, folders: list[RunFolder]) -> list[tuple[RunSpec, Any]] | None:
    """Stage 3: the metrics of every complete run of the folder (``None`` without metrics or
    complete runs); an incomplete run is reported and left out."""
    complete = [f for f in folders if f.is_complete()]
    for f in folders:
        if f not in complete:
            log.warning("run %s is incomplete; not scored", f.spec.label)
    evaluator = plan.evaluator
    if evaluator is None or not complete:
        return None
    log.info("scoring %d runs: %s", len(complete), ", ".join(evaluator.config.metrics))
    return [(f.spec, evaluator.evaluate(f)) for f in complete]


def real_floor(plan: SweepPlan) -> tuple[FloorPlan | None, RunFolder | None]:
    """Stage 3a: held-out real images with their own captions as the run ``real-images``,
    scored with the others (:mod:`bench.real_floor`); ``(None, None)`` without metrics."""
    if plan.floor is None:
        return None, None
    if plan.floor.spec is None:
        log.warning("real-data floor not measured: %s", plan.floor.why_not)
    return plan.floor, write_floor(plan.floor, plan.out)


# -- stage 4: write sweep.json, the table, plots and grids (rank 0) --------------------------


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


def _peak_memory_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def sweep_record(
    plan: SweepPlan,
    folders: list[RunFolder],
    generation: Generation,
    world_size: int,
    scored: bool,
) -> dict[str, Any]:
    """The content of sweep.json: the earlier invocations' record brought up to date, with
    this invocation appended."""
    config, captions, evaluator = plan.config, plan.captions, plan.evaluator
    argv = recorded_argv(config)
    sweep = dict(plan.previous or {"created_at": _now()})
    sweep.update(
        {
            "updated_at": _now(),
            "command": shlex.join(["python", "-m", "bench.sweep", *argv]),
            "argv": argv,
            "world_size": world_size,
            "settings_key": plan.settings.key(),
            "settings": plan.settings.to_json(),
            "versions": _versions(),
            "generator": plan.generator_description.get("pipeline"),
            "captions": captions.source,
            "protocol": {
                "paper_parity": config.paper_parity,
                "deviations_from_paper": config.deviations_from_paper(),
                "per_sample_seed": "sha256('glide-bench/sample/<seed>/<caption index>')",
                "caption_subset": captions.source["subset"],
                "reference": captions.source["reference"],
                "reference_preprocess": captions.source["reference_preprocess"],
                "judges": None if evaluator is None else evaluator.judges_record(),
                "device": plan.device,
                "batch_size": config.generation.batch_size,
                "batching": "fixed blocks of --batch-size indices; bit-identical output "
                "for a given batch size whatever the process count or resumption",
            },
            "runs": [
                {
                    "run_id": f.spec.run_id,
                    "method": f.spec.method,
                    "scale": f.spec.scale,
                    "label": f.spec.label,
                    "num_images": len(f.read_manifest()),
                    "complete": f.is_complete(),
                }
                for f in folders
            ],
        }
    )
    if scored and evaluator is not None:
        sweep["evaluation"] = evaluator.describe()
    sweep["invocations"] = [
        *sweep.get("invocations", []),
        {
            "at": _now(),
            "argv": argv,
            "world_size": world_size,
            "generated": generation.generated,
            "generation_seconds": round(generation.seconds, 3),
            "peak_memory_mib_rank0": round(_peak_memory_mib(), 1),
        },
    ]
    return sweep


def write_outputs(
    plan: SweepPlan, scored: list[tuple[RunSpec, Any]] | None, folders: list[RunFolder]
) -> dict[str, Any]:
    """Stage 4: results.csv/.parquet and the Pareto plots (when scored), the sample grids."""
    outputs: dict[str, Any] = {}
    if scored is not None:
        costs = {spec.run_id: read_cost(plan.out / "runs" / spec.run_id) for spec, _ in scored}
        table = build_table(scored, costs)
        outputs["results"] = write_table(table, plan.out)
        g = plan.config.generation
        subtitle = (
            f"{plan.captions.source['kind']} captions, n={plan.config.num_samples}, "
            f"{g.resolution}px, "
            + sampling_text({"generator": g.generator, "steps": g.steps, "sampler": g.sampler})
        )
        outputs["plots"] = plot_all(table, plan.out / "plots", subtitle)
        outputs["plots"].update(plot_cost_frontiers(table, plan.out / "plots", subtitle))
    complete = [f for f in folders if f.is_complete()]
    outputs["grids"] = make_grids(complete, plan.out / "grids", rows=plan.config.output.grid_rows)
    return outputs


def run_sweep(config: SweepConfig) -> dict[str, Any]:
    """Do the whole sweep of ``config``: plan, generate (every process its shard), then on
    rank 0 score, write sweep.json (once) and the table, plots and grids. Returns a summary
    (paths, timing) for the caller."""
    dist = dist_from_env()
    init_process_group(dist)
    try:
        plan = plan_sweep(config, dist)
        generation = generate_runs(plan, dist)
        barrier(dist)
        summary: dict[str, Any] = {
            "out": plan.out,
            "generated": generation.generated,
            "generation_seconds": generation.seconds,
            "images_per_second": (
                generation.generated / generation.seconds if generation.generated else None
            ),
            "peak_memory_mib": _peak_memory_mib(),
            "rank": dist.rank,
        }
        if not dist.is_main:
            return summary
        folders = _sweep_runs(plan.out, plan.settings.key())
        for folder in folders:
            folder.compact()
        floor_plan, floor = real_floor(plan)
        scored = score_runs(plan, folders + ([floor] if floor is not None else []))
        record = sweep_record(plan, folders, generation, dist.world_size, scored is not None)
        if floor_plan is not None:
            record["real_floor"] = floor_plan.record()
        atomic_write_text(
            plan.out / "sweep.json", json.dumps(record, indent=2, sort_keys=True) + "\n"
        )
        summary.update(write_outputs(plan, scored, folders))
        summary["peak_memory_mib"] = _peak_memory_mib()
        return summary
    finally:
        shutdown(dist)


def _not_drawn(plot: str) -> str:
    """Why a plot was not drawn: a metric it needs has no value in any run."""
    axes = {p.name: (p.x, p.y) for p in PLOTS}
    axes.update({name: (metric, COST_AXIS) for name, metric in COST_PLOTS})
    needed = " or ".join(axes.get(plot, ()))
    return (
        f"not drawn: {needed or 'a metric it plots'} has no value in any run (the notes column "
        "of results.csv says why)"
    )


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
            where = ", ".join(str(p) for p in paths) if paths else _not_drawn(name)
            print(f"plot {name}: {where}")
    for method, path in summary.get("grids", {}).items():
        print(f"sample grid {method}: {path}")


def run_command(config: SweepConfig, verbosity: int = NORMAL) -> int:
    """Run ``config`` as the command does: its logging and progress bars, errors reported
    (exit status 2), the summary printed by rank 0. For callers with a config (the demo)."""
    # one logging setup (glide.log): under torchrun rank 0 shows info and progress bars, the
    # other ranks warnings and errors with a [rank N] prefix; --quiet / --verbose
    with command_logging(verbosity):
        try:
            with progress_bars(config.output.progress and progress_enabled()):
                summary = run_sweep(config)
        except GlideError as exc:
            log.error("%s", exc)
            return 2
    if summary.get("rank", 0) == 0:
        _report(summary)
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # argparse: --help (0) or a malformed command line (2)
        return int(exc.code or 0)
    verbosity = verbosity_from_args(args)
    with command_logging(verbosity):
        try:
            config = config_from_namespace(args, argv)
        except GlideError as exc:
            log.error("%s", exc)
            return 2
    return run_command(config, verbosity)


if __name__ == "__main__":
    raise SystemExit(main())
