"""The Streamlit pages, driven by ``streamlit.testing.v1.AppTest``."""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
import streamlit as st
from he_helpers import ADMIN_TOKEN, PAYLOAD, make_payload_sweep, make_study
from streamlit.testing.v1 import AppTest

from human_eval import schema
from human_eval.database import open_database
from human_eval.schema import QUESTION_TEXT
from human_eval.store import VoteStore
from human_eval.ui import main as main_page
from human_eval.ui import rate, throttle
from human_eval.vote_tables import votes_frame

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


def _texts(at: AppTest) -> list[str]:
    return [t.value for t in at.text]


def _everything(at: AppTest) -> str:
    """Every string the page shows (markdown, alerts, titles, text, labels, metric values)."""
    parts = []
    for kind in ("markdown", "caption", "error", "warning", "info", "success", "title"):
        parts += [e.value for e in getattr(at, kind)]
    parts += [e.value for e in at.subheader] + [e.value for e in at.header] + _texts(at)
    parts += [b.label for b in at.button] + [t.label for t in at.text_input]
    parts += [m.value for m in at.metric]
    return "\n".join(str(p) for p in parts)


def _join(at: AppTest, name: str) -> AppTest:
    at.text_input(key="join_name").input(name)
    return at.button[0].click().run()


def _table(at: AppTest, column: str):
    """The first dataframe on the page with this column (AppTest keeps no dataframe keys)."""
    return next(d.value for d in at.dataframe if column in d.value.columns)


def _vote(at: AppTest, choice: str) -> AppTest:
    key = next(b.key for b in at.button if b.key and b.key.endswith(f"-{choice}"))
    return at.button(key=key).click().run()


def _param(at: AppTest, key: str) -> str:
    value = at.query_params[key]
    return value[0] if isinstance(value, list) else value


def _progress(at: AppTest) -> str:
    return at.get("progress")[0].proto.text


def _login(url: str, monkeypatch, token: str = ADMIN_TOKEN, **params: str) -> AppTest:
    adm = _app(url, monkeypatch, page="admin", **params)
    adm.text_input(key="admin_token").input(token)
    return adm.button[0].click().run()


@pytest.fixture(autouse=True)
def no_click_guard(monkeypatch):
    """AppTest clicks within milliseconds of drawing; the double-click guard is tested apart."""
    monkeypatch.setattr(rate, "REPEAT_CLICK_GUARD_S", 0.0)


@pytest.fixture(autouse=True)
def fresh_throttle():
    """The login throttle lives in Streamlit's resource cache, shared by every AppTest."""
    st.cache_resource.clear()
    yield
    st.cache_resource.clear()


@pytest.fixture
def study_url(sqlite_url: str, sweep: Path) -> str:
    make_study(sqlite_url, sweep, gold_pairs=0, votes_per_rater=5)
    return sqlite_url


def test_no_database_configured(monkeypatch) -> None:
    at = _app(None, monkeypatch)
    assert "No database" in _errors(at)[0]


def test_database_problems_stay_in_the_log(tmp_path: Path, monkeypatch, caplog) -> None:
    for url, detail in (
        ("not-a-url", "malformed database URL"),
        (f"sqlite:///{tmp_path / 'missing.db'}", "does not exist"),
        ("postgresql://alice:s3cret@db.example:5432/votes", "postgresql"),
    ):
        caplog.clear()
        at = _app(url, monkeypatch, study="study")
        assert _errors(at) == [main_page.UNAVAILABLE]
        shown = _everything(at)
        assert "sqlite" not in shown and "db.example" not in shown and "alice" not in shown
        assert detail in caplog.text  # the operator finds it in the server's log
        assert "s3cret" not in caplog.text
    assert not (tmp_path / "missing.db").exists()


def test_unknown_study_says_nothing_about_the_database(study_url: str, monkeypatch) -> None:
    at = _app(study_url, monkeypatch, study="doesnotexist")
    assert _errors(at) == [main_page.NOT_FOUND]
    shown = _everything(at)
    assert "doesnotexist" not in shown and "'study'" not in shown and "votes.db" not in shown
    assert not at.text_input and not at.button


