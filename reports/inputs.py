"""Reading the files a report is built from (the only I/O besides the writers).

A sweep folder (CONTRACTS "Run folders"): ``sweep.json``, ``runs/*/spec.json`` and
``manifest.jsonl`` with their images, ``results.csv`` (or ``.parquet``), ``plots/`` and
``grids/``. A ratings folder (CONTRACTS "Ratings output"): ``ratings.csv``,
``winrate_<question>.csv``, ``agreement.csv``, ``raters.csv``, ``ratings.json`` and ``plots/``.
Everything but the folder itself is optional here: what is absent is reported as absent by the
section builders, never invented. Nothing here loads a model.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from reports.errors import ReportError

RESULT_COLUMNS = (
    "run_id",
    "method",
    "scale",
    "label",
    "metric",
    "display_name",
    "value",
    "ci_low",
    "ci_high",
    "n",
    "lower_is_better",
    "extractor",
    "notes",
)
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


@dataclass(frozen=True)
class RunInfo:
    """One run folder: its spec and its finished samples (manifest records by index)."""

    run_id: str
    method: str
    scale: float
    label: str
    path: Path
    spec: dict[str, Any]
    samples: dict[int, dict[str, Any]]

    @property
    def num_samples(self) -> int | None:
        n = self.spec.get("num_samples")
        return int(n) if isinstance(n, int) else None


@dataclass(frozen=True)
class SweepInputs:
    path: Path
    sweep: dict[str, Any]  # {} when sweep.json is absent
    runs: tuple[RunInfo, ...]
    results: pd.DataFrame | None  # None when no results table exists
    results_file: Path | None
    plots: dict[str, Path]  # pareto plot name -> PNG
    grids: dict[str, Path]  # method -> PNG
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
    """Finished samples by index: complete lines whose image exists; first record wins."""
    done: dict[int, dict[str, Any]] = {}
    if not path.is_file():
        return done
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if not line.endswith("\n"):
                break  # a truncated last line left by a killed writer
            try:
                record = json.loads(line)
                index = int(record["index"])
                file = str(record["file"])
            except (json.JSONDecodeError, KeyError, TypeError, ValueError):
                continue
            if index not in done and (path.parent / file).is_file():
                done[index] = record
    return done


def _read_runs(sweep_dir: Path, problems: list[str]) -> tuple[RunInfo, ...]:
    runs = []
    for spec_path in sorted((sweep_dir / "runs").glob("*/spec.json")):
        spec = _read_json(spec_path, problems)
        try:
            method, scale = str(spec["method"]), float(spec["scale"])
        except (KeyError, TypeError, ValueError):
            problems.append(f"runs/{spec_path.parent.name}/spec.json: no method/scale; skipped")
            continue
        runs.append(
            RunInfo(
                run_id=str(spec.get("run_id", spec_path.parent.name)),
                method=method,
                scale=scale,
                label=str(spec.get("label", f"{method}@{scale:g}")),
                path=spec_path.parent,
                spec=spec,
                samples=read_manifest(spec_path.parent / "manifest.jsonl"),
            )
        )
    return tuple(sorted(runs, key=lambda r: (r.method, r.scale)))


def _read_table(csv_path: Path, parquet_path: Path) -> tuple[pd.DataFrame | None, Path | None]:
    if csv_path.is_file():
        path, table = (
            csv_path,
            pd.read_csv(csv_path, keep_default_na=False, na_values=["", "nan", "NaN"]),
        )
    elif parquet_path.is_file():
        path, table = parquet_path, pd.read_parquet(parquet_path)
    else:
        return None, None
    return table, path


def read_results(sweep_dir: Path) -> tuple[pd.DataFrame | None, Path | None]:
    """The tidy results table, checked for the contract's columns; (None, None) if absent."""
    try:
        table, path = _read_table(sweep_dir / "results.csv", sweep_dir / "results.parquet")
    except (OSError, ValueError) as exc:
        raise ReportError(
            f"--sweep: {sweep_dir}: results table unreadable ({exc}); re-run the sweep's metrics "
            "stage to rewrite it"
        ) from None
    if table is None:
        return None, None
    missing = [c for c in RESULT_COLUMNS if c not in table.columns]
    if missing:
        raise ReportError(
            f"--sweep: {path} lacks the columns {missing} of a glide-bench results table "
            f"(expected {', '.join(RESULT_COLUMNS)}); point --sweep at a bench.sweep output"
        )
    table = table.copy()
    for column in ("scale", "value", "ci_low", "ci_high"):
        table[column] = pd.to_numeric(table[column], errors="coerce").astype("float64")
    table["notes"] = table["notes"].fillna("").astype(str)
    table["extractor"] = table["extractor"].fillna("").astype(str)
    table["lower_is_better"] = table["lower_is_better"].map(_as_bool)
    return table, path


def _as_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value) and not (isinstance(value, float) and math.isnan(value))


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
    problems: list[str] = []
    sweep = _read_json(path / "sweep.json", problems) if has_sweep_json else {}
    if not has_sweep_json:
        problems.append(
            "sweep.json: absent; settings come from the runs' spec.json; the command, versions "
            "and evaluation networks are unknown"
        )
    results, results_file = read_results(path)
    plots = {n: path / "plots" / f"{n}.png" for n in PARETO_PLOTS}
    grids = {p.stem: p for p in sorted((path / "grids").glob("*.png"))}
    return SweepInputs(
        path=path,
        sweep=sweep,
        runs=_read_runs(path, problems),
        results=results,
        results_file=results_file,
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
