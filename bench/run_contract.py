"""Reading what ``python -m bench.sweep`` writes (CONTRACTS.md "Run folders", "Sweep folders",
"Results table"): the one parser of run folders, used by bench, human_eval and reports.

Two forms. *Strict* (the default) raises :class:`RunContractError` naming the file for anything
the contract does not allow: a study or a metric must never be computed from a silently smaller
set. *Tolerant* (``strict=False``) reads what it can and lists the rest in ``problems``: a report
says "absent" instead of failing, and the sweep itself resumes an interrupted run.

Both forms share the manifest rules of CONTRACTS "Run folders": a last line without its newline
(a writer killed mid-line) is ignored, blank lines are ignored, the first record of an index
whose image exists wins, and a record whose image is missing is not a finished sample (strict:
an error; tolerant: left out, said in ``problems``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from bench.errors import BenchError
from bench.results import COLUMNS as RESULT_COLUMNS

__all__ = [
    "MANIFEST_KEYS",
    "REAL_METHOD",
    "REAL_RUN_ID",
    "RESULT_COLUMNS",
    "RunContents",
    "RunContractError",
    "RunImage",
    "SweepContents",
    "find_run_dirs",
    "read_manifest",
    "read_results",
    "read_run",
    "read_spec",
    "read_sweep",
]

#: ``method`` of the real-images run (bench.real_floor), whose ``scale`` is null.
REAL_METHOD = "real"
#: Folder name (and run_id) of the real-images run under a sweep's ``runs/``.
REAL_RUN_ID = "real-images"
#: Keys of every manifest line that bench.generate writes (CONTRACTS "Run folders").
MANIFEST_KEYS = ("index", "caption_id", "image_id", "caption", "seed", "file")
#: Keys a reader needs in a manifest line; caption_id defaults to the index, seed to None.
MANIFEST_REQUIRED = ("index", "caption", "file")
_MAX_LISTED = 5


class RunContractError(BenchError):
    """A run, sweep or results file that breaks CONTRACTS.md; the message names the file."""


@dataclass(frozen=True)
class RunImage:
    """One finished sample: a manifest record whose image is on disk."""

    index: int
    caption_id: str
    caption: str
    seed: int | None
    file: str  # relative to the run folder, e.g. "images/00003.png"
    path: Path  # absolute
    record: dict[str, Any]  # the manifest line as written


@dataclass(frozen=True)
class RunContents:
    """A run folder as read: its spec and its finished samples in index order."""

    path: Path  # absolute
    spec: dict[str, Any]
    run_id: str
    method: str
    scale: float
    label: str
    images: tuple[RunImage, ...]
    problems: tuple[str, ...] = ()  # tolerant form only: what was left out and why

    @property
    def num_samples(self) -> int | None:
        """The number of samples the run is meant to have (``spec.json`` num_samples)."""
        n = self.spec.get("num_samples")
        return n if isinstance(n, int) and not isinstance(n, bool) else None

    @property
    def samples(self) -> dict[int, dict[str, Any]]:
        """Manifest records of the finished samples by index."""
        return {image.index: image.record for image in self.images}

    @property
    def is_real(self) -> bool:
        """The real-images run: held-out real images scored as the floor, not a generator's."""
        return self.method == REAL_METHOD

    @property
    def complete(self) -> bool:
        n = self.num_samples
        return n is not None and {i.index for i in self.images} >= set(range(n))


@dataclass(frozen=True)
class SweepContents:
    """A sweep folder as read: sweep.json (None when absent), the runs, the results table."""

    path: Path
    sweep: dict[str, Any] | None
    runs: tuple[RunContents, ...]
    results: pd.DataFrame | None  # None when neither results.csv nor results.parquet exists
    results_file: Path | None
    problems: tuple[str, ...] = ()


def _listed(items: list[str]) -> str:
    more = f" and {len(items) - _MAX_LISTED} more" if len(items) > _MAX_LISTED else ""
    return ", ".join(items[:_MAX_LISTED]) + more