def test_bare_address_lists_public_studies_only(sqlite_url: str, sweep: Path, monkeypatch) -> None:
    make_study(sqlite_url, sweep, name="secret-invite-only", allow_named_join=False)
    make_study(sqlite_url, sweep, name="hidden")
    at = _app(sqlite_url, monkeypatch)
    assert at.info[0].value == main_page.NO_STUDY
    assert "secret" not in _everything(at) and "hidden" not in _everything(at)
    assert not at.text_input  # no study opened either
    make_study(sqlite_url, sweep, name="open [to all](https://evil.example)", public=True)
    at = _app(sqlite_url, monkeypatch)
    assert [b.label for b in at.button] == [
        r"open \[to all\]\(https\:" + "\u200b" + r"\/" + "\u200b" + r"\/" + "\u200b"
        r"evil" + "\u200b" + r"\.example\)"
    ]
    assert "secret" not in _everything(at) and "hidden" not in _everything(at)
    at = at.button[0].click().run()
    assert _param(at, "study") == "open [to all](https://evil.example)"
    assert at.title[0].value == "Which image is better?"


def test_join_vote_progress_and_finish(study_url: str, monkeypatch) -> None:
    at = _app(study_url, monkeypatch, study="study")
    assert at.title[0].value == "Which image is better?"
    at = _join(at, "ann")
    assert not _errors(at)
    assert at.query_params["r"]  # the rater key is in the URL, so a reload resumes
    assert at.subheader[0].value in QUESTION_TEXT.values()
    assert any(t.startswith("Caption: ") for t in _texts(at))
    assert [b.label for b in at.button] == ["Left image", "Can't decide", "Right image"]
    assert len(at.image) == 2
    assert "0 of 5" in _progress(at)
    choices = ["left", "tie", "right", "left", "right"]
    for i, choice in enumerate(choices):
        at = _vote(at, choice)
        assert not _errors(at) and not at.warning
        assert f"{i + 1} of 5" in _progress(at)
    assert "All done" in at.success[0].value
    rows = _votes(study_url)
    assert [r.choice for r in rows] == choices
    assert len({(r.comparison_id, r.repeat) for r in rows}) == 5


def test_reload_resumes_the_same_rater_and_pair(study_url: str, monkeypatch) -> None:
    at = _join(_app(study_url, monkeypatch, study="study"), "bo")
    at = _vote(at, "left")
    key = _param(at, "r")
    caption = next(t for t in _texts(at) if t.startswith("Caption:"))
    buttons = [b.key for b in at.button]
    again = _app(study_url, monkeypatch, study="study", r=key)  # a new session, as on reload
    assert not _errors(again)
    assert "Rating as bo" in _texts(again)
    assert next(t for t in _texts(again) if t.startswith("Caption")) == caption
    assert [b.key for b in again.button] == buttons  # same assignment
    assert "1 of 5" in _progress(again)
    assert len(_votes(study_url)) == 1


def test_a_broken_rater_link_is_not_a_new_rater(study_url: str, monkeypatch) -> None:
    at = _join(_app(study_url, monkeypatch, study="study"), "cut")
    key = _param(at, "r")
    broken = _app(study_url, monkeypatch, study="study", r=key[:-3])
    assert _errors(broken) == [rate.BAD_LINK]
    assert not broken.text_input  # no join form: retyping the name would not help
    assert key[:-3] not in _everything(broken)
    broken = broken.button(key="bad_link_new").click().run()  # unless they ask for it
    assert "r" not in broken.query_params and broken.text_input(key="join_name")
    db = open_database(study_url)
    with db.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(schema.raters)).scalar() == 1
    db.dispose()


def test_invite_links(sqlite_url: str, sweep: Path, monkeypatch) -> None:
    made = make_study(sqlite_url, sweep, allow_named_join=False, invites=1)
    token = made.invite_tokens[0]
    at = _app(sqlite_url, monkeypatch, study="study", invite=token)
    assert not _errors(at)
    assert any(t.startswith("Rating as invite-") for t in _texts(at))
    key = _param(at, "r")
    again = _app(sqlite_url, monkeypatch, study="study", invite=token, r=key)
    assert not _errors(again) and _texts(again) == _texts(at)
    bad = _app(sqlite_url, monkeypatch, study="study", invite="forged-token")
    assert "not valid" in _errors(bad)[0] and "forged" not in _everything(bad)
    assert [t.key for t in bad.text_input] == ["join_token"]  # invite-only: no name field
    broken = _app(sqlite_url, monkeypatch, study="study", r="cut-off")
    assert _errors(broken) == [rate.BAD_LINK] and not broken.button  # invite-only: no new rater


def test_names_ignore_case_and_spaces_in_the_app(study_url: str, monkeypatch) -> None:
    _join(_app(study_url, monkeypatch, study="study"), "Alice")
    at = _join(_app(study_url, monkeypatch, study="study"), "  aLiCe ")
    assert "already taken" in _errors(at)[0] and "aLiCe" not in _everything(at)


