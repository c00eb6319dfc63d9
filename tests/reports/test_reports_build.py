"""reports.build: the CLI, its errors, and reports of incomplete or partly scored sweeps."""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
from html import unescape

import pandas as pd
import pytest
from PIL import Image
from report_fakes import make_ratings, make_sweep

from reports.assemble import build_document
from reports.blocks import Figure, FigureRow, ImageGrid, Paragraph, Table
from reports.build import build_report, main
from reports.inputs import load_sweep


def _tiny(tmp_path, **kw):
    kw.setdefault("scales", (1.0, 3.0))
    kw.setdefault("captions", ["a red square", "a blue circle"])
    return make_sweep(tmp_path / "sweep", **kw)


def _cells(table: Table) -> list[str]:
    return [c.text for row in table.rows for c in row]


def test_main_writes_both_files_and_prints_them(tmp_path, capsys):
    sweep = _tiny(tmp_path)
    out = tmp_path / "out"
    assert main(["--sweep", str(sweep), "--out", str(out), "--grid-rows", "1"]) == 0
    printed = capsys.readouterr().out
    assert str(out / "report.html") in printed and str(out / "report.pdf") in printed
    assert (out / "report.pdf").read_bytes().startswith(b"%PDF")
    html = (out / "report.html").read_text(encoding="utf-8")
    assert 'id="human"' not in html  # no --ratings: no human-evaluation section
    assert sorted(p.name for p in out.iterdir()) == ["report.html", "report.pdf"]  # no temps
    # the exact command that made the report is in it, and reads back exactly from the page
    commands = [
        unescape(re.sub(r"<[^>]+>", "", block))
        for block in re.findall(r'<pre class="code">(.*?)</pre>', html, flags=re.S)
    ]
    assert f"python -m reports.build --sweep {sweep} --out {out} --grid-rows 1" in commands
    assert any(c.startswith("python -m bench.sweep --method cfg,clip") for c in commands)


