"""Run folders -> study: reading, the comparison plan, the study CLI and its bad inputs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from he_helpers import ADMIN_TOKEN, CONDITIONS, make_study

from human_eval import schema
from human_eval.database import open_database
from human_eval.errors import HumanEvalError
from human_eval.store import VoteStore
from human_eval.study import main as study_main
from human_eval.study_conditions import load_condition, load_conditions


def _counts(url: str) -> dict[str, int]:
    db = open_database(url)
    with db.read() as conn:
        out = {
            name: conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
            for name, table in schema.metadata.tables.items()
            if name != "schema_migrations"
        }
    db.dispose()
    return out


def test_load_conditions_reads_conditions_in_order(sweep: Path) -> None:
    runs = load_conditions([sweep])
    assert [r.name for r in runs] == ["cfg@0", "cfg@3", "clip@1", "clip@2"]
    assert [(r.method, r.scale) for r in runs] == CONDITIONS
    assert all(len(r.images) == 6 and all(i.path.is_file() for i in r.images) for r in runs)


def test_truncated_last_manifest_line_is_ignored(sweep: Path) -> None:
    run = next((sweep / "runs").iterdir())
    with open(run / "manifest.jsonl", "a", encoding="utf-8") as f:
        f.write('{"index": 99, "capt')  # a writer killed mid-line
    assert len(load_condition(run).images) == 6


def test_create_study_cli_builds_the_paired_plan(sweep: Path, sqlite_url: str, capsys) -> None:
    rc = study_main(
        [
            "create",
            "--db",
            sqlite_url,
            "--name",
            "s1",
            str(sweep),
            "--invites",
            "3",
            "--gold-pairs",
            "4",
        ]
    )
    out = capsys.readouterr().out
    assert rc == 0
    assert "admin token (shown once, keep it):" in out
    assert out.count("invite: ?study=s1&invite=") == 3
    db = open_database(sqlite_url)
    store = VoteStore(db, "s1")
    regular = [c for c in store.comparisons.values() if not c.is_gold]
    assert len(regular) == 6 * 6  # 6 condition pairs x 6 captions
    assert store.n_gold == 4
    assert store.study.reference == "cfg@0"  # lowest guidance scale
    with db.read() as conn:
        images = {r.id: r for r in conn.execute(sa.select(schema.images)).all()}
        conds = {r.id: r for r in conn.execute(sa.select(schema.conditions)).all()}
    for comp in regular:
        a, b = images[comp.image_a], images[comp.image_b]
        assert a.caption == b.caption == comp.caption
        assert a.condition_id == comp.condition_a != comp.condition_b == b.condition_id
        assert Path(a.path).is_file() and Path(b.path).is_file()
        assert Path(a.path).parent.parent == Path(conds[a.condition_id].run_dir)
    pairs = {(c.condition_a, c.condition_b) for c in regular}
    assert len(pairs) == 6
    for comp in store.comparisons.values():
        if comp.is_gold:
            assert comp.gold_answer == "a"
            assert images[comp.image_a].kind == "sample"
            assert images[comp.image_b].kind == "gold_degraded"
            assert images[comp.image_b].png[:8] == b"\x89PNG\r\n\x1a\n"
    db.dispose()


def test_reference_is_the_unguided_model_when_there_is_one(tmp_path: Path) -> None:
    from human_eval.create import choose_reference
    from human_eval.fake_sweep import make_sweep

    make_sweep(tmp_path / "s", [("cfg", 0.0), ("cfg", 1.0), ("clip", 2.0)], n_captions=2)
    runs = load_conditions([tmp_path / "s"])
    assert choose_reference(runs, None) == "cfg@1"  # conditional model without guidance
    assert choose_reference(runs, "clip@2") == "clip@2"
    with pytest.raises(HumanEvalError, match=r"choose from \['cfg@0', 'cfg@1', 'clip@2'\]"):
        choose_reference(runs, "cfg@5")
    # several generators: the method reads "<generator>/cfg"; the unguided model still anchors
    from dataclasses import replace

    named = [replace(r, method=f"tiny-sd/{r.method}", name=f"tiny-sd {r.name}") for r in runs]
    assert choose_reference(named, None) == "tiny-sd cfg@1"


def test_max_captions_limits_the_plan(sweep: Path, sqlite_url: str) -> None:
    made = make_study(sqlite_url, sweep, max_captions=2, gold_pairs=0)
    assert made.n_comparisons == 6 * 2 and made.n_gold == 0


def _assert_create_fails(argv: list[str], words: str, capsys) -> None:
    assert study_main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and words in err, err


def test_run_folder_without_manifest(sweep: Path, tmp_path: Path, capsys) -> None:
    run = next((sweep / "runs").iterdir())
    (run / "manifest.jsonl").unlink()
    db_path = tmp_path / "v.db"
    _assert_create_fails(
        ["create", "--db", f"sqlite:///{db_path}", "--name", "s", str(sweep)],
        "manifest.jsonl",
        capsys,
    )
    assert not db_path.exists()


def test_images_missing_on_disk(sweep: Path, tmp_path: Path, capsys) -> None:
    run = sorted((sweep / "runs").iterdir())[1]
    (run / "images" / "00003.png").unlink()
    db_path = tmp_path / "v.db"
    _assert_create_fails(
        ["create", "--db", f"sqlite:///{db_path}", "--name", "s", str(sweep)],
        "missing on disk",
        capsys,
    )
    assert not db_path.exists()


def test_malformed_db_url_writes_nothing(sweep: Path, tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    _assert_create_fails(
        ["create", "--db", "votes.db", "--name", "s", str(sweep)], "malformed database URL", capsys
    )
    _assert_create_fails(
        ["create", "--db", "sqlite+nope:///v.db", "--name", "s", str(sweep)],
        "SQLite driver",
        capsys,
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sweep"]


def test_other_bad_runs(sweep: Path, tmp_path: Path, capsys) -> None:
    url = f"sqlite:///{tmp_path / 'v.db'}"
    one = next((sweep / "runs").iterdir())
    _assert_create_fails(["create", "--db", url, "--name", "s", str(one)], "at least two", capsys)
    _assert_create_fails(
        ["create", "--db", url, "--name", "s", str(tmp_path / "nothing")], "not a folder", capsys
    )
    dup = tmp_path / "dup"
    shutil.copytree(one, dup)
    _assert_create_fails(
        ["create", "--db", url, "--name", "s", str(one), str(dup)], "appears twice", capsys
    )
    spec = json.loads((dup / "spec.json").read_text())
    spec["scale"], spec["label"] = 9.0, "cfg@9"
    (dup / "spec.json").write_text(json.dumps(spec))
    (dup / "manifest.jsonl").write_text(
        json.dumps(
            {
                "index": 0,
                "caption_id": 0,
                "caption": "something else entirely",
                "seed": 0,
                "file": "images/00000.png",
            }
        )
        + "\n"
    )
    _assert_create_fails(
        ["create", "--db", url, "--name", "s", str(one), str(dup)], "share no caption", capsys
    )
    (dup / "spec.json").write_text("{not json")
    _assert_create_fails(
        ["create", "--db", url, "--name", "s", str(one), str(dup)], "not valid JSON", capsys
    )
    assert not (tmp_path / "v.db").exists()


def test_taken_name_and_bad_reference_change_nothing(sweep: Path, sqlite_url: str, capsys) -> None:
    make_study(sqlite_url, sweep, name="s")
    before = _counts(sqlite_url)
    _assert_create_fails(
        ["create", "--db", sqlite_url, "--name", "s", str(sweep)], "already exists", capsys
    )
    _assert_create_fails(
        ["create", "--db", sqlite_url, "--name", "t", str(sweep), "--reference", "cfg@7"],
        "not a condition",
        capsys,
    )
    assert _counts(sqlite_url) == before


def test_unknown_study_is_named(sweep: Path, sqlite_url: str, tmp_path: Path, capsys) -> None:
    make_study(sqlite_url, sweep, name="real")
    before = _counts(sqlite_url)
    for argv in (
        ["invite", "--db", sqlite_url, "--study", "nope"],
        ["export", "--db", sqlite_url, "--study", "nope", "--out", str(tmp_path / "v.csv")],
        ["exclude", "--db", sqlite_url, "--study", "nope", "--rater", "x"],
    ):
        _assert_create_fails(argv, "no study named 'nope'", capsys)
    assert not (tmp_path / "v.csv").exists()
    assert _counts(sqlite_url) == before
    with pytest.raises(HumanEvalError, match=r"studies there: \['real'\]"):
        VoteStore(open_database(sqlite_url), "nope")


def test_list_invite_exclude_export(sweep: Path, sqlite_url: str, tmp_path: Path, capsys) -> None:
    make_study(sqlite_url, sweep, name="s", gold_pairs=0)
    assert study_main(["list", "--db", sqlite_url]) == 0
    assert capsys.readouterr().out.split() == ["s"]
    assert study_main(["invite", "--db", sqlite_url, "--study", "s", "--n", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    token = lines[0].split("invite=")[1].split()[0]
    assert "(rater name invite-" in lines[0]
    db = open_database(sqlite_url)
    store = VoteStore(db, "s")
    rater = store.join_by_invite(token)
    for _ in range(3):
        task = store.next_task(rater.id)
        store.record_vote(rater.id, task.assignment_id, "left")
    assert (
        study_main(
            [
                "exclude",
                "--db",
                sqlite_url,
                "--study",
                "s",
                "--rater",
                rater.name,
                "--reason",
                "asleep",
            ]
        )
        == 0
    )
    assert store.rater_by_key(rater.key).excluded
    _assert_create_fails(
        ["exclude", "--db", sqlite_url, "--study", "s", "--rater", "ghost"],
        "no rater named 'ghost'",
        capsys,
    )
    for ext in ("csv", "parquet"):
        out = tmp_path / f"votes.{ext}"
        assert study_main(["export", "--db", sqlite_url, "--study", "s", "--out", str(out)]) == 0
        df = pd.read_csv(out) if ext == "csv" else pd.read_parquet(out)
        assert len(df) == 3 and set(df["choice"]) == {"left"}
        assert df["rater_excluded"].all()
    _assert_create_fails(
        ["export", "--db", sqlite_url, "--study", "s", "--out", str(tmp_path / "v.xlsx")],
        ".parquet",
        capsys,
    )
    assert study_main(["include", "--db", sqlite_url, "--study", "s", "--rater", rater.name]) == 0
    assert not store.rater_by_key(rater.key).excluded
    db.dispose()
    assert ADMIN_TOKEN


def test_links_are_url_encoded_and_db_comes_from_the_environment(
    sweep: Path, sqlite_url: str, capsys, monkeypatch
) -> None:
    from urllib.parse import parse_qs, urlparse

    monkeypatch.setenv("HUMAN_EVAL_DB", sqlite_url)
    name = "cfg & clip #1?"
    assert study_main(["create", "--name", name, str(sweep), "--invites", "1"]) == 0
    out = capsys.readouterr().out
    link = next(line for line in out.splitlines() if line.startswith("invite: "))
    query = parse_qs(urlparse(link.split()[1]).query)
    assert query["study"] == [name] and len(query["invite"][0]) >= 16
    assert sqlite_url not in out  # the URL (and any password in it) is not echoed
    assert study_main(["list"]) == 0
    assert capsys.readouterr().out.strip() == name
    monkeypatch.delenv("HUMAN_EVAL_DB")
    _assert_create_fails(["list"], "HUMAN_EVAL_DB", capsys)


def test_configure_changes_the_flagging_rule_and_checks_it(
    sweep: Path, sqlite_url: str, capsys
) -> None:
    make_study(sqlite_url, sweep, name="s")
    argv = ["configure", "--db", sqlite_url, "--study", "s"]
    assert study_main(argv + ["--gold-min-accuracy", "0.6", "--gold-min-answered", "2"]) == 0
    out = capsys.readouterr().out
    assert "gold_min_accuracy: 0.8 -> 0.6" in out and "below 60% after at least 2" in out
    assert study_main(argv + ["--public", "yes", "--overlap-rate", "0.3"]) == 0
    capsys.readouterr()
    db = open_database(sqlite_url)
    cfg = VoteStore(db, "s").study.config
    assert (cfg.gold_min_accuracy, cfg.gold_min_answered, cfg.public, cfg.overlap_rate) == (
        0.6,
        2,
        True,
        0.3,
    )
    db.dispose()
    assert study_main(["list", "--db", sqlite_url]) == 0
    assert capsys.readouterr().out.strip() == "s  (public)"
    _assert_create_fails(argv + ["--gold-min-accuracy", "1.5"], "--gold-min-accuracy", capsys)
    _assert_create_fails(argv + ["--overlap-rate", "0.95"], "must stay below 1", capsys)
    _assert_create_fails(argv, "at least one setting", capsys)
