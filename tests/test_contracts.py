"""CONTRACTS.md against the code: the writers write every key and column the document lists,
and the three readers (bench.run_contract, human_eval's study creation, reports.inputs) read
the same runs, images, captions and seeds, and treat the manifest's edge cases as documented.

The sweep is a real one (``python -m bench.sweep`` with the toy generator and a tiny random
feature extractor), the study and its ratings come from real votes in a SQLite database.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from bench.run_contract import (
    MANIFEST_KEYS,
    RESULT_COLUMNS,
    RunContractError,
    read_run,
    read_sweep,
)
from bench.runfolder import RunFolder
from bench.spec import RunSpec
from bench.sweep import main as sweep_main
from human_eval import schema
from human_eval.create import StudyConfig, create_study
from human_eval.database import open_database
from human_eval.errors import HumanEvalError
from human_eval.ratings.cli import main as ratings_main
from human_eval.store import VoteStore
from human_eval.study_conditions import load_conditions
from reports.inputs import load_ratings, load_sweep

REPO = Path(__file__).resolve().parents[1]
CONTRACTS = REPO / "CONTRACTS.md"
N = 6


def _bench_fixtures():
    """tests/bench/conftest.py as a module (its tiny COCO set and feature extractor)."""
    spec = importlib.util.spec_from_file_location(
        "bench_test_fixtures", REPO / "tests" / "bench" / "conftest.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def doc_tables() -> dict[str, list[str]]:
    """``### heading`` -> the backticked names in the first column of its table."""
    tables: dict[str, list[str]] = {}
    heading = None
    for line in CONTRACTS.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            heading = line.lstrip("#").strip() if line.startswith("### ") else None
            continue
        match = re.match(r"^\|\s*`([^`]+)`\s*\|", line)
        if heading and match:
            tables.setdefault(heading, []).append(match.group(1))
    return tables


def doc_sections() -> list[str]:
    return [
        line[3:].strip()
        for line in CONTRACTS.read_text(encoding="utf-8").splitlines()
        if line.startswith("## ")
    ]


# -- the folders, written by the real writers ----------------------------------------------------
@pytest.fixture(scope="module")
def made(tmp_path_factory) -> Path:
    """``root/sweep``: a toy sweep of cfg and clip at scales 1 and 3, N images each, scored with
    FID, precision and recall."""
    fixtures = _bench_fixtures()
    root = tmp_path_factory.mktemp("contracts")
    captions, images = fixtures.make_coco(root / "coco", n_images=8)
    extractor = fixtures.register_test_extractor()
    argv = [
        "--generator", "toy", "--coco-captions", str(captions), "--coco-images", str(images),
        "--num-samples", str(N), "--steps", "2", "--batch-size", "4", "--method", "cfg,clip",
        "--scales", "1,3", "--metrics", "fid,precision,recall", "--extractor", extractor,
        "--fid-splits", "2",
        "--out", str(root / "sweep"), "--cache-dir", str(root / "cache"), "--no-progress",
    ]  # fmt: skip
    assert sweep_main(argv) == 0
    return root


@pytest.fixture()
def sweep(made: Path, tmp_path: Path) -> Path:
    """A private copy of the toy sweep, for tests that damage it."""
    return Path(shutil.copytree(made / "sweep", tmp_path / "sweep"))


def _first_run(sweep: Path) -> Path:
    return sorted((sweep / "runs").iterdir())[0]


def _study_images(url: str) -> set[tuple]:
    db = open_database(url)
    try:
        with db.read() as conn:
            rows = conn.execute(
                sa.select(
                    schema.conditions.c.name,
                    schema.images.c.caption_id,
                    schema.images.c.caption,
                    schema.images.c.seed,
                    schema.images.c.path,
                )
                .join(schema.conditions, schema.images.c.condition_id == schema.conditions.c.id)
                .where(schema.images.c.kind == "sample")
            ).all()
    finally:
        db.dispose()
    return {(n, str(c), cap, s, str(Path(p).resolve())) for n, c, cap, s, p in rows}


def _create_study(sweep: Path, url: str) -> None:
    db = open_database(url, create=True)
    try:
        create_study(db, "study", load_conditions([sweep]), StudyConfig(gold_pairs=2))
    finally:
        db.dispose()