@pytest.mark.parametrize(
    ("setup", "args", "message"),
    [
        (None, ["--sweep", "{tmp}/nope"], "--sweep: "),
        ("empty", ["--sweep", "{tmp}/empty"], "holds neither sweep.json nor runs/"),
        ("badcsv", ["--sweep", "{tmp}/sweep"], "lacks the columns ['ci_low'"),
        ("sweep", ["--sweep", "{tmp}/sweep", "--ratings", "{tmp}/empty"], "--ratings: "),
        ("sweep", ["--sweep", "{tmp}/sweep", "--grid-rows", "0"], "--grid-rows: 0"),
        ("outfile", ["--sweep", "{tmp}/sweep", "--out", "{tmp}/file"], "--out: "),
    ],
)
def test_user_errors_exit_2_with_a_message(tmp_path, capsys, setup, args, message):
    if setup in ("sweep", "badcsv", "outfile"):
        _tiny(tmp_path)
    if setup == "badcsv":
        path = tmp_path / "sweep" / "results.csv"
        pd.read_csv(path).drop(columns=["ci_low"]).to_csv(path, index=False)
    (tmp_path / "empty").mkdir()
    (tmp_path / "file").write_text("x")
    argv = [a.replace("{tmp}", str(tmp_path)) for a in args]
    if "--out" not in argv:
        argv += ["--out", str(tmp_path / "out")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err


def test_sweep_without_results_says_nothing_was_computed(tmp_path):
    sweep = _tiny(tmp_path, results=False)
    report = build_document(load_sweep(sweep), None)
    table = next(b for b in report.section("metrics").blocks if isinstance(b, Table))
    metric_cells = [c for row in table.rows for c in row[2:]]
    assert metric_cells and all(c.missing for c in metric_cells)
    assert all(
        c.text.startswith("not computed: the sweep has no results table") for c in metric_cells
    )
    pareto = [b.text for b in report.section("pareto").blocks if isinstance(b, Paragraph)]
    assert sum("not drawn" in t for t in pareto) == 3
    findings = report.section("findings").blocks[2].items
    assert findings[0] == "Precision vs recall: not compared: Recall and Precision not computed."


def test_incomplete_run_and_nan_without_note(tmp_path):
    sweep = _tiny(tmp_path, incomplete={"clip@3": 1})
    path = sweep / "results.csv"
    table = pd.read_csv(path)
    row = (table["label"] == "cfg@3") & (table["metric"] == "is")
    table.loc[row, ["value", "notes"]] = [float("nan"), ""]
    table.to_csv(path, index=False)
    report = build_document(load_sweep(sweep), None)
    metrics = next(b for b in report.section("metrics").blocks if isinstance(b, Table))
    by_run = {(r[0].text, r[1].text): r for r in metrics.rows}
    assert by_run[("clip", "3")][2].text == (
        "not computed: run incomplete (1 of 2 images), so it was not scored"
    )
    is_col = metrics.header.index("Inception Score ↑")
    assert by_run[("cfg", "3")][is_col].text == "not computed: no reason recorded"
    assert by_run[("cfg", "3")][is_col].missing
    runs = next(
        b
        for b in report.section("evaluated").blocks
        if isinstance(b, Table) and b.header[0] == "run"
    )
    assert ["clip@3", "1 / 2", "incomplete"] == [runs.rows[3][i].text for i in (0, 2, 3)]
    # the grid shows captions every run finished: only caption 0
    grids = [b for b in report.section("grids").blocks if isinstance(b, ImageGrid)]
    assert [len(g.rows) for g in grids] == [1, 1]


def _png(color: str, size=(40, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def test_sweep_plots_and_grids_are_used_when_present(tmp_path):
    sweep = _tiny(tmp_path)
    (sweep / "plots").mkdir()
    own = _png("red")
    (sweep / "plots" / "pareto_pr.png").write_bytes(own)
    report = build_document(load_sweep(sweep), None)
    (row,) = [b for b in report.section("pareto").blocks if isinstance(b, FigureRow)]
    sources = [f.source for f in row.figures]
    assert sources[0] == "plots/pareto_pr.png of the sweep" and row.figures[0].png == own
    assert all(s.startswith("drawn for this report") for s in sources[1:])

    # run images gone (say, a copied sweep without runs' images): the sweep's grids/ is used
    for manifest in sweep.glob("runs/*/manifest.jsonl"):
        manifest.write_text("")
    (sweep / "grids").mkdir()
    grid = _png("blue", (300, 100))
    (sweep / "grids" / "cfg.png").write_bytes(grid)
    report = build_document(load_sweep(sweep), None)
    blocks = report.section("grids").blocks[1:]
    assert isinstance(blocks[0], Figure) and blocks[0].png == grid
    assert isinstance(blocks[1], Paragraph) and "no finished samples" in blocks[1].text


def test_html_embeds_the_sweep_png_bytes(tmp_path):
    sweep = _tiny(tmp_path)
    (sweep / "plots").mkdir()
    own = _png("green")
    (sweep / "plots" / "pareto_clip_fid.png").write_bytes(own)
    paths = build_report(sweep, None, tmp_path / "out", grid_rows=1)
    html = paths.html.read_text(encoding="utf-8")
    assert base64.b64encode(own).decode() in html


def test_ratings_with_unrated_condition_show_the_reason(tmp_path):
    sweep = _tiny(tmp_path)
    conditions = [("cfg@1", "cfg", 1.0), ("cfg@3", "cfg", 3.0), ("clip@3", "clip", 3.0)]
    ratings = make_ratings(
        tmp_path / "ratings", conditions, nan_conditions=["clip@3"], questions=["caption"]
    )
    meta = json.loads((ratings / "ratings.json").read_text())
    meta["notes"] = {"caption": ["no chain of votes links ['clip@3'] to the reference"]}
    (ratings / "ratings.json").write_text(json.dumps(meta))
    from reports.inputs import load_ratings

    report = build_document(load_sweep(sweep), load_ratings(ratings))
    tables = [b for b in report.section("human").blocks if isinstance(b, Table)]
    cells = _cells(tables[0])
    assert "not computed: no chain of votes links ['clip@3'] to the reference" in cells
    assert "undefined: no item rated twice, or one answer only" in _cells(tables[2])


def test_runs_without_sweep_json_still_report_their_settings(tmp_path):
    sweep = _tiny(tmp_path)
    (sweep / "sweep.json").unlink()
    report = build_document(load_sweep(sweep), None)
    kv = report.section("evaluated").blocks[0]
    facts = dict(kv.rows)
    assert facts["Sampler"] == "ancestral" and facts["Resolution"] == "64x64"  # from spec.json
    assert facts["Paper parity"] == "not recorded (sweep.json lacks it)"
    problems = [b.text for b in report.section("evaluated").blocks if isinstance(b, Paragraph)]
    assert any(p.startswith("sweep.json: absent; settings come from") for p in problems)
    assert "Sweep command: not recorded (sweep.json lacks it)." in problems


def test_checkpoint_table_lists_every_file_of_a_clip_guided_generator():
    """The noised CLIP records one sha256 per encoder ({"image": ..., "text": ...}); each must
    get a row of the Checkpoints table, with its file, as the base does."""
    from glide.pipeline import Text2ImPipeline
    from reports.evaluated import find_hashes

    description = Text2ImPipeline.from_checkpoints(clip=True, progress=False).describe()
    rows = {name: (sha, file) for name, sha, file in find_hashes(description)}
    assert set(rows) == {"base", "clip-image-enc", "clip-text-enc"}
    assert rows["base"] == (description["base"]["sha256"], description["base"]["file"])
    for part in ("image", "text"):
        sha, file = rows[f"clip-{part}-enc"]
        assert sha == description["clip"]["sha256"][f"clip-{part}-enc"]
        assert file == description["clip"]["files"][f"clip-{part}-enc"]
        assert file.endswith(f"clip_{part}_enc.pt")
    # a part name that does not say whose it is gets the owner's name
    other = {"clip": {"files": {"image": "i.pt"}, "sha256": {"image": "ab" * 32}}}
    assert find_hashes(other) == [("clip (image)", "ab" * 32, "i.pt")]


def test_guidance_interval_runs_get_their_own_grid_and_grid_file(tmp_path):
    # a sweep with full-range and interval runs of the same (method, scale): before, the grid
    # section raised StopIteration on the interval grid file's stem (cfg_sigma_0.3_3)
    sweep = _tiny(tmp_path, methods=("cfg",))
    for run in [p for p in (sweep / "runs").iterdir() if p.name != "real-images"]:
        copy = sweep / "runs" / f"gi{run.name}"
        shutil.copytree(run, copy)
        spec = json.loads((copy / "spec.json").read_text())
        spec.update(guidance_interval=[0.3, 3.0], run_id=copy.name)
        (copy / "spec.json").write_text(json.dumps(spec))
    (sweep / "grids").mkdir()
    full, limited = _png("blue", (300, 100)), _png("green", (300, 100))
    (sweep / "grids" / "cfg.png").write_bytes(full)
    (sweep / "grids" / "cfg_sigma_0.3_3.png").write_bytes(limited)
    inputs = load_sweep(sweep)
    assert set(inputs.grids) == {"cfg", "cfg sigma[0.3,3]"}
    grids = [b for b in build_document(inputs, None).section("grids").blocks]
    titles = [g.title for g in grids if isinstance(g, ImageGrid)]
    assert titles == [
        "classifier-free guidance (cfg)",
        "classifier-free guidance, guided at sigma in [0.3,3] (cfg sigma[0.3,3])",
    ]
    # run images gone: each series shows its own grids/ file, named as on disk
    for manifest in sweep.glob("runs/*/manifest.jsonl"):
        manifest.write_text("")
    figures = [
        b for b in build_document(load_sweep(sweep), None).section("grids").blocks
        if isinstance(b, Figure)
    ]  # fmt: skip
    assert [(f.png, f.source) for f in figures] == [
        (full, "grids/cfg.png"), (limited, "grids/cfg_sigma_0.3_3.png"),
    ]  # fmt: skip
