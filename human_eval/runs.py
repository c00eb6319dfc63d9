"""Reading run folders (the sweep's output, see CONTRACTS "Run folders") for a study.

A run folder holds ``spec.json`` (method, scale, label, ...), ``manifest.jsonl`` (one finished
image per line: index, caption_id, caption, seed, file) and the PNGs. A *sweep* folder holds run
folders under ``runs/``. Reading is strict: a missing manifest, a malformed line or an image that
is not on disk is an error naming the file, never a silently smaller study. A truncated last
manifest line (a writer killed mid-line) is ignored and a repeated index counts once, as the
sweep itself reads it.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from human_eval.errors import HumanEvalError

_MAX_LISTED = 5


@dataclass(frozen=True)
class RunImage:
    index: int
    caption_id: str
    caption: str
    seed: int | None
    path: Path  # absolute


@dataclass(frozen=True)
class RunFolder:
    path: Path
    run_id: str
    method: str
    scale: float | None
    name: str  # the condition name: spec "label", else "<method>@<scale>"
    spec: dict[str, Any]
    images: tuple[RunImage, ...]


def expand_run_paths(paths: list[str | Path]) -> list[Path]:
    """Each argument is a run folder (has spec.json) or a sweep folder (has runs/*/spec.json)."""
    if not paths:
        raise HumanEvalError("runs: give at least two run folders (or a sweep folder)")
    found: list[Path] = []
    for raw in paths:
        path = Path(raw).expanduser().resolve()
        if not path.is_dir():
            raise HumanEvalError(f"runs: {str(raw)!r} is not a folder; give run or sweep folders")
        if (path / "spec.json").is_file() or (path / "manifest.jsonl").is_file():
            found.append(path)
            continue
        subs = sorted(p.parent for p in (path / "runs").glob("*/spec.json"))
        if not subs:
            raise HumanEvalError(
                f"runs: {str(raw)!r} is neither a run folder (spec.json + manifest.jsonl) nor a "
                "sweep folder (runs/<run_id>/spec.json)"
            )
        found.extend(subs)
    unique = list(dict.fromkeys(found))
    return unique


def _read_spec(path: Path) -> dict[str, Any]:
    spec_path = path / "spec.json"
    if not spec_path.is_file():
        raise HumanEvalError(
            f"run folder {str(path)!r} has no spec.json; it is not a finished run folder"
        )
    try:
        spec = json.loads(spec_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise HumanEvalError(f"{spec_path}: not valid JSON ({exc}); regenerate the run") from None
    if not isinstance(spec, dict) or not isinstance(spec.get("method"), str):
        raise HumanEvalError(f"{spec_path}: needs a string 'method' (e.g. \"cfg\"); got {spec!r}")
    scale = spec.get("scale")
    if scale is not None and (
        isinstance(scale, bool)
        or not isinstance(scale, (int, float))
        or not math.isfinite(float(scale))
    ):
        raise HumanEvalError(f"{spec_path}: 'scale' must be a finite number or null; got {scale!r}")
    return spec


def _read_manifest(path: Path) -> list[RunImage]:
    manifest = path / "manifest.jsonl"
    if not manifest.is_file():
        raise HumanEvalError(
            f"run folder {str(path)!r} has no manifest.jsonl; its images are not finished (run the "
            "sweep to completion) or this is not a run folder"
        )
    text = manifest.read_text(encoding="utf-8")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    elif lines:
        lines.pop()  # a truncated last line from a killed writer
    by_index: dict[int, RunImage] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            index = int(rec["index"])
            caption = rec["caption"]
            file = rec["file"]
            caption_id = rec.get("caption_id", index)
            seed = rec.get("seed")
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise HumanEvalError(
                f"{manifest}: line {number} is not a manifest record with index, caption and file "
                f"({exc!r}); regenerate the run"
            ) from None
        if not isinstance(caption, str) or not isinstance(file, str):
            raise HumanEvalError(f"{manifest}: line {number}: caption and file must be strings")
        if index in by_index:
            continue
        by_index[index] = RunImage(
            index=index,
            caption_id=str(caption_id),
            caption=caption,
            seed=None if seed is None else int(seed),
            path=(path / file).resolve(),
        )
    images = [by_index[i] for i in sorted(by_index)]
    if not images:
        raise HumanEvalError(f"{manifest}: lists no images; the run has not produced any yet")
    missing = [im for im in images if not im.path.is_file()]
    if missing:
        shown = ", ".join(str(im.path) for im in missing[:_MAX_LISTED])
        raise HumanEvalError(
            f"run folder {str(path)!r}: {len(missing)} of {len(images)} images in manifest.jsonl "
            f"are missing on disk (e.g. {shown}); restore them or regenerate the run"
        )
    return images


def load_run_folder(path: str | Path) -> RunFolder:
    """Read and check one run folder."""
    path = Path(path).expanduser().resolve()
    spec = _read_spec(path)
    images = _read_manifest(path)
    scale = None if spec.get("scale") is None else float(spec["scale"])
    label = spec.get("label")
    if isinstance(label, str) and label.strip():
        name = label.strip()
    else:
        name = spec["method"] if scale is None else f"{spec['method']}@{scale:g}"
    run_id = str(spec.get("run_id") or path.name)
    return RunFolder(
        path=path,
        run_id=run_id,
        method=spec["method"],
        scale=scale,
        name=name,
        spec=spec,
        images=tuple(images),
    )


def load_runs(paths: list[str | Path]) -> list[RunFolder]:
    """Read every run folder named (directly or through sweep folders); conditions must differ."""
    runs = [load_run_folder(p) for p in expand_run_paths(paths)]
    runs.sort(key=lambda r: (r.method, -math.inf if r.scale is None else r.scale, r.name))
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