# -- the document against the writers -----------------------------------------------------------
def test_code_cites_only_sections_that_exist() -> None:
    sections = set(doc_sections())
    cited = []
    for package in ("bench", "human_eval", "reports", "tests"):
        for path in (REPO / package).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            cited += [
                " ".join(c.split()) for c in re.findall(r'CONTRACTS(?:\.md)? "([^"]+)"', text)
            ]
    assert cited, "no code cites CONTRACTS.md sections any more"
    assert set(cited) <= sections, (
        f"cited sections missing from CONTRACTS.md: {set(cited) - sections}"
    )


def test_run_and_sweep_files_hold_exactly_the_documented_keys(made: Path) -> None:
    doc = doc_tables()
    sweep = made / "sweep"
    record = json.loads((sweep / "sweep.json").read_text())
    assert set(record) == set(doc["sweep.json keys"])
    assert set(record["protocol"]) == set(doc["sweep.json protocol keys"])
    assert all(set(r) == set(doc["sweep.json runs keys"]) for r in record["runs"])
    assert all(set(r) == set(doc["sweep.json invocations keys"]) for r in record["invocations"])
    runs = sorted((sweep / "runs").iterdir())
    assert len(runs) == 4 == len(record["runs"])
    for run in runs:
        spec = json.loads((run / "spec.json").read_text())
        assert set(spec) == set(doc["spec.json keys"])
        assert set(record["settings"]) == set(spec) - {
            "run_id", "label", "spec_version", "method", "scale"
        }  # fmt: skip
        lines = (run / "manifest.jsonl").read_text().splitlines()
        assert len(lines) == N and all(set(json.loads(x)) == set(MANIFEST_KEYS) for x in lines)
        assert sorted((run / "images").glob("*.png")) == [
            run / "images" / f"{i:05d}.png" for i in range(N)
        ]
        cost = json.loads((run / "cost.json").read_text())
        assert set(cost) == set(doc["cost.json keys"])
        metrics = json.loads((run / "metrics.json").read_text())
        assert set(metrics) == set(doc["metrics.json keys"])
        for entry in metrics["metrics"].values():
            assert set(entry) == set(doc["metrics.json metric keys"])
    assert list(MANIFEST_KEYS) == doc["manifest.jsonl keys"]
    table = pd.read_csv(sweep / "results.csv")
    assert doc["results columns"] == list(RESULT_COLUMNS)
    written = doc["results columns"] + doc["results run columns"]
    assert list(table.columns) == written
    assert list(pd.read_parquet(sweep / "results.parquet").columns) == written
    assert len(table) == 4 * 3  # one row per (run, metric): four runs, three metrics
    assert {(r.run_id, r.metric) for r in table.itertuples()} == {
        (run.name, m) for run in runs for m in ("fid", "precision", "recall")
    }
    # the other two plots need IS and CLIP score: a plot without its metrics is not drawn
    assert {p.name for p in (sweep / "plots").iterdir()} == {
        "pareto_pr.png", "pareto_pr.svg", "frontier_fid_cost.png", "frontier_fid_cost.svg"
    }  # fmt: skip
    assert {p.name for p in (sweep / "grids").iterdir()} == {"cfg.png", "clip.png"}


def test_results_missing_values_stay_missing(sweep: Path) -> None:
    """A NaN value with its note reads back as NaN in every reader (never 0)."""
    path = sweep / "results.csv"
    table = pd.read_csv(path)
    table.loc[0, ["value", "ci_low", "ci_high"]] = float("nan")
    table.loc[0, "notes"] = "NA: no value (fewer images than one split)"
    table.to_csv(path, index=False)
    bench_table = read_sweep(sweep).results
    report_table = load_sweep(sweep).results
    for got in (bench_table, report_table):
        assert np.isnan(got.loc[0, "value"]) and np.isnan(got.loc[0, "ci_low"])
        assert got.loc[0, "notes"].startswith("NA: no value")
        assert got["value"].iloc[1:].notna().all() and (got["value"] != 0).all()
    table.drop(columns=["resize"]).to_csv(path, index=False)
    with pytest.raises(RunContractError, match="resize"):
        read_sweep(sweep)


