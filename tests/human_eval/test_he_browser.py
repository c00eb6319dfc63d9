"""A real browser (Debian's chromium through Playwright) against the served app, on SQLite and
on PostgreSQL: a whole small study (two raters, one failing the gold pairs, then the admin page),
and Markdown/HTML payloads and probes for leaks in every place a visitor controls.

Screenshots go to ``$HE_SCREENSHOTS`` when set (else the test's temporary folder).
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlencode

import pandas as pd
import pytest
import sqlalchemy as sa
from he_helpers import ADMIN_TOKEN, PAYLOAD, free_port, make_payload_sweep, make_study

from human_eval import schema
from human_eval.database import open_database
from human_eval.ui import main as main_page
from human_eval.ui import rate

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"

pytestmark = pytest.mark.browser


@pytest.fixture
def serve(db_url: str, tmp_path: Path):
    """Start ``python -m human_eval.serve`` on the database (URL in the environment only)."""
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        pytest.skip(
            f"chromium not installed at {CHROMIUM} (apt-get install chromium; "
            "tests/ci_services.sh does it in CI)"
        )
    pytest.importorskip("playwright.sync_api", reason="the playwright Python package is needed")
    procs = []

    def start() -> str:
        port = free_port()
        env = dict(os.environ, PYTHONPATH=str(REPO), HUMAN_EVAL_DB=db_url)
        log = open(tmp_path / "server.log", "w")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(
            [sys.executable, "-m", "human_eval.serve", "--port", str(port)],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        procs.append((proc, log))
        assert db_url not in " ".join(proc.args)  # the URL is never on a command line
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.read().strip() == b"ok":
                        return url
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                os.killpg(proc.pid, signal.SIGKILL)
                pytest.fail(f"app did not start:\n{(tmp_path / 'server.log').read_text()}")
            time.sleep(0.3)

    yield start
    for proc, log in procs:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


@pytest.fixture
def shots(tmp_path: Path, request: pytest.FixtureRequest) -> Path:
    out = Path(os.environ.get("HE_SCREENSHOTS", tmp_path / "shots")) / request.node.name
    out.mkdir(parents=True, exist_ok=True)
    return out


def _browser(pw):  # noqa: ANN001, ANN202
    return pw.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"]
    )


# The id of the assignment whose vote buttons are on screen, once the page has finished
# drawing it (no stale elements left) and it differs from the previous one; Streamlit gives a
# keyed widget's container the class st-key-<key>, and the keys hold the assignment id.
_CURRENT_PAIR_JS = """prev => {
    if (document.querySelector('[data-stale="true"]')) return false;
    const ids = [...document.querySelectorAll('[class*="st-key-vote-"]')]
        .map(e => (e.className.match(/st-key-vote-(\\d+)-left/) || [])[1]).filter(Boolean);
    const imgs = [...document.querySelectorAll('img[src*="media"]')];
    const loaded = imgs.length === 2 && imgs.every(i => i.complete && i.naturalWidth > 0);
    return ids.length === 1 && ids[0] !== prev && loaded ? ids[0] : false;
}"""

_SETTLED_JS = """() => !document.querySelector('[data-stale="true"]')
    && !document.querySelector('[data-testid="stSkeleton"]')"""


def _settle(page) -> None:  # noqa: ANN001
    page.wait_for_timeout(300)
    page.wait_for_function(_SETTLED_JS)


def _assert_no_chrome(page) -> None:  # noqa: ANN001
    """No Streamlit toolbar, deploy button, main menu or sidebar for visitors."""
    for testid in ("stToolbar", "stMainMenu", "stAppDeployButton", "stSidebar"):
        assert not page.locator(f'[data-testid="{testid}"]').is_visible(), testid
    assert not page.get_by_text("Deploy", exact=True).is_visible()


def _assert_inert(page) -> None:  # noqa: ANN001
    """Nothing of PAYLOAD became a link or an element."""
    assert page.locator("a[href*='evil']").count() == 0
    assert page.locator("#inj, #ii").count() == 0
    assert page.locator("strong", has_text="q7").count() == 0
    assert page.locator("a", has_text="www.evil").count() == 0
    assert page.locator("span[style*='color']", has_text="r").count() == 0


def _gold_side(db_url: str, assignment_id: int) -> str | None:
    """Where the clean image of a gold pair is ('left'/'right'); None for a regular pair."""
    db = open_database(db_url)
    a, c = schema.assignments, schema.comparisons
    with db.read() as conn:
        row = conn.execute(
            sa.select(a.c.left_is_a, c.c.is_gold)
            .join(c, c.c.id == a.c.comparison_id)
            .where(a.c.id == assignment_id)
        ).one()
    db.dispose()
    if not row.is_gold:
        return None
    return "left" if row.left_is_a else "right"  # the clean image is image a


N_VOTES = 10
BUTTONS = {"left": "Left image", "tie": "Can't decide", "right": "Right image"}
KEYS = {"left": "ArrowLeft", "tie": "ArrowDown", "right": "ArrowRight"}


def _rate(page, db_url: str, name: str, fails_gold: bool, base: str, shots: Path) -> list[int]:  # noqa: ANN001, E501
    """Join as ``name`` and answer every pair; returns the assignment ids voted on."""
    from playwright.sync_api import expect

    page.goto(f"{base}/?{urlencode({'study': 'study'})}")
    page.get_by_label("Your name").fill(name)
    page.get_by_role("button", name="Start").click()
    previous, voted = "", []
    for i in range(N_VOTES):
        current = page.wait_for_function(_CURRENT_PAIR_JS, arg=previous).json_value()
        expect(page.get_by_text(f"{i} of {N_VOTES}")).to_be_visible()
        sizes = page.locator("img[src*='media']").evaluate_all(
            "els => els.map(e => [e.naturalWidth, e.naturalHeight])"
        )
        assert sizes == [[256, 256], [256, 256]]  # both images at the same size
        if i == 3:  # a reload in the middle resumes the same rater at the same pair
            page.reload()
            assert page.wait_for_function(_CURRENT_PAIR_JS, arg=previous).json_value() == current
        clean = _gold_side(db_url, int(current))
        if clean is None:
            choice = ("left", "right", "tie")[i % 3]
        else:
            choice = clean if not fails_gold else ("right" if clean == "left" else "left")
        if i == 6:  # an answer at once: either counted, or the rater is told it was not
            page.keyboard.press(KEYS[choice])
            counted = page.get_by_text(f"{i + 1} of {N_VOTES}")
            refused = page.get_by_text("not counted")
            expect(counted.or_(refused)).to_be_visible()
            if counted.is_visible():
                voted.append(int(current))
                previous = current
                continue
            expect(page.get_by_text(f"{i} of {N_VOTES}")).to_be_visible()
            _settle(page)
            page.screenshot(path=str(shots / f"refused-{name.split()[0]}.png"))
            assert page.wait_for_function(_CURRENT_PAIR_JS, arg=previous).json_value() == current
        page.wait_for_timeout(500)  # a person looks first (the app refuses faster clicks)
        if i == 4:  # a double click records one vote, on the pair it was meant for
            page.get_by_role("button", name=BUTTONS[choice]).dblclick()
        elif i % 2:
            page.keyboard.press(KEYS[choice])  # keyboard shortcut
        else:
            page.get_by_role("button", name=BUTTONS[choice]).click()
        expect(page.get_by_text(f"{i + 1} of {N_VOTES}")).to_be_visible()
        voted.append(int(current))
        previous = current
    expect(page.get_by_text("All done")).to_be_visible()
    return voted


def test_a_whole_small_study_in_chromium(db_url: str, sweep: Path, serve, shots: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    make_study(
        db_url,
        sweep,
        votes_per_rater=N_VOTES,
        gold_pairs=6,
        gold_rate=0.4,
        gold_min_answered=2,
        overlap_rate=0.5,  # half of the second careful rater's votes on the first one's items
        repeat_rate=0.05,
    )
    base = serve()
    media_downloads = []
    with sync_playwright() as pw:
        browser = _browser(pw)
        raters = {}
        for name, fails in (
            ("careful rater", False), ("second careful rater", False), ("careless rater", True)
        ):  # fmt: skip
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(30_000)
            raters[name] = _rate(page, db_url, name, fails, base, shots)
            _assert_no_chrome(page)
            page.screenshot(path=str(shots / f"done-{name.split()[0]}.png"))
            page.close()

        page = browser.new_page(viewport={"width": 1280, "height": 900}, accept_downloads=True)
        page.set_default_timeout(30_000)
        page.on(
            "request",
            lambda r: media_downloads.append(r.url) if "/media/" in r.url else None,
        )
        page.goto(f"{base}/?study=study&page=admin")
        page.get_by_label("Admin token").fill(ADMIN_TOKEN)
        page.get_by_role("button", name="Open admin view").click()
        expect(page.get_by_text("Left out of the ratings", exact=True)).to_be_visible()
        _settle(page)
        _assert_no_chrome(page)
        metrics = dict(
            zip(
                page.locator('[data-testid="stMetricLabel"]').all_inner_texts(),
                page.locator('[data-testid="stMetricValue"]').all_inner_texts(),
                strict=True,
            )
        )
        assert metrics["Votes"] == "30" and metrics["Raters"] == "3"
        assert metrics["Flagged raters"] == "1" and metrics["Excluded raters"] == "0"
        expect(page.get_by_text("1 of 3 raters")).to_be_visible()
        expect(page.get_by_text("(10 of 30 votes) are left out")).to_be_visible()
        expect(page.get_by_text("1 rater(s) flagged by the gold pairs:")).to_be_visible()
        expect(page.locator('[data-testid="stText"]', has_text="careless rater")).to_be_visible()
        # the raters table shows every column at this width: no horizontal scrolling
        grid = page.locator(".st-key-admin_raters_box [data-testid='stDataFrame']")
        grid.scroll_into_view_if_needed()
        overflow = grid.locator(".dvn-scroller").evaluate("e => e.scrollWidth - e.clientWidth")
        assert overflow <= 0, overflow
        page.screenshot(path=str(shots / "admin-top.png"))
        page.locator(".st-key-admin_raters_box").screenshot(path=str(shots / "admin-raters.png"))
        # the exclusion control starts empty: no rater chosen, no reason, buttons off
        pick = page.locator('[data-testid="stSelectbox"]', has_text="Rater")
        expect(pick.get_by_text("Choose a rater").or_(pick.get_by_placeholder("Choose a rater")))
        expect(pick).not_to_contain_text("careless")
        assert page.get_by_label("Reason (shown in this table)").input_value() == ""
        expect(page.get_by_role("button", name="Exclude rater")).to_be_disabled()
        # downloads: built for this session only, sent over its own connection
        page.get_by_role("button", name="Prepare downloads").click()
        link = page.get_by_role("link", name="Download votes (CSV)")
        expect(link).to_be_visible()
        with page.expect_download() as got:
            link.click()
        rows = list(csv.DictReader(io.StringIO(Path(got.value.path()).read_text())))
        assert len(rows) == 30 and got.value.suggested_filename == "votes_study.csv"
        assert {r["rater"] for r in rows} == set(raters)
        assert not [u for u in media_downloads if u.endswith((".csv", ".parquet"))]
        browser.close()

    db = open_database(db_url)
    with db.read() as conn:
        rows = conn.execute(
            sa.select(schema.votes.c.assignment_id, schema.raters.c.name)
            .join(schema.raters, schema.raters.c.id == schema.votes.c.rater_id)
            .order_by(schema.votes.c.id)
        ).all()
    db.dispose()
    for name, voted in raters.items():
        assert [r.assignment_id for r in rows if r.name == name] == voted  # what was on screen

    # the ratings, with default settings, leave the rater who failed the gold pairs out and
    # report agreement between the two careful raters with an interval
    from human_eval.ratings.cli import main as ratings_main

    out = shots / "ratings"
    assert ratings_main(["--db", db_url, "--study", "study", "--out", str(out),
                         "--bootstrap", "200"]) == 0  # fmt: skip
    meta = json.loads((out / "ratings.json").read_text())
    assert meta["left_out"]["flagged_by_gold_pairs"] == ["careless rater"]
    assert meta["counts"]["raters_left_out"] == 1
    agreement = pd.read_csv(out / "agreement.csv")
    judged = agreement[agreement["n_items"] > 0]
    assert len(judged) > 0, agreement  # the overlap scheduling gave items two raters judged
    assert {"ci_low", "ci_high", "interval_unit"} <= set(agreement.columns)
    assert judged["ci_low"].notna().any() and (judged["interval_unit"] == "comparison").all()


def test_payloads_and_leaks_in_chromium(db_url: str, tmp_path: Path, serve, shots: Path) -> None:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import expect, sync_playwright

    sweep = make_payload_sweep(tmp_path / "payload-sweep")
    made = make_study(db_url, sweep, name=PAYLOAD, gold_pairs=0, votes_per_rater=3, invites=1)
    make_study(db_url, sweep, name="secret-study", gold_pairs=0, allow_named_join=False)
    base = serve()
    db_bits = ["sqlite", "votes.db", "postgres", "127.0.0.1", str(tmp_path)]

    def visit(page, shot: str, params: dict | None = None) -> str:  # noqa: ANN001
        page.goto(f"{base}/?{urlencode(params)}" if params else f"{base}/")
        page.locator('h1, [data-testid="stAlert"]').first.wait_for()  # every page has one
        _settle(page)
        page.wait_for_timeout(500)
        _assert_inert(page)
        _assert_no_chrome(page)
        page.screenshot(path=str(shots / f"{shot}.png"))
        text = page.locator('[data-testid="stMain"]').inner_text()
        assert not [b for b in db_bits if b in text], text
        return text

    with sync_playwright() as pw:
        browser = _browser(pw)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.set_default_timeout(30_000)
        text = visit(page, "bare")  # no list of studies: none is public
        assert main_page.NO_STUDY in text and "secret" not in text and "Log in" not in text
        text = visit(page, "unknown", dict(study="doesnotexist"))
        assert main_page.NOT_FOUND in text and "doesnotexist" not in text
        assert "secret" not in text
        text = visit(page, "unknown-payload", dict(study=PAYLOAD + "x"))
        assert main_page.NOT_FOUND in text
        text = visit(page, "bad-invite", dict(study=PAYLOAD, invite=PAYLOAD))
        assert "not valid" in text and "evil" not in text
        text = visit(page, "bad-key", dict(study=PAYLOAD, r=PAYLOAD))
        assert rate.BAD_LINK in text
        visit(page, "bad-page", dict(study=PAYLOAD, page=PAYLOAD))
        # a rater named PAYLOAD, rating pairs whose captions are PAYLOAD
        page.goto(f"{base}/?{urlencode({'study': PAYLOAD})}")
        page.get_by_label("Your name").fill(PAYLOAD)
        page.get_by_role("button", name="Start").click()
        page.wait_for_function(_CURRENT_PAIR_JS, arg="")
        _settle(page)
        _assert_inert(page)
        expect(page.get_by_text(f"Rating as {PAYLOAD}", exact=True)).to_be_visible()
        expect(page.get_by_text(f"Caption: {PAYLOAD}")).to_be_visible()
        page.screenshot(path=str(shots / "rating.png"))
        key_url = page.url
        # the same name again, in other letters: taken, and the message repeats nothing
        other = browser.new_page()
        other.goto(f"{base}/?{urlencode({'study': PAYLOAD})}")
        other.get_by_label("Your name").fill(PAYLOAD.upper())
        other.get_by_role("button", name="Start").click()
        expect(other.get_by_text("already taken")).to_be_visible()
        _assert_inert(other)
        other.close()
        # a cut-off rater link says so
        visit(page, "cut-link", {"study": PAYLOAD, "r": key_url.split("r=")[1][:-4]})
        expect(page.get_by_text(rate.BAD_LINK)).to_be_visible()
        # an invite link, the admin page (study and rater names in it)
        text = visit(page, "invite", dict(study=PAYLOAD, invite=made.invite_tokens[0]))
        assert "Rating as invite-" in text
        page.goto(f"{base}/?{urlencode({'study': PAYLOAD, 'page': 'admin'})}")
        page.get_by_label("Admin token").fill(ADMIN_TOKEN)
        page.get_by_role("button", name="Open admin view").click()
        expect(page.get_by_text("Left out of the ratings", exact=True)).to_be_visible()
        _settle(page)
        _assert_inert(page)
        expect(page.get_by_text(f"Study: {PAYLOAD}", exact=True)).to_be_visible()
        option = page.get_by_role("option").filter(has_text="[Log in](https://evil")
        for _ in range(3):  # the names in the choice box; a page rerun can close it as it opens
            page.get_by_role("combobox", name="Rater").focus()
            page.keyboard.press("ArrowDown")
            try:
                option.wait_for(state="visible", timeout=5_000)
                break
            except PlaywrightTimeout:
                page.keyboard.press("Escape")
                _settle(page)
        expect(option).to_be_visible()
        _assert_inert(page)
        page.screenshot(path=str(shots / "admin.png"), full_page=True)
        browser.close()