def test_admin_wrong_tokens_back_off(study_url: str, monkeypatch) -> None:
    clock = [1000.0]
    monkeypatch.setattr(throttle, "now", lambda: clock[0])
    for i in range(throttle.FREE):
        at = _login(study_url, monkeypatch, token=f"wrong-{i}", study="study")
        assert "Wrong admin token" in _errors(at)[0]
        assert not at.dataframe and not at.metric
    assert "Wait 2 s" in _errors(at)[0]  # the third wrong token starts the backoff
    at = _login(study_url, monkeypatch, study="study")  # even the right token waits now
    assert "Too many wrong tokens: wait 2 s" in _errors(at)[0] and not at.metric
    clock[0] += 2.5
    at = _login(study_url, monkeypatch, token="wrong-again", study="study")
    assert "Wait 4 s" in _errors(at)[0]
    clock[0] += 4.5
    at = _login(study_url, monkeypatch, study="study")
    assert not _errors(at) and at.metric  # in, and the count starts over
    clock[0] += 1
    at = _login(study_url, monkeypatch, token="wrong", study="study")
    assert "Wait" not in _errors(at)[0]


def test_admin_view(study_url: str, monkeypatch) -> None:
    at = _join(_app(study_url, monkeypatch, study="study"), "cy")
    for choice in ("left", "right", "tie"):
        at = _vote(at, choice)
    adm = _login(study_url, monkeypatch, study="study")
    assert not _errors(adm)
    assert "Study: study" in _texts(adm)
    metrics = {m.label: m.value for m in adm.metric}
    assert metrics["Votes"] == "3" and metrics["Raters"] == "1"
    assert metrics["Excluded raters"] == "0" and metrics["Flagged raters"] == "0"
    ratings = _table(adm, "system")
    assert set(ratings["system"]) == {"elo", "bradley_terry"}
    table = _table(adm, "gold")
    assert list(table.columns) == [
        "rater",
        "status",
        "flagged",
        "excluded",
        "n_votes",
        "gold",
        "gold_accuracy",
        "excluded_reason",
        "joined",
    ]
    assert table["n_votes"].tolist() == [3]
    assert _table(adm, "comparisons_voted")["votes"].sum() == 3
    # nothing chosen beforehand: no rater, no reason, buttons off until a rater is picked
    pick = adm.selectbox(key="admin_rater_pick")
    assert pick.value is None and adm.text_input(key="admin_reason").value == ""
    assert adm.button(key="admin_exclude").disabled
    pick.select("cy")
    adm = adm.run()
    adm.text_input(key="admin_reason").input("asleep")
    adm = adm.button(key="admin_exclude").click().run()
    table = _table(adm, "gold")
    assert table["excluded"].tolist() == [True] and table["excluded_reason"].tolist() == ["asleep"]
    assert {m.label: m.value for m in adm.metric}["Excluded raters"] == "1"
    assert any("1 of 1 raters" in m.value for m in adm.markdown)


def test_admin_shows_flagged_raters_and_what_is_left_out(
    sqlite_url: str, sweep: Path, monkeypatch
) -> None:
    make_study(sqlite_url, sweep, gold_pairs=6, gold_rate=0.5, gold_min_answered=2)
    db = open_database(sqlite_url)
    store = VoteStore(db, "study")
    for name, wants_clean in (("good", True), ("bad", False)):
        rater = store.join_by_name(name)
        for _ in range(16):
            task = store.next_task(rater.id)
            clean_left = task.left.id == store.comparisons[task.comparison_id].image_a
            choice = ("left" if clean_left == wants_clean else "right") if task.is_gold else "tie"
            store.record_vote(rater.id, task.assignment_id, choice)
    db.dispose()
    adm = _login(sqlite_url, monkeypatch, study="study")
    assert not _errors(adm)
    metrics = {m.label: m.value for m in adm.metric}
    assert metrics["Flagged raters"] == "1" and metrics["Excluded raters"] == "0"
    table = _table(adm, "gold").set_index("rater")
    assert table.loc["bad", "flagged"] and table.loc["bad", "status"] == "flagged"
    assert not table.loc["good", "flagged"] and table.loc["good", "status"] == "ok"
    assert "bad" in _texts(adm)  # the flagged names, as plain text
    left_out = next(m.value for m in adm.markdown if "left out of the" in m.value)
    assert "1 of 2 raters** (16 of 32 votes)" in left_out and "1 flagged" in left_out
    assert any("below 80" in c.value and "at least 2 gold" in c.value for c in adm.caption)
    # the live ratings use only the good rater's first showings of regular pairs
    ratings = _table(adm, "system")
    db = open_database(sqlite_url)
    votes = votes_frame(db, VoteStore(db, "study").study)
    db.dispose()
    good = votes[(votes["rater"] == "good") & ~votes["is_gold"] & (votes["repeat"] == 0)]
    elo = ratings[ratings["system"] == "elo"]
    assert elo["n_votes"].sum() == 2 * len(good)  # each vote counts for both its conditions


