"""The "What was evaluated" section, from sweep.json, the run folders and the results table."""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from typing import Any

from bench.generators import SAMPLER_FREE_GENERATORS
from bench.plots import REAL_METHOD
from glide.versions import NUMERIC_PACKAGES, installed_versions
from reports.blocks import Block, Cell, Code, Heading, KeyValues, Paragraph, Section, Table
from reports.blocks import label_cell as L
from reports.inputs import RatingsInputs, SweepInputs
from reports.numbers import scale_text
from reports.results_view import ResultsView, method_name

# what renders the report (its numbers come from the sweep and ratings folders)
REPORT_PACKAGES = ("glide-bench", "pandas", "matplotlib", "jinja2", "reportlab", "pillow")

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
MAX_GENERATOR_ROWS = 40


def find_hashes(obj: Any, path: tuple[str, ...] = ()) -> list[tuple[str, str, str]]:
    """(name, sha256, file) for every sha256 recorded anywhere in a (nested) description.

    A sha256 may also be a mapping of part -> sha256 beside a ``files`` mapping of part -> path
    (the noised CLIP's image and text encoders); each part is then a row of its own, named by
    the part ("clip-image-enc") or, where the part name does not say whose it is, "clip (image)"."""
    rows: list[tuple[str, str, str]] = []
    if isinstance(obj, dict):
        name = " / ".join(p for p in path if p not in ("checkpoints", "files")) or "model"
        for key, value in obj.items():
            is_hash_key = "sha256" in str(key).lower()
            if is_hash_key and isinstance(value, str) and _HEX64.match(value):
                label = name if key == "sha256" else f"{name} ({key})"
                detail = str(obj.get("file") or obj.get("path") or obj.get("name") or "")
                rows.append((label, value, detail))
            elif is_hash_key and isinstance(value, dict) and _all_hashes(value):
                files = obj.get("files") if isinstance(obj.get("files"), dict) else {}
                for part, sha in value.items():
                    label = str(part) if str(part).startswith(name) else f"{name} ({part})"
                    rows.append((label, sha, str(files.get(part) or "")))
            else:
                rows += find_hashes(value, (*path, str(key)))
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            rows += find_hashes(value, (*path, str(i)))
    return rows


def _all_hashes(mapping: dict[Any, Any]) -> bool:
    return bool(mapping) and all(isinstance(v, str) and _HEX64.match(v) for v in mapping.values())


def flatten(obj: Any, prefix: str = "") -> list[tuple[str, str]]:
    """Scalar leaves of a nested description as ("a.b.c", "value") pairs."""
    if isinstance(obj, dict):
        out = []
        for key, value in obj.items():
            out += flatten(value, f"{prefix}.{key}" if prefix else str(key))
        return out
    if isinstance(obj, list) and not all(isinstance(v, (int, float, str)) for v in obj):
        out = []
        for i, value in enumerate(obj):
            out += flatten(value, f"{prefix}[{i}]")
        return out
    return [(prefix or "value", ", ".join(map(str, obj)) if isinstance(obj, list) else str(obj))]


def _get(d: dict[str, Any], *keys: str, default: Any = None) -> Any:
    for key in keys:
        if not isinstance(d, dict) or key not in d:
            return default
        d = d[key]
    return d


def _sampling(settings: dict[str, Any], key: str, unknown: str) -> str:
    """A sampler setting as recorded, or that the generator did not use it."""
    if settings.get("generator") in SAMPLER_FREE_GENERATORS:
        return f"not used by --generator {settings['generator']} (recorded: {settings.get(key)})"
    return str(settings.get(key, unknown))


def run_settings(inputs: SweepInputs) -> dict[str, Any]:
    """The sweep's shared settings: from sweep.json, else from a run's spec.json (same keys)."""
    settings = _get(inputs.sweep, "settings", default={}) or {}
    if not settings and inputs.runs:
        spec = inputs.runs[0].spec
        settings = {k: v for k, v in spec.items() if k not in _RUN_KEYS}
    return settings


_RUN_KEYS = ("run_id", "label", "method", "scale", "spec_version")