def test_ratings_output_holds_exactly_the_documented_columns(
    made: Path, tmp_path: Path, capsys
) -> None:
    url = f"sqlite:///{tmp_path / 'votes.db'}"
    _create_study(made / "sweep", url)
    db = open_database(url)
    store = VoteStore(db, "study")
    rng = np.random.default_rng(0)
    for r in range(3):
        rater = store.join_by_name(f"rater{r}")
        for _ in range(40):
            task = store.next_task(rater.id)
            if task is None:
                break
            choice = str(rng.choice(["left", "right", "tie"]))
            assert store.record_vote(rater.id, task.assignment_id, choice)
    db.dispose()
    out = tmp_path / "ratings"
    argv = ["--db", url, "--study", "study", "--out", str(out), "--bootstrap", "10"]
    assert ratings_main(argv) == 0, capsys.readouterr().err
    doc = doc_tables()
    for name in ("ratings", "winrates", "agreement", "raters"):
        written = pd.read_csv(out / f"{name}.csv")
        assert list(written.columns) == doc[f"{name}.csv columns"], name
    meta = json.loads((out / "ratings.json").read_text())
    assert set(meta) == set(doc["ratings.json keys"])
    names = sorted(run.label for run in read_sweep(made / "sweep").runs)
    for question in meta["questions"]:
        matrix = pd.read_csv(out / f"winrate_{question}.csv", index_col=0)
        assert sorted(matrix.index) == sorted(matrix.columns) == names
        assert matrix.to_numpy().diagonal().tolist() == pytest.approx([np.nan] * 4, nan_ok=True)
        for ext in ("png", "svg"):
            assert (out / "plots" / f"rating_vs_scale_{question}.{ext}").is_file()
    run_ids = {run.run_id for run in read_sweep(made / "sweep").runs}
    assert {c["run_id"] for c in meta["conditions"]} == run_ids
    inputs = load_ratings(out)
    assert inputs.problems == ()
    assert set(inputs.winrates) == set(meta["questions"])
    assert set(inputs.ratings["condition"]) == set(names)


# -- the three readers read the same thing ----------------------------------------------------
def _bench_view(sweep: Path) -> set[tuple]:
    return {
        (run.label, image.caption_id, image.caption, image.seed, str(image.path))
        for run in read_sweep(sweep).runs
        for image in run.images
    }


def _report_view(sweep: Path) -> set[tuple]:
    return {
        (
            run.label,
            str(rec["caption_id"]),
            rec["caption"],
            rec["seed"],
            str(run.path / rec["file"]),
        )
        for run in load_sweep(sweep).runs
        for rec in run.samples.values()
    }


def test_three_readers_read_the_same_runs(sweep: Path, tmp_path: Path) -> None:
    contents = read_sweep(sweep)
    assert contents.problems == ()
    assert [r.label for r in contents.runs] == ["cfg@1", "cfg@3", "clip@1", "clip@3"]
    record = json.loads((sweep / "sweep.json").read_text())
    assert {(r["run_id"], r["label"], r["num_images"]) for r in record["runs"]} == {
        (r.run_id, r.label, len(r.images)) for r in contents.runs
    }
    for run in contents.runs:
        # the writer's own view of the folder: the same samples as the reader's
        folder = RunFolder(sweep, RunSpec.from_json(run.spec))
        assert folder.path == run.path and folder.is_complete() and run.complete
        assert folder.read_manifest() == run.samples
    bench = _bench_view(sweep)
    assert len(bench) == 4 * N
    assert len({(c, cap, s) for _, c, cap, s, _ in bench}) == N  # paired: same captions and seeds
    url = f"sqlite:///{tmp_path / 'v.db'}"
    _create_study(sweep, url)
    assert _study_images(url) == bench
    assert _report_view(sweep) == bench
    assert load_sweep(sweep).problems == ()


# -- the edge cases of CONTRACTS "Run folders" ----------------------------------------------------
def _append(run: Path, text: str) -> None:
    with open(run / "manifest.jsonl", "a", encoding="utf-8") as handle:
        handle.write(text)