def test_downloads_only_inside_the_admin_session(study_url: str, monkeypatch) -> None:
    at = _join(_app(study_url, monkeypatch, study="study"), "dl")
    at = _vote(_vote(at, "left"), "right")
    adm = _login(study_url, monkeypatch, study="study")
    assert not adm.get("download_button")  # nothing served under /media
    assert not [m for m in adm.markdown if "data:" in m.value]
    adm = adm.button(key="admin_prepare").click().run()
    links = [m.value for m in adm.markdown if "data:" in m.value]
    assert len(links) == 1 and not adm.get("download_button")
    csv = re.search(r'download="votes_study\.csv" href="data:text/csv;base64,([^"]+)"', links[0])
    votes = pd.read_csv(io.StringIO(base64.b64decode(csv.group(1)).decode()))
    assert votes["choice"].tolist() == ["left", "right"] and "repeat" in votes.columns
    adm = adm.button(key="admin_export_done").click().run()
    assert not [m for m in adm.markdown if "data:" in m.value]


def test_a_click_right_after_a_new_pair_appears_is_refused_visibly(
    study_url: str, monkeypatch
) -> None:
    monkeypatch.setattr(rate, "REPEAT_CLICK_GUARD_S", 60.0)
    at = _join(_app(study_url, monkeypatch, study="study"), "dee")
    keys = [b.key for b in at.button]
    at = _vote(at, "left")  # within the guard of the pair being drawn: not counted ...
    assert "0 of 5" in _progress(at)
    assert _votes(study_url) == []
    assert "not counted" in at.warning[0].value  # ... and the rater is told
    assert [b.key for b in at.button] == keys  # the same pair stays
    monkeypatch.setattr(rate, "REPEAT_CLICK_GUARD_S", 0.0)
    at = _vote(at, "left")
    assert "1 of 5" in _progress(at) and len(_votes(study_url)) == 1
    assert not at.warning


def _inert(text: str) -> bool:
    """No link, no HTML and no Markdown markup of PAYLOAD survives in Markdown source."""
    return not any(s in text for s in ("](", "<b", "<img", "evil.example", ":red[", "**q7"))


def test_user_strings_are_plain_text_everywhere(tmp_path: Path, monkeypatch) -> None:
    """PAYLOAD as study name, caption, rater name, invite token and query parameters."""
    url = f"sqlite:///{tmp_path / 'v.db'}"
    sweep = make_payload_sweep(tmp_path / "sweep")
    made = make_study(url, sweep, name=PAYLOAD, gold_pairs=0, votes_per_rater=3, invites=1)
    markdown_kinds = ("markdown", "caption", "error", "warning", "info", "success", "title")

    def check(at: AppTest) -> None:
        assert not at.exception, [e.value for e in at.exception]
        for kind in markdown_kinds:
            for element in getattr(at, kind):
                assert _inert(element.value), (kind, element.value)
        for element in list(at.subheader) + list(at.header):
            assert _inert(element.value)
        for b in at.button:
            assert _inert(b.label)

    for params in (
        dict(study=PAYLOAD + "x"),  # unknown study
        dict(study=PAYLOAD, invite=PAYLOAD),  # bad invite
        dict(study=PAYLOAD, r=PAYLOAD),  # bad key
        dict(study=PAYLOAD, page=PAYLOAD),
    ):
        check(_app(url, monkeypatch, **params))
    at = _join(_app(url, monkeypatch, study=PAYLOAD), PAYLOAD)  # the rater's name
    check(at)
    assert f"Rating as {PAYLOAD}" in _texts(at)
    assert any(t.startswith(f"Caption: {PAYLOAD}") for t in _texts(at))
    at = _join(_app(url, monkeypatch, study=PAYLOAD), PAYLOAD)  # taken: the error echoes nothing
    check(at)
    inv = _app(url, monkeypatch, study=PAYLOAD, invite=made.invite_tokens[0])
    check(inv)
    adm = _login(url, monkeypatch, study=PAYLOAD)
    check(adm)
    assert f"Study: {PAYLOAD}" in _texts(adm)
    # the rater name sits in a dataframe (plain canvas text) and the exclusion choice box
    assert PAYLOAD in _table(adm, "gold")["rater"].tolist()
    assert PAYLOAD in adm.selectbox(key="admin_rater_pick").options