def read_spec(run_dir: Path | str) -> dict[str, Any]:
    """``spec.json`` of a run folder, checked for a string ``method`` and a finite ``scale``."""
    spec_path = Path(run_dir) / "spec.json"
    if not spec_path.is_file():
        raise RunContractError(
            f"{spec_path}: missing; a run folder holds spec.json, manifest.jsonl and images/ "
            "(give a folder written by python -m bench.sweep)"
        )
    try:
        spec = json.loads(spec_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunContractError(f"{spec_path}: not valid JSON ({exc}); regenerate the run") from None
    if not isinstance(spec, dict) or not isinstance(spec.get("method"), str):
        raise RunContractError(
            f"{spec_path}: needs a string 'method' (e.g. \"cfg\"); got {spec!r:.200}"
        )
    scale = spec.get("scale")
    if spec["method"] == REAL_METHOD:  # the real-images run (CONTRACTS "The real-images run")
        if scale is not None:
            raise RunContractError(
                f"{spec_path}: the real-images run has no guidance scale ('scale': null); "
                f"got {scale!r}"
            )
        return spec
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not math.isfinite(scale):
        raise RunContractError(
            f"{spec_path}: 'scale' must be a finite number (the guidance scale); got {scale!r}"
        )
    return spec


def _image(run_dir: Path, rec: Any) -> RunImage:
    """A manifest record as a RunImage; raises ValueError/KeyError/TypeError when malformed."""
    if not isinstance(rec, dict):
        raise TypeError(f"a JSON object, not {type(rec).__name__}")
    index, caption, file = (rec[k] for k in MANIFEST_REQUIRED)
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        raise ValueError(f"index {index!r} is not an integer >= 0")
    if not isinstance(caption, str) or not isinstance(file, str):
        raise TypeError("caption and file must be strings")
    seed = rec.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise TypeError(f"seed {seed!r} is not an integer")
    return RunImage(
        index=index,
        caption_id=str(rec.get("caption_id", index)),
        caption=caption,
        seed=seed,
        file=file,
        path=(run_dir / file).resolve(),
        record=rec,
    )


def read_manifest(
    run_dir: Path | str, *, strict: bool = True
) -> tuple[dict[int, RunImage], list[str]]:
    """Finished samples of a run folder by index, and (tolerant form) what was left out.

    Strict: a missing manifest.jsonl, a malformed complete line or a listed image that is not on
    disk raises :class:`RunContractError`. Tolerant: none of these raise; a missing manifest
    means no finished samples.
    """
    run_dir = Path(run_dir).resolve()
    manifest = run_dir / "manifest.jsonl"
    problems: list[str] = []
    if not manifest.is_file():
        if strict:
            raise RunContractError(
                f"{manifest}: missing; the run has no finished images (run the sweep to "
                "completion) or this is not a run folder"
            )
        return {}, ["manifest.jsonl: absent (no finished images)"]
    done: dict[int, RunImage] = {}
    missing: list[RunImage] = []
    with open(manifest, encoding="utf-8", newline="\n") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.endswith("\n"):
                break  # a truncated last line from a killed writer
            if not line.strip():
                continue
            try:
                image = _image(run_dir, json.loads(line))
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                text = (
                    f"{manifest}: line {number} is not a manifest record with "
                    f"{', '.join(MANIFEST_REQUIRED)} ({exc!r})"
                )
                if strict:
                    raise RunContractError(text + "; regenerate the run") from None
                problems.append(f"manifest.jsonl: line {number} is malformed ({exc!r}); skipped")
                continue
            if image.index in done:
                continue  # a repeated index counts once
            if not image.path.is_file():
                missing.append(image)
                continue  # a later record of the same index may still have its image
            done[image.index] = image
    missing = [m for m in missing if m.index not in done]
    if missing:
        text = (
            f"{len(missing)} image(s) listed in manifest.jsonl are missing on disk "
            f"({_listed([m.file for m in missing])})"
        )
        if strict:
            raise RunContractError(
                f"{run_dir}: {text}; restore them or run the sweep again to regenerate"
            )
        problems.append(text + "; not counted as finished")
    return {i: done[i] for i in sorted(done)}, problems


def read_run(run_dir: Path | str, *, strict: bool = True) -> RunContents:
    """Read one run folder. spec.json is required in both forms (it says what the run is)."""
    path = Path(run_dir).expanduser().resolve()
    spec = read_spec(path)
    images, problems = read_manifest(path, strict=strict)
    method = spec["method"]
    scale = math.nan if spec["scale"] is None else float(spec["scale"])
    label = spec.get("label")
    if not (isinstance(label, str) and label.strip()):
        label = f"{method}@{scale:g}"
    return RunContents(
        path=path,
        spec=spec,
        run_id=str(spec.get("run_id") or path.name),
        method=method,
        scale=scale,
        label=label.strip(),
        images=tuple(images.values()),
        problems=tuple(problems),
    )


def find_run_dirs(path: Path | str) -> list[Path]:
    """``[path]`` for a run folder (has spec.json or manifest.jsonl), else the folders
    ``path/runs/*/`` of a sweep folder, sorted by name; raises for anything else."""
    path = Path(path).expanduser().resolve()
    if not path.is_dir():
        raise RunContractError(f"{path}: not a folder; give a run folder or a sweep folder")
    if (path / "spec.json").is_file() or (path / "manifest.jsonl").is_file():
        return [path]
    runs = path / "runs"
    subs = sorted(p for p in runs.iterdir() if p.is_dir()) if runs.is_dir() else []
    if not subs:
        raise RunContractError(
            f"{path}: neither a run folder (spec.json + manifest.jsonl) nor a sweep folder "
            "(runs/<run_id>/spec.json)"
        )
    return subs


def read_results(sweep_dir: Path | str) -> tuple[pd.DataFrame | None, Path | None]:
    """The results table (results.csv, else results.parquet) with the contract's dtypes.

    Missing values stay NaN (never 0); ``notes``, ``extractor`` and ``resize`` are strings
    ("" when empty). (None, None) when neither file exists; an unreadable file or a missing
    column raises :class:`RunContractError`.
    """
    sweep_dir = Path(sweep_dir)
    csv_path, parquet_path = sweep_dir / "results.csv", sweep_dir / "results.parquet"
    try:
        if csv_path.is_file():
            path = csv_path
            table = pd.read_csv(path, keep_default_na=False, na_values=["", "nan", "NaN"])
        elif parquet_path.is_file():
            path, table = parquet_path, pd.read_parquet(parquet_path)
        else:
            return None, None
    except (OSError, ValueError) as exc:
        raise RunContractError(
            f"{path}: unreadable ({exc}); re-run the sweep's metrics stage to rewrite it"
        ) from None
    missing = [c for c in RESULT_COLUMNS if c not in table.columns]
    if missing:
        raise RunContractError(
            f"{path}: lacks the columns {missing} of a glide-bench results table (expected "
            f"{', '.join(RESULT_COLUMNS)}); point at a python -m bench.sweep output folder"
        )
    table = table.copy()
    for column in ("scale", "value", "ci_low", "ci_high"):
        table[column] = pd.to_numeric(table[column], errors="coerce").astype("float64")
    for column in ("notes", "extractor", "resize"):
        table[column] = table[column].fillna("").astype(str)
    table["lower_is_better"] = table["lower_is_better"].map(_as_bool).astype(bool)
    return table, path


def _as_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value) and not (isinstance(value, float) and math.isnan(value))