def _setup_rows(inputs: SweepInputs) -> list[tuple[str, str]]:
    sweep = inputs.sweep
    settings = run_settings(inputs)
    captions = _get(sweep, "captions", default={}) or settings.get("captions", {}) or {}
    protocol = _get(sweep, "protocol", default={}) or {}
    unknown = "not recorded (sweep.json lacks it)"
    scales: dict[str, list[str]] = {}
    for run in inputs.runs:
        if run.method != REAL_METHOD:  # the real-images floor has no scale
            scales.setdefault(run.method, []).append(scale_text(run.scale))
    rows = [
        ("Sweep folder", str(inputs.path)),
        (
            "Created / updated",
            f"{sweep.get('created_at', unknown)} / {sweep.get('updated_at', unknown)}",
        ),
        ("Generator", str(settings.get("generator", unknown))),
        (
            "Methods and scales",
            "; ".join(f"{method_name(m)} ({m}): {', '.join(s)}" for m, s in scales.items())
            or "no run folders",
        ),
    ]
    count = captions.get("num_samples", settings.get("num_samples"))
    available = captions.get("num_captions_available")
    source = f"{captions.get('kind', unknown)}"
    if count is not None:
        source += f"; {count} captions" + (f" of {available}" if available is not None else "")
    rows += [
        ("Caption source", source),
        ("Captions file", str(captions.get("captions_file", unknown))),
        ("Captions file sha256", str(captions.get("captions_sha256", unknown))),
        (
            "Caption subset",
            f"{captions.get('subset', unknown)} (seed {captions.get('subset_seed', '?')})",
        ),
        (
            "Reference images",
            f"{captions.get('reference', unknown)} ({captions.get('num_reference_images', '?')} "
            f"images; {captions.get('reference_preprocess', 'preprocessing not recorded')})",
        ),
        ("Sampler", _sampling(settings, "sampler", unknown)),
        ("Steps", _sampling(settings, "steps", unknown)),
        (
            "Resolution",
            f"{settings['resolution']}x{settings['resolution']}"
            if "resolution" in settings
            else unknown,
        ),
    ]
    if settings.get("resolution") == 256:
        rows.append(
            (
                "Upsampler",
                f"steps {settings.get('upsample_steps')}, "
                f"temperature {settings.get('upsample_temp')}",
            )
        )
    rows += [
        (
            "Seeds",
            f"run seed {settings.get('seed', unknown)}; "
            f"per sample {protocol.get('per_sample_seed', unknown)}",
        ),
        (
            "Model dtype / device",
            f"{settings.get('dtype', unknown)} / {protocol.get('device', unknown)} "
            f"(processes: {sweep.get('world_size', '?')})",
        ),
        (
            "Paper parity",
            unknown
            if "paper_parity" not in protocol
            else "yes"
            if protocol["paper_parity"]
            else "no",
        ),
    ]
    deviations = protocol.get("deviations_from_paper") or {}
    if deviations:
        rows.append(
            ("Deviations from the paper", "; ".join(f"{k}: {v}" for k, v in deviations.items()))
        )
    judges = protocol.get("judges")
    if isinstance(judges, dict):
        rows.append(
            (
                "Judges",
                f"feature extractor {judges.get('extractor', unknown)}, evaluation CLIP "
                f"{judges.get('clip_run') or judges.get('clip_model', unknown)}, chosen for "
                f"{judges.get('caption_kind', unknown)} captions ({judges.get('rule', '')})",
            )
        )
        embedded = judges.get("embedded_judges_on_real_captions") or []
        if embedded:
            rows.append(
                (
                    "Deviation: embedded judges on real captions",
                    "; ".join(map(str, embedded)) + " (--allow-embedded-judges: networks "
                    "trained on synthetic shapes scored real captions; these numbers compare "
                    "with nothing)",
                )
            )
    return rows


