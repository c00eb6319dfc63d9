"""A real browser (Debian's chromium through Playwright) against the served app."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import sqlalchemy as sa
from he_helpers import free_port, make_study

from human_eval import schema
from human_eval.database import open_database

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
N_VOTES = 6

pytestmark = pytest.mark.browser


@pytest.fixture
def served(sqlite_url: str, sweep: Path, tmp_path: Path):
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        pytest.skip(
            f"chromium not installed at {CHROMIUM} (apt-get install chromium; "
            "tests/ci_services.sh does it in CI)"
        )
    pytest.importorskip("playwright.sync_api", reason="the playwright Python package is needed")
    make_study(sqlite_url, sweep, gold_pairs=0, votes_per_rater=N_VOTES)
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(REPO))
    log = open(tmp_path / "server.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "human_eval.serve", "--db", sqlite_url, "--port", str(port)],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.read().strip() == b"ok":
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)
            pytest.fail(f"app did not start:\n{(tmp_path / 'server.log').read_text()}")
        time.sleep(0.3)
    yield url, sqlite_url
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
    log.close()


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


def test_rater_votes_through_pairs_in_chromium(served) -> None:
    from playwright.sync_api import expect, sync_playwright

    url, db_url = served
    buttons = {"left": "Left image", "tie": "Can't decide", "right": "Right image"}
    keys = {"left": "ArrowLeft", "tie": "ArrowDown", "right": "ArrowRight"}
    plan = ["left", "right", "tie", "left", "right", "left"]
    shown, assignment_ids = [], []
    previous = ""
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        page = browser.new_page()
        page.set_default_timeout(30_000)
        page.goto(f"{url}/?study=study")
        page.get_by_label("Your name").fill("browser-rater")
        page.get_by_role("button", name="Start").click()
        for i, choice in enumerate(plan):
            current = page.wait_for_function(_CURRENT_PAIR_JS, arg=previous).json_value()
            expect(page.get_by_text(f"{i} of {N_VOTES}")).to_be_visible()
            heading = page.get_by_role("heading", level=3).inner_text()
            caption = page.get_by_text("Caption:").inner_text()
            sizes = page.locator("img[src*='media']").evaluate_all(
                "els => els.map(e => [e.naturalWidth, e.naturalHeight])"
            )
            assert sizes == [[256, 256], [256, 256]]  # both images at the same size
            if i == 3:  # a reload in the middle resumes the same rater at the same pair
                page.reload()
                again = page.wait_for_function(_CURRENT_PAIR_JS, arg=previous).json_value()
                assert again == current
                assert page.get_by_text("Caption:").inner_text() == caption
            page.wait_for_timeout(500)  # a person looks first (the app ignores faster clicks)
            if i == 4:  # a double click records one vote, on the pair it was meant for
                page.get_by_role("button", name=buttons[choice]).dblclick()
            elif i % 2:
                page.keyboard.press(keys[choice])  # keyboard shortcut
            else:
                page.get_by_role("button", name=buttons[choice]).click()
            expect(page.get_by_text(f"{i + 1} of {N_VOTES}")).to_be_visible()
            shown.append((heading.strip(), caption))
            assignment_ids.append(int(current))
            previous = current
        expect(page.get_by_text("All done")).to_be_visible()
        browser.close()

    db = open_database(db_url)
    with db.read() as conn:
        rows = conn.execute(
            sa.select(
                schema.votes.c.question,
                schema.votes.c.choice,
                schema.votes.c.assignment_id,
                schema.raters.c.name,
            )
            .join(schema.raters, schema.raters.c.id == schema.votes.c.rater_id)
            .order_by(schema.votes.c.id)
        ).all()
    db.dispose()
    assert [r.choice for r in rows] == plan
    assert [r.assignment_id for r in rows] == assignment_ids  # the pairs that were on screen
    assert {r.name for r in rows} == {"browser-rater"}
    assert [schema.QUESTION_TEXT[r.question] for r in rows] == [h for h, _ in shown]
    assert {r.question for r in rows} == {"photorealism", "caption"}