def read_sweep(sweep_dir: Path | str, *, strict: bool = True) -> SweepContents:
    """A sweep folder: sweep.json, every ``runs/*/`` folder, the results table.

    Strict: a missing or unreadable sweep.json, a run folder without spec.json and every
    strict-form run error raise. Tolerant: those become ``problems`` and the run is left out
    (sweep.json absent gives ``sweep=None``); a results table with missing columns still raises.
    """
    path = Path(sweep_dir).expanduser().resolve()
    if not path.is_dir():
        raise RunContractError(f"{path}: not a folder; give a python -m bench.sweep --out folder")
    problems: list[str] = []
    sweep_path = path / "sweep.json"
    sweep: dict[str, Any] | None = None
    if sweep_path.is_file():
        try:
            sweep = json.loads(sweep_path.read_text(encoding="utf-8"))
            if not isinstance(sweep, dict):
                raise ValueError("not a JSON object")
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            sweep = None
            if strict:
                raise RunContractError(
                    f"{sweep_path}: unreadable ({exc}); fix or delete it"
                ) from None
            problems.append(f"sweep.json: unreadable ({exc})")
    elif strict:
        raise RunContractError(
            f"{sweep_path}: missing; give the folder that python -m bench.sweep --out wrote"
        )
    runs = []
    run_root = path / "runs"
    for run_dir in sorted(p for p in run_root.iterdir() if p.is_dir()) if run_root.is_dir() else []:
        try:
            run = read_run(run_dir, strict=strict)
        except RunContractError as exc:
            if strict:
                raise
            problems.append(f"runs/{run_dir.name}: {exc}; left out")
            continue
        runs.append(run)
        problems.extend(f"runs/{run_dir.name}: {p}" for p in run.problems)
    runs.sort(key=lambda r: (r.is_real, r.method, r.scale if r.scale == r.scale else 0.0, r.label))
    results, results_file = read_results(path)
    return SweepContents(
        path=path,
        sweep=sweep,
        runs=tuple(runs),
        results=results,
        results_file=results_file,
        problems=tuple(problems),
    )
