"""A comparison of several sweeps (``reports.build --sweep A --sweep B ...``) on one table and
one set of frontiers.

Sweeps compare only when they were scored alike: the same caption set (the file's sha256, the
chosen ids, their number and subset seed), the same judges (``protocol.judges`` and the
identities of the evaluation networks) and the same reference set (what ``protocol`` and
``evaluation.reference`` record). Anything else is refused, naming what differs. The merged
inputs name each method ``<sweep>/<method>`` (``ddim/cfg``); the real-images floor is the same
images under the same judges in every comparable sweep, so the first sweep's is kept.

The generator is not a comparison key: a GLIDE sweep and a diffusers or folder sweep scored
alike compare. The merged table gains a ``generator`` column (each sweep's
``bench.spec.generator_display_name``), which names the frontiers' legend entries
"<generator> <method>" when the sweeps' generators differ.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.plots import REAL_METHOD
from bench.spec import generator_display_name
from reports.errors import ReportError
from reports.evaluated import run_settings
from reports.inputs import SweepInputs

CAPTION_KEYS = ("kind", "captions_sha256", "ids_sha256", "num_samples", "subset_seed", "subset")
REFERENCE_KEYS = ("reference", "num_reference_images", "reference_preprocess")
EVALUATION_JUDGES = ("extractor", "clip", "caption_match")


def _captions(inputs: SweepInputs) -> dict[str, Any]:
    return inputs.sweep.get("captions") or run_settings(inputs).get("captions") or {}


def comparison_keys(inputs: SweepInputs) -> dict[str, dict[str, Any]]:
    """What must match between compared sweeps, grouped (captions, judges, reference)."""
    captions = _captions(inputs)
    protocol = inputs.sweep.get("protocol") or {}
    evaluation = inputs.sweep.get("evaluation") or {}
    judges: dict[str, Any] = {"protocol.judges": protocol.get("judges")}
    for key in EVALUATION_JUDGES:
        judges[f"evaluation.{key}"] = evaluation.get(key)
    reference = {f"captions.{k}": captions.get(k) for k in REFERENCE_KEYS}
    reference["protocol.reference"] = protocol.get("reference")
    reference["evaluation.reference"] = evaluation.get("reference")
    return {
        "caption sets": {f"captions.{k}": captions.get(k) for k in CAPTION_KEYS},
        "judges": judges,
        "reference sets": reference,
    }


def _show(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 90 else text[:87] + "..."


def check_comparable(sweeps: Sequence[SweepInputs], names: Sequence[str]) -> None:
    """Raise :class:`ReportError` naming every group and key where the sweeps differ."""
    if any(not s.sweep for s in sweeps):
        bad = [n for n, s in zip(names, sweeps, strict=True) if not s.sweep]
        raise ReportError(
            f"--sweep: {', '.join(bad)} lack sweep.json, so their caption sets, judges and "
            "reference sets cannot be checked; compare only sweeps that bench.sweep finished "
            "writing"
        )
    keys = [comparison_keys(s) for s in sweeps]
    problems = []
    for group in keys[0]:
        for key in keys[0][group]:
            values = [k[group][key] for k in keys]
            if any(v != values[0] for v in values[1:]):
                shown = "; ".join(f"{n}: {_show(v)}" for n, v in zip(names, values, strict=True))
                problems.append(f"{group} differ at {key} ({shown})")
    if problems:
        raise ReportError(
            "--sweep: these sweeps cannot be compared on one table: "
            + " | ".join(problems)
            + ". Compare sweeps scored on the same captions, with the same judges and reference "
            "images (run bench.sweep with the same caption source, --num-samples, "
            "--seed and judges), or build one report per sweep"
        )


def sweep_names(paths: Sequence[Path]) -> list[str]:
    """Short unique names: the folder name, with its parent where two folders share one."""
    names = [p.name or str(p) for p in paths]
    if len(set(names)) < len(names):
        names = [f"{p.parent.name}-{p.name}" if p.parent.name else p.name for p in paths]
    if len(set(names)) < len(names):
        names = [f"{n}#{i}" for i, n in enumerate(names, 1)]
    return [n.replace("/", "-") for n in names]


def merge_sweeps(sweeps: Sequence[SweepInputs], names: Sequence[str]) -> SweepInputs:
    """One SweepInputs whose methods are ``<name>/<method>``: runs, results, no PNGs (the
    frontiers and grids are drawn afresh from the merged tables)."""
    import pandas as pd

    runs = []
    tables = []
    real_taken = False
    for name, inputs in zip(names, sweeps, strict=True):
        for run in inputs.runs:
            if run.method == REAL_METHOD:
                continue
            runs.append(
                dataclasses.replace(
                    run,
                    run_id=f"{name}/{run.run_id}",
                    method=f"{name}/{run.method}",
                    label=f"{name}/{run.label}",
                )
            )
        if inputs.results is None:
            continue
        table = inputs.results.copy()
        table["generator"] = generator_display_name(run_settings(inputs))
        real = table["method"].astype(str) == REAL_METHOD
        if real.any() and real_taken:
            table = table[~real]
            real = table["method"].astype(str) == REAL_METHOD
        table.loc[real, "generator"] = ""  # the real images: no generator
        real_taken = real_taken or bool(real.any())
        generated = ~real
        table.loc[generated, "method"] = name + "/" + table.loc[generated, "method"].astype(str)
        table.loc[generated, "label"] = name + "/" + table.loc[generated, "label"].astype(str)
        table["run_id"] = name + "/" + table["run_id"].astype(str)
        tables.append(table)
    results = pd.concat(tables, ignore_index=True) if tables else None
    first = sweeps[0]
    problems = tuple(f"{n}: {p}" for n, s in zip(names, sweeps, strict=True) for p in s.problems)
    return SweepInputs(
        path=first.path,
        sweep={"captions": _captions(first), "settings": run_settings(first)},
        runs=tuple(sorted(runs, key=lambda r: (r.method, r.scale))),
        results=results,
        results_file=None,
        plots={},
        grids={},
        problems=problems,
    )