def _checkpoint_blocks(inputs: SweepInputs) -> list[Block]:
    sweep = inputs.sweep
    description = sweep.get("generator") or run_settings(inputs).get("checkpoints") or {}
    hashes = find_hashes(description)
    blocks: list[Block] = [Heading("Checkpoints")]
    if hashes:
        rows = tuple(
            (L(name), Cell(sha, mono=True, align="left"), L(detail)) for name, sha, detail in hashes
        )
        blocks.append(Table(("checkpoint", "sha256", "file"), rows, widths=(2.3, 5.8, 2.4)))
    else:
        blocks.append(Paragraph("No checkpoint sha256 is recorded in sweep.json.", "missing"))
    is_toy = isinstance(description, dict) and description.get("kind") == "toy"
    if run_settings(inputs).get("generator") == "toy" or is_toy:
        blocks.append(
            Paragraph(
                "This sweep used the toy generator (a fixed random network with no checkpoint): "
                "its images and numbers test the harness and mean nothing about GLIDE.",
                "missing",
            )
        )
    files = {detail for _, _, detail in hashes}
    leaves = [
        (k, v) for k, v in flatten(description) if "sha256" not in k.lower() and v not in files
    ]
    if leaves:
        shown = leaves[:MAX_GENERATOR_ROWS]
        blocks.append(Paragraph("Generator description (from sweep.json):", "note"))
        blocks.append(KeyValues(tuple(shown), small=True))
        if len(leaves) > len(shown):
            blocks.append(
                Paragraph(f"… {len(leaves) - len(shown)} more entries in sweep.json.", "note")
            )
    return blocks


_FAMILY_OF = {
    "fid": "extractor",
    "is": "extractor",
    "kid": "extractor",
    "precision": "extractor",
    "recall": "extractor",
    "clip_score": "clip",
    "caption_match": "caption_match",
    "attribute_match": "caption_match",
}
_FAMILY_TITLE = {
    "extractor": "Feature extractor (FID, IS, KID, precision, recall)",
    "clip": "Evaluation CLIP (CLIP score)",
    "caption_match": "Attribute classifier (caption match, attribute match)",
}


def _judges_table(inputs: SweepInputs, view: ResultsView) -> list[Block]:
    rows = []
    for metric in view.metrics:
        entries = [view.get(r, metric.name) for r in view.runs]
        judges = sorted({e.extractor for e in entries if e.extractor})
        ns = sorted({e.n for e in entries if e.ok and e.n is not None})
        notes = sorted({e.notes for e in entries if e.ok and e.notes})
        note = notes[0] if notes else "not computed"
        if len(notes) > 1:
            note += f" (and {len(notes) - 1} other notes)"
        rows.append(
            (
                L(f"{metric.display_name} ({metric.name})"),
                L(metric.direction),
                Cell(", ".join(judges) or "not recorded", align="left", mono=True),
                L(", ".join(map(str, ns)) or "none"),
                L(note),
            )
        )
    blocks: list[Block] = [
        Heading("Metrics and the networks behind them"),
        Table(
            ("metric", "better", "judged by", "n images", "interval / notes"),
            tuple(rows),
            widths=(2.3, 1.5, 3.7, 1.0, 5.2),
        ),
    ]
    evaluation = inputs.sweep.get("evaluation") or {}
    networks = [
        (title, "; ".join(f"{k}: {v}" for k, v in flatten(evaluation[key])))
        for key, title in _FAMILY_TITLE.items()
        if isinstance(evaluation.get(key), dict)
    ]
    if networks:
        blocks.append(Paragraph("Evaluation networks (from sweep.json):", "note"))
        blocks.append(KeyValues(tuple(networks), mono=frozenset(t for t, _ in networks)))
    elif view.has_table:
        blocks.append(
            Paragraph("The identities of the evaluation networks are not in sweep.json.", "missing")
        )
    return blocks


def _run_table(inputs: SweepInputs) -> list[Block]:
    if not inputs.runs:
        return [Paragraph("No run folders (runs/*/spec.json) in the sweep.", "missing")]
    rows = []
    for run in inputs.runs:
        target = run.num_samples
        done = len(run.samples)
        state = "complete" if target is not None and done >= target else "incomplete"
        rows.append(
            (
                L(run.label),
                Cell(run.run_id, mono=True, align="left"),
                Cell(f"{done} / {target if target is not None else '?'}"),
                L(state),
            )
        )
    table = Table(("run", "run id", "images", "state"), tuple(rows), widths=(2, 2.4, 1.4, 2))
    return [Heading("Runs"), table]


