"""The Streamlit pages, driven by ``streamlit.testing.v1.AppTest``."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from he_helpers import ADMIN_TOKEN, make_study
from streamlit.testing.v1 import AppTest

from human_eval import schema
from human_eval.database import open_database
from human_eval.schema import QUESTION_TEXT
from human_eval.ui import rate

APP = str(Path(__file__).resolve().parents[2] / "human_eval" / "app.py")


def _app(url: str | None, monkeypatch, **params: str) -> AppTest:
    if url is None:
        monkeypatch.delenv("HUMAN_EVAL_DB", raising=False)
    else:
        monkeypatch.setenv("HUMAN_EVAL_DB", url)
    at = AppTest.from_file(APP, default_timeout=60)
    for key, value in params.items():
        at.query_params[key] = value
    return at.run()


def _votes(url: str) -> list:
    db = open_database(url)
    with db.read() as conn:
        rows = conn.execute(sa.select(schema.votes).order_by(schema.votes.c.id)).all()
    db.dispose()
    return rows


def _errors(at: AppTest) -> list[str]:
    assert not at.exception, [e.value for e in at.exception]
    return [e.value for e in at.error]


def _join(at: AppTest, name: str) -> AppTest:
    at.text_input(key="join_name").input(name)
    return at.button[0].click().run()


def _table(at: AppTest, column: str):
    """The first dataframe on the page with this column (AppTest keeps no dataframe keys)."""
    return next(d.value for d in at.dataframe if column in d.value.columns)


def _vote(at: AppTest, choice: str) -> AppTest:
    key = next(b.key for b in at.button if b.key and b.key.endswith(f"-{choice}"))
    return at.button(key=key).click().run()


@pytest.fixture(autouse=True)
def no_click_guard(monkeypatch):
    """AppTest clicks within milliseconds of drawing; the double-click guard is tested apart."""
    monkeypatch.setattr(rate, "REPEAT_CLICK_GUARD_S", 0.0)


@pytest.fixture
def study_url(sqlite_url: str, sweep: Path) -> str:
    make_study(sqlite_url, sweep, gold_pairs=0, votes_per_rater=5)
    return sqlite_url


def test_no_database_configured(monkeypatch) -> None:
    at = _app(None, monkeypatch)
    assert "No database" in _errors(at)[0]


def test_bad_database_urls_are_explained(tmp_path: Path, monkeypatch) -> None:
    assert "malformed database URL" in _errors(_app("not-a-url", monkeypatch))[0]
    missing = tmp_path / "missing.db"
    assert "does not exist" in _errors(_app(f"sqlite:///{missing}", monkeypatch))[0]
    assert not missing.exists()


def test_unknown_study(study_url: str, monkeypatch) -> None:
    at = _app(study_url, monkeypatch, study="nope")
    assert "no study named 'nope'" in _errors(at)[0]
    assert "['study']" in _errors(at)[0]


def test_join_vote_progress_and_finish(study_url: str, monkeypatch) -> None:
    at = _app(study_url, monkeypatch)
    assert at.title[0].value == "Which image is better?"
    at = _join(at, "ann")
    assert not _errors(at)
    assert at.query_params["r"]  # the rater key is in the URL, so a reload resumes
    assert at.subheader[0].value in QUESTION_TEXT.values()
    assert any(m.value.startswith("**Caption:**") for m in at.markdown)
    assert [b.label for b in at.button] == ["Left image", "Can't decide", "Right image"]
    assert len(at.image) == 2
    assert "0 of 5" in at.get("progress")[0].proto.text
    choices = ["left", "tie", "right", "left", "right"]
    for i, choice in enumerate(choices):
        at = _vote(at, choice)
        assert not _errors(at)
        assert f"{i + 1} of 5" in at.get("progress")[0].proto.text
    assert "All done" in at.success[0].value
    rows = _votes(study_url)
    assert [r.choice for r in rows] == choices
    assert len({r.comparison_id for r in rows}) == 5


def test_reload_resumes_the_same_rater_and_pair(study_url: str, monkeypatch) -> None:
    at = _join(_app(study_url, monkeypatch), "bo")
    at = _vote(at, "left")
    key = at.query_params["r"]
    caption = next(m.value for m in at.markdown if m.value.startswith("**Caption:**"))
    buttons = [b.key for b in at.button]
    again = _app(study_url, monkeypatch, r=key)  # a new session, as after a reload
    assert not _errors(again)
    assert any("Rating as bo" in c.value for c in again.caption)
    assert next(m.value for m in again.markdown if m.value.startswith("**Caption")) == caption
    assert [b.key for b in again.button] == buttons  # same assignment
    assert "1 of 5" in again.get("progress")[0].proto.text
    assert len(_votes(study_url)) == 1


def test_invite_links(sqlite_url: str, sweep: Path, monkeypatch) -> None:
    made = make_study(sqlite_url, sweep, allow_named_join=False, invites=1)
    at = _app(sqlite_url, monkeypatch, study="study", invite=made.invite_tokens[0])
    assert not _errors(at)
    assert any("Rating as invite-" in c.value for c in at.caption)
    bad = _app(sqlite_url, monkeypatch, invite="forged")
    assert "not valid" in _errors(bad)[0]
    assert [t.key for t in bad.text_input] == ["join_token"]  # invite-only: no name field


def test_admin_wrong_token_shows_nothing(study_url: str, monkeypatch) -> None:
    at = _app(study_url, monkeypatch, page="admin")
    at.text_input(key="admin_token").input("not-the-token")
    at = at.button[0].click().run()
    assert "wrong admin token" in _errors(at)[0]
    assert not at.dataframe and not at.get("download_button")


def test_admin_view(study_url: str, monkeypatch) -> None:
    at = _join(_app(study_url, monkeypatch), "cy")
    for choice in ("left", "right", "tie"):
        at = _vote(at, choice)
    adm = _app(study_url, monkeypatch, page="admin")
    adm.text_input(key="admin_token").input(ADMIN_TOKEN)
    adm = adm.button[0].click().run()
    assert not _errors(adm)
    metrics = {m.label: m.value for m in adm.metric}
    assert metrics["Votes"] == "3" and metrics["Raters"] == "1"
    ratings = _table(adm, "system")
    assert set(ratings["system"]) == {"elo", "bradley_terry"}
    assert _table(adm, "gold_accuracy")["n_votes"].tolist() == [3]
    assert _table(adm, "comparisons_voted")["votes"].sum() == 3
    assert len(adm.get("download_button")) == 2
    adm.selectbox(key="admin_rater_pick").select("cy")
    adm = adm.button(key="admin_exclude").click().run()
    assert _table(adm, "gold_accuracy")["excluded"].tolist() == [True]
    assert metrics["Excluded raters"] == "0"
    assert {m.label: m.value for m in adm.metric}["Excluded raters"] == "1"


def test_a_click_right_after_a_new_pair_appears_is_ignored(study_url: str, monkeypatch) -> None:
    monkeypatch.setattr(rate, "REPEAT_CLICK_GUARD_S", 60.0)
    at = _join(_app(study_url, monkeypatch), "dee")
    at = _vote(at, "left")  # within the guard of the pair being drawn: ignored
    assert "0 of 5" in at.get("progress")[0].proto.text
    assert _votes(study_url) == []
    monkeypatch.setattr(rate, "REPEAT_CLICK_GUARD_S", 0.0)
    at = _vote(at, "left")
    assert "1 of 5" in at.get("progress")[0].proto.text and len(_votes(study_url)) == 1
