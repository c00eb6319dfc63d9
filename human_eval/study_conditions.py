"""The conditions of a study: run folders read through :mod:`bench.run_contract`, checked.

Each argument of ``study create`` is a run folder or a sweep folder (CONTRACTS.md "Run
folders", "Sweep folders"). They are read in the contract's strict form: a missing spec.json or
manifest.jsonl, a malformed manifest line or an image that is not on disk is an error naming the
file, never a silently smaller study; a truncated last manifest line is ignored and a repeated
index counts once, as the sweep itself reads it. On top of the contract a study needs: at least
two conditions, each with at least one finished image, and no condition named twice.

A study of runs from several generators (e.g. a GLIDE sweep and a diffusers or folder sweep;
the generator's name is ``bench.spec.generator_display_name`` of the run's spec) names each
condition ``"<generator> <label>"`` (``glide cfg@3``, ``tiny-sd cfg@3``) and its method
``"<generator>/<method>"``, so that ratings keep one line per generator and method; a study of
one generator keeps the plain labels (``cfg@3``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.run_contract import REAL_RUN_ID, RunContractError, RunImage, find_run_dirs, read_run
from bench.spec import generator_display_name
from human_eval.errors import HumanEvalError

__all__ = ["Condition", "RunImage", "expand_run_paths", "load_condition", "load_conditions"]


@dataclass(frozen=True)
class Condition:
    """One run folder as a study condition."""

    path: Path  # absolute
    run_id: str
    method: str
    scale: float
    name: str  # the condition name: the spec's label ("<method>@<scale>"), see the docstring
    spec: dict[str, Any]
    images: tuple[RunImage, ...]
    generator: str = ""  # the generator's display name (bench.spec.generator_display_name)


def expand_run_paths(paths: list[str | Path]) -> list[Path]:
    """Each argument is a run folder (has spec.json) or a sweep folder (has runs/*/)."""
    if not paths:
        raise HumanEvalError("runs: give at least two run folders (or a sweep folder)")
    found: list[Path] = []
    for raw in paths:
        try:
            dirs = find_run_dirs(raw)
        except RunContractError as exc:
            raise HumanEvalError(f"runs: {exc}") from None
        if len(dirs) > 1 or dirs[0] != Path(raw).expanduser().resolve():
            # a sweep folder: its real-images run (the metrics' floor) has its own captions, so
            # it shares no caption with a generated run and cannot be compared pairwise
            dirs = [d for d in dirs if d.name != REAL_RUN_ID]
        found.extend(dirs)
    return list(dict.fromkeys(found))


def load_condition(path: str | Path) -> Condition:
    """Read and check one run folder (strict form of the contract)."""
    try:
        run = read_run(path, strict=True)
    except RunContractError as exc:
        raise HumanEvalError(f"runs: {exc}") from None
    if run.is_real:
        raise HumanEvalError(
            f"runs: {run.path} is a sweep's real-images run (held-out real images with their "
            "own captions, the metrics' floor); it shares no caption with the generated runs, "
            "so a pairwise study cannot use it; leave it out"
        )
    if not run.images:
        raise HumanEvalError(
            f"runs: {run.path / 'manifest.jsonl'}: lists no images; the run has not produced "
            "any yet"
        )
    return Condition(
        path=run.path,
        run_id=run.run_id,
        method=run.method,
        scale=run.scale,
        name=run.label,
        spec=run.spec,
        images=run.images,
        generator=generator_display_name(run.spec),
    )


def _named_by_generator(run: Condition) -> Condition:
    return dataclasses.replace(
        run,
        method=f"{run.generator}/{run.method}",
        name=f"{run.generator} {run.name}",
    )


def load_conditions(paths: list[str | Path]) -> list[Condition]:
    """Read every run folder named (directly or through sweep folders); conditions must differ."""
    runs = [load_condition(p) for p in expand_run_paths(paths)]
    if len({run.generator for run in runs}) > 1:
        runs = [_named_by_generator(run) for run in runs]
    runs.sort(key=lambda r: (r.method, r.scale, r.name))
    seen: dict[str, Path] = {}
    for run in runs:
        if run.name in seen:
            raise HumanEvalError(
                f"runs: condition {run.name!r} appears twice ({seen[run.name]} and {run.path}); "
                "each (method, scale) may appear once in a study: leave one of them out"
            )
        seen[run.name] = run.path
    if len(runs) < 2:
        raise HumanEvalError(
            f"runs: a study compares at least two conditions; got {len(runs)} run folder(s)"
        )
    return runs