def test_truncated_last_line_is_ignored_by_every_reader(sweep: Path, tmp_path: Path) -> None:
    before = _bench_view(sweep)
    _append(_first_run(sweep), '{"index": 0, "caption": "half a rec')
    assert _bench_view(sweep) == before == _report_view(sweep)
    assert read_sweep(sweep).problems == () and load_sweep(sweep).problems == ()
    url = f"sqlite:///{tmp_path / 'v.db'}"
    _create_study(sweep, url)
    assert _study_images(url) == before


def test_duplicate_index_counts_once_first_record_wins(sweep: Path, tmp_path: Path) -> None:
    before = _bench_view(sweep)
    run = _first_run(sweep)
    first = json.loads((run / "manifest.jsonl").read_text().splitlines()[2])
    _append(run, json.dumps({**first, "caption": "a later record of index 2", "seed": 1}) + "\n")
    assert _bench_view(sweep) == before == _report_view(sweep)
    assert len(read_run(run).images) == N
    url = f"sqlite:///{tmp_path / 'v.db'}"
    _create_study(sweep, url)
    assert _study_images(url) == before


def test_missing_image_strict_readers_refuse_tolerant_ones_leave_it_out(sweep: Path) -> None:
    run = _first_run(sweep)
    (run / "images" / "00003.png").unlink()
    with pytest.raises(RunContractError, match=r"missing on disk \(images/00003.png\)"):
        read_run(run)
    with pytest.raises(RunContractError, match="00003.png"):
        read_sweep(sweep)
    with pytest.raises(HumanEvalError, match=r"missing on disk \(images/00003.png\)"):
        load_conditions([sweep])
    tolerant = read_run(run, strict=False)
    assert [i.index for i in tolerant.images] == [0, 1, 2, 4, 5] and not tolerant.complete
    inputs = load_sweep(sweep)
    (report_run,) = [r for r in inputs.runs if r.path == run]
    assert sorted(report_run.samples) == [0, 1, 2, 4, 5]
    assert any(run.name in p and "00003.png" in p for p in inputs.problems)
    folder = RunFolder(sweep, RunSpec.from_json(tolerant.spec))
    assert sorted(folder.read_manifest()) == [0, 1, 2, 4, 5] and not folder.is_complete()


def test_missing_spec_json_strict_readers_refuse_tolerant_ones_leave_the_run_out(
    sweep: Path,
) -> None:
    run = _first_run(sweep)
    (run / "spec.json").unlink()
    for read in (
        lambda: read_run(run),
        lambda: read_run(run, strict=False),
        lambda: read_sweep(sweep),
    ):
        with pytest.raises(RunContractError, match="spec.json: missing"):
            read()
    with pytest.raises(HumanEvalError, match="spec.json: missing"):
        load_conditions([sweep])
    assert len(read_sweep(sweep, strict=False).runs) == 3
    inputs = load_sweep(sweep)
    assert run not in [r.path for r in inputs.runs] and len(inputs.runs) == 3
    assert any(run.name in p and "spec.json" in p for p in inputs.problems)


def test_malformed_line_strict_readers_name_the_line(sweep: Path) -> None:
    run = _first_run(sweep)
    _append(run, '{"index": "seven", "caption": "x", "file": "images/00000.png"}\n')
    with pytest.raises(RunContractError, match=f"manifest.jsonl: line {N + 1} "):
        read_run(run)
    with pytest.raises(HumanEvalError, match=f"line {N + 1}"):
        load_conditions([sweep])
    assert len(read_run(run, strict=False).images) == N
    inputs = load_sweep(sweep)
    assert any(f"line {N + 1}" in p for p in inputs.problems)
    assert all(len(r.samples) == N for r in inputs.runs)


def test_missing_sweep_json(sweep: Path) -> None:
    (sweep / "sweep.json").unlink()
    with pytest.raises(RunContractError, match="sweep.json: missing"):
        read_sweep(sweep)
    assert read_sweep(sweep, strict=False).sweep is None
    inputs = load_sweep(sweep)
    assert inputs.sweep == {} and len(inputs.runs) == 4
    assert any(p.startswith("sweep.json: absent") for p in inputs.problems)
    assert len(load_conditions([sweep])) == 4  # a study needs only the run folders