def reproduce_commands(
    inputs: SweepInputs, ratings: RatingsInputs | None, report_argv: Sequence[str]
) -> list[Block]:
    blocks: list[Block] = [Heading("How to reproduce")]
    command = inputs.sweep.get("command")
    if command:
        blocks += [Paragraph("Sweep (generation and metrics):", "note"), Code(str(command))]
        invocations = inputs.sweep.get("invocations") or []
        if len({str(i.get("argv")) for i in invocations if isinstance(i, dict)}) > 1:
            blocks.append(
                Paragraph(
                    f"The sweep folder was filled by {len(invocations)} invocations with "
                    "different arguments; the last one is shown.",
                    "note",
                )
            )
    else:
        blocks.append(Paragraph("Sweep command: not recorded (sweep.json lacks it).", "missing"))
    if ratings is not None:
        meta = ratings.meta
        if meta.get("study"):
            argv = [
                "python",
                "-m",
                "human_eval.ratings",
                "--db",
                str(meta.get("db", "<DB URL>")),
                "--study",
                str(meta["study"]),
                "--out",
                str(ratings.path),
            ]
            boot = meta.get("bootstrap") or {}
            for flag, value in (
                ("--bootstrap", boot.get("replicates")),
                ("--ci", boot.get("level")),
                ("--seed", boot.get("seed")),
                ("--reference", meta.get("reference")),
                ("--bootstrap-unit", boot.get("unit")),
                ("--prior-sd", _get(meta, "elo", "prior_sd_points")),
            ):
                if value is not None:
                    argv += [flag, str(value)]
            argv += ["--include-excluded"] if meta.get("include_excluded") else []
            argv += ["--include-flagged"] if meta.get("include_flagged") else []
            blocks += [
                Paragraph("Human-evaluation ratings (the database holds the votes):", "note"),
                Code(shlex.join(argv)),
            ]
        else:
            blocks.append(
                Paragraph(
                    "Ratings command: not recorded (ratings.json lacks the study).", "missing"
                )
            )
    blocks += [
        Paragraph("This report:", "note"),
        Code(shlex.join(["python", "-m", "reports.build", *report_argv])),
    ]
    return blocks


def _version_blocks(versions: dict[str, Any]) -> list[Block]:
    """The versions sweep.json recorded (the environment that produced the numbers), every
    package the numbers depend on that it does not record marked as such, then the versions
    that built this report."""
    blocks: list[Block] = []
    if versions:
        rows = [(k, str(v)) for k, v in versions.items()]
        missing = [p for p in NUMERIC_PACKAGES if p not in versions]
        rows += [(p, "not recorded") for p in missing]
        blocks.append(KeyValues(tuple(rows), small=True))
        if missing:
            blocks.append(
                Paragraph(
                    "sweep.json does not record " + ", ".join(missing) + " (written by an "
                    "older glide-bench); the numbers may depend on them.",
                    "missing",
                )
            )
    else:
        blocks.append(Paragraph("Not recorded (sweep.json lacks versions).", "missing"))
    builder = installed_versions(REPORT_PACKAGES)
    blocks.append(
        Paragraph(
            "This report was built with "
            + ", ".join(f"{k} {v}" for k, v in builder.items() if k != "platform")
            + ".",
            "note",
        )
    )
    return blocks


def evaluated_section(
    inputs: SweepInputs,
    view: ResultsView,
    ratings: RatingsInputs | None,
    report_argv: Sequence[str],
) -> Section:
    versions = inputs.sweep.get("versions") or {}
    blocks: list[Block] = [
        KeyValues(
            tuple(_setup_rows(inputs)),
            mono=frozenset({"Captions file", "Captions file sha256", "Sweep folder"}),
        )
    ]
    blocks += _checkpoint_blocks(inputs)
    blocks += _judges_table(inputs, view)
    blocks += [Heading("Software versions")]
    blocks += _version_blocks(versions)
    blocks += reproduce_commands(inputs, ratings, report_argv)
    if ratings is None:
        blocks.append(
            Paragraph("No human evaluation in this report (no --ratings folder given).", "note")
        )
    blocks += _run_table(inputs)
    problems = list(inputs.problems) + (list(ratings.problems) if ratings else [])
    if problems:
        blocks += [Heading("Input problems"), *(Paragraph(p, "missing") for p in problems)]
    return Section("evaluated", "What was evaluated", tuple(blocks))
