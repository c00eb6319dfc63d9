"""Reading the files a report is built from (the only I/O besides the writers).

A sweep folder (CONTRACTS.md "Sweep folders", "Run folders", "Results table") is read by
bench's one parser, :mod:`bench.run_contract`, in its tolerant form: ``sweep.json``, the run
folders under ``runs/`` (spec.json, manifest.jsonl and their images), ``results.csv`` (or
``.parquet``), ``plots/`` and ``grids/``. A ratings folder (CONTRACTS.md "Ratings output"):
``ratings.csv``, ``winrate_<question>.csv``, ``agreement.csv``, ``raters.csv``, ``ratings.json``
and ``plots/``. Everything but the folder itself is optional here: what is absent is listed in
``problems`` and reported as absent by the section builders, never invented; a results table
without the contract's columns is an error. Nothing here loads a model.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from bench.grids import grid_file_name
from bench.plots import series_method, with_interval_methods
from bench.run_contract import RunContents, RunContractError, read_sweep
from bench.run_contract import read_manifest as read_run_manifest
from bench.run_contract import read_results as read_results_table
from bench.spec import format_interval
from reports.errors import ReportError

RATING_COLUMNS = (
    "question",
    "condition",
    "method",
    "scale",
    "system",
    "rating",
    "ci_low",
    "ci_high",
    "n_votes",
)
PARETO_PLOTS = ("pareto_pr", "pareto_is_fid", "pareto_clip_fid")


#: One run folder as read by bench.run_contract (tolerant form): spec, label, finished samples.
RunInfo = RunContents


@dataclass(frozen=True)
class SweepInputs:
    path: Path
    sweep: dict[str, Any]  # {} when sweep.json is absent
    runs: tuple[RunInfo, ...]
    results: pd.DataFrame | None  # None when no results table exists
    results_file: Path | None
    plots: dict[str, Path]  # pareto plot name -> PNG
    grids: dict[str, Path]  # series ("cfg", "cfg sigma[0.3,3]") -> its grids/ PNG
    problems: tuple[str, ...] = ()  # files that could not be read, said in the report


@dataclass(frozen=True)
class RatingsInputs:
    path: Path
    ratings: pd.DataFrame
    winrates: dict[str, pd.DataFrame]
    agreement: pd.DataFrame | None
    raters: pd.DataFrame | None
    meta: dict[str, Any]
    plots: dict[str, Path]  # question -> PNG
    problems: tuple[str, ...] = field(default=())


def _grids_by_series(folder: Path, series: set[str]) -> dict[str, Path]:
    """The sweep's grids/ PNGs by the series they show (bench.grids names ``cfg sigma[0.3,3]``'s
    file ``cfg_sigma_0.3_3.png``); a file of no known series is keyed by its stem."""
    by_file = {grid_file_name(s): s for s in series}
    return {by_file.get(p.name, p.stem): p for p in sorted(folder.glob("*.png"))}


def _read_json(path: Path, problems: list[str]) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        problems.append(f"{path.name}: unreadable ({exc})")
        return {}
    if not isinstance(data, dict):
        problems.append(f"{path.name}: not a JSON object")
        return {}
    return data


def read_manifest(path: Path) -> dict[int, dict[str, Any]]:
    """Finished samples of ``path`` (a run's manifest.jsonl) by index, read as the contract's
    tolerant form does (bench.run_contract): a truncated last line ignored, first record wins,
    a record whose image is missing does not count."""
    done, _ = read_run_manifest(Path(path).parent, strict=False)
    return {index: image.record for index, image in done.items()}


def read_results(sweep_dir: Path) -> tuple[pd.DataFrame | None, Path | None]:
    """The tidy results table, checked for the contract's columns; (None, None) if absent."""
    try:
        return read_results_table(sweep_dir)
    except RunContractError as exc:
        raise ReportError(f"--sweep: {exc}") from None


def _spec_interval(spec: dict[str, Any]) -> str:
    value = spec.get("guidance_interval")
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return format_interval((float(value[0]), float(value[1])))
    return ""


def load_sweep(sweep_dir: Path | str) -> SweepInputs:
    """Everything a report needs from a sweep folder; refuses a folder that is not one."""
    path = Path(sweep_dir)
    if not path.is_dir():
        raise ReportError(
            f"--sweep: {str(path)!r} is not a folder; give a bench.sweep --out folder"
        )
    has_sweep_json = (path / "sweep.json").is_file()
    if not has_sweep_json and not (path / "runs").is_dir():
        raise ReportError(
            f"--sweep: {str(path)!r} holds neither sweep.json nor runs/; give the folder that "
            "python -m bench.sweep --out wrote"
        )
    try:
        contents = read_sweep(path, strict=False)
    except RunContractError as exc:
        raise ReportError(f"--sweep: {exc}") from None
    problems = list(contents.problems)
    if not has_sweep_json:
        problems.append(
            "sweep.json: absent; settings come from the runs' spec.json; the command, versions "
            "and evaluation networks are unknown"
        )
    plots = {n: path / "plots" / f"{n}.png" for n in PARETO_PLOTS}
    runs = tuple(
        dataclasses.replace(r, method=series_method(r.method, _spec_interval(r.spec)))
        for r in contents.runs
    )
    # runs with a guidance interval are series of their own ("cfg sigma[0.3,3]"), never merged
    # with the full-range runs of the same (method, scale)
    results = None if contents.results is None else with_interval_methods(contents.results)
    series = {r.method for r in runs}
    if results is not None and "method" in results.columns:
        series |= {str(m) for m in results["method"].dropna().unique()}
    grids = _grids_by_series(path / "grids", series)
    return SweepInputs(
        path=path,
        sweep=contents.sweep or {},
        runs=runs,
        results=results,
        results_file=contents.results_file,
        plots={n: p for n, p in plots.items() if p.is_file()},
        grids=grids,
        problems=tuple(problems),
    )


def load_ratings(ratings_dir: Path | str) -> RatingsInputs:
    """The output of ``python -m human_eval.ratings``; ratings.csv is required."""
    path = Path(ratings_dir)
    csv_path = path / "ratings.csv"
    if not csv_path.is_file():
        raise ReportError(
            f"--ratings: {str(path)!r} has no ratings.csv; give the folder that "
            "python -m human_eval.ratings --out wrote, or leave --ratings out"
        )
    problems: list[str] = []
    try:
        ratings = pd.read_csv(csv_path)
    except (OSError, ValueError) as exc:
        raise ReportError(f"--ratings: {csv_path} unreadable ({exc})") from None
    missing = [c for c in RATING_COLUMNS if c not in ratings.columns]
    if missing:
        raise ReportError(
            f"--ratings: {csv_path} lacks the columns {missing} (expected "
            f"{', '.join(RATING_COLUMNS)}); regenerate it with python -m human_eval.ratings"
        )
    for column in ("scale", "rating", "ci_low", "ci_high"):
        ratings[column] = pd.to_numeric(ratings[column], errors="coerce").astype("float64")
    ratings["condition"] = ratings["condition"].astype(str)
    winrates = {}
    for file in sorted(path.glob("winrate_*.csv")):
        try:
            matrix = pd.read_csv(file, index_col=0)
        except (OSError, ValueError) as exc:
            problems.append(f"{file.name}: unreadable ({exc})")
            continue
        matrix.index = matrix.index.astype(str)
        matrix.columns = matrix.columns.astype(str)
        winrates[file.stem.removeprefix("winrate_")] = matrix.apply(pd.to_numeric, errors="coerce")
    optional = {}
    for name in ("agreement", "raters"):
        file = path / f"{name}.csv"
        optional[name] = None
        if file.is_file():
            try:
                optional[name] = pd.read_csv(file)
            except (OSError, ValueError) as exc:
                problems.append(f"{file.name}: unreadable ({exc})")
        else:
            problems.append(f"{file.name}: absent")
    meta = _read_json(path / "ratings.json", problems) if (path / "ratings.json").is_file() else {}
    plots = {
        p.stem.removeprefix("rating_vs_scale_"): p
        for p in sorted((path / "plots").glob("rating_vs_scale_*.png"))
    }
    return RatingsInputs(
        path=path,
        ratings=ratings,
        winrates=winrates,
        agreement=optional["agreement"],
        raters=optional["raters"],
        meta=meta,
        plots=plots,
        problems=tuple(problems),
    )
