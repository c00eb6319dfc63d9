"""Many concurrent raters against one database: nothing lost, nothing duplicated.

20 raters vote for a full minute on each back-end (SQLite, and PostgreSQL where a server can
start), as CI runs it; ``pytest tests/human_eval/test_he_load.py -s`` shows the votes per
second.
"""

from __future__ import annotations

from pathlib import Path

from human_eval.database import open_database
from human_eval.loadtest import create_load_study, run_load
from human_eval.loadtest import main as load_main


def _load(url: str, tmp_path: Path, seconds: float, raters: int = 20) -> None:
    db = open_database(url, create=True)
    try:
        study = create_load_study(db, "load", tmp_path / "sweep")
        result = run_load(db, study, raters=raters, seconds=seconds)
    finally:
        db.dispose()
    print(
        f"\n{url.split(':')[0]}: {raters} raters for {result.seconds:.1f} s: "
        f"{result.confirmed} votes, {result.votes_per_s:.1f} votes/s, lost {result.lost}, "
        f"duplicated {result.duplicated}, {result.double_submits} concurrent double clicks, "
        f"{result.overlaps} overlap and {result.repeats} repeat votes"
    )
    assert not result.errors, result.errors
    assert result.confirmed > 0 and result.double_submits > 0
    assert result.lost == 0 and result.duplicated == 0 and result.unexpected == 0
    assert result.double_submits_recorded_twice == 0
    assert result.in_database == result.confirmed
    assert result.repeats > 0 and result.overlaps > 0  # deliberate second showings, not dupes


def test_load_20_raters_full_minute(db_url: str, tmp_path: Path) -> None:
    _load(db_url, tmp_path, seconds=60.0)


def test_loadtest_cli(tmp_path: Path, capsys) -> None:
    url = f"sqlite:///{tmp_path / 'load.db'}"
    assert load_main(["--db", url, "--raters", "3", "--seconds", "1"]) == 0
    out = capsys.readouterr().out
    assert "lost 0, duplicated 0" in out and "votes/s" in out
    assert load_main(["--db", "nope", "--seconds", "1"]) == 2
    assert "malformed" in capsys.readouterr().err
