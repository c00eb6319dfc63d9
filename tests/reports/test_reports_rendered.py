"""The rendered pages: the HTML in Debian's chromium (Playwright) and the PDF rasterised with
pypdfium2 (PDFium, the renderer of Chromium's PDF viewer; in the lock, so never skipped). The
summary must be on the first screen and the first page.

Screenshots and rasters go to ``$REPORT_SCREENSHOTS`` when set (else the test's temporary
folder), to be looked at.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

CHROMIUM = "/usr/bin/chromium"
VIEWPORT = {"width": 1280, "height": 800}


@pytest.fixture
def shots(tmp_path: Path, request: pytest.FixtureRequest) -> Path:
    out = Path(os.environ.get("REPORT_SCREENSHOTS", tmp_path / "shots")) / request.node.name
    out.mkdir(parents=True, exist_ok=True)
    return out


@pytest.mark.browser
def test_summary_is_on_the_first_screen_of_the_html(built_report, shots: Path) -> None:
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        pytest.skip(
            f"chromium not installed at {CHROMIUM} (apt-get install chromium; "
            "tests/ci_services.sh does it in CI)"
        )
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is needed")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM if os.path.exists(CHROMIUM) else shutil.which("chromium"),
            headless=True,
            args=["--no-sandbox", "--disable-gpu"],
        )
        try:
            page = browser.new_page(viewport=VIEWPORT)
            page.goto(built_report.html.as_uri())
            page.screenshot(path=str(shots / "first_screen.png"))
            page.screenshot(path=str(shots / "whole_page.png"), full_page=True)
            boxes = page.evaluate(
                """() => {
                const box = e => { const r = e.getBoundingClientRect();
                                   return [r.top, r.bottom, r.left, r.right]; };
                const s = document.querySelector('section#summary');
                return {
                  first: document.querySelector('section').id,
                  heading: box(s.querySelector('h2')),
                  items: [...s.querySelectorAll('ul.findings li')].map(box),
                  table: box(s.querySelector('table')),
                  figure: box(s.querySelector('figure img')),
                  appendix: box(document.querySelector('section#evaluated')),
                  width: document.documentElement.scrollWidth,
                };
            }"""
            )
            # the best-scale table is never cut off at its scroll box: beside the figure when
            # both fit, else on a line of its own (at 1000 px it was cut before: ~500 px needed,
            # ~420 px given)
            clipped = {}
            for width in (VIEWPORT["width"], 1100, 1000):
                page.set_viewport_size({"width": width, "height": VIEWPORT["height"]})
                clipped[width] = page.evaluate(
                    """() => { const b = document.querySelector('section#summary .scroll');
                               return b.scrollWidth - b.clientWidth; }"""
                )
        finally:
            browser.close()
    height, width = VIEWPORT["height"], VIEWPORT["width"]
    assert boxes["first"] == "summary"
    assert boxes["heading"][1] < height
    # every headline sentence and the best-scale table's top are on the first screen
    assert boxes["items"] and all(bottom <= height for _, bottom, _, _ in boxes["items"])
    assert boxes["table"][0] < height and boxes["figure"][0] < height
    assert boxes["appendix"][0] > 3 * height  # provenance comes last, far below
    assert boxes["width"] <= width  # nothing forces a horizontal scroll
    assert clipped == {width: 0, 1100: 0, 1000: 0}
    shot = np.asarray(Image.open(shots / "first_screen.png").convert("L"))
    assert shot.shape == (height, width)
    assert (shot < 128).mean() > 0.01  # text drawn, not a blank page


def test_summary_is_on_the_first_page_of_the_pdf(built_report, shots: Path) -> None:
    import pypdf
    import pypdfium2

    document = pypdfium2.PdfDocument(str(built_report.pdf))
    try:
        for number in range(len(document)):  # 72 dpi: one PDF point per pixel
            bitmap = document[number].render(scale=1.0)
            bitmap.to_pil().save(shots / f"page-{number + 1:02d}.png")
    finally:
        document.close()
    rasters = sorted(shots.glob("page-*.png"))
    assert len(rasters) == len(pypdf.PdfReader(str(built_report.pdf)).pages)
    first = pypdf.PdfReader(str(built_report.pdf)).pages[0].extract_text()
    assert "1. Summary" in first and "real images score FID" in first
    assert "Sweep folder" not in first and "Software versions" not in first  # the appendix
    page = np.asarray(Image.open(rasters[0]).convert("RGB")).astype(int)
    # the main frontier figure is drawn on page 1: its coloured (blue/orange) points and lines
    # spread over a plot-sized area (a text page's few coloured marks do not), above the footer
    colourful = (page.max(axis=2) - page.min(axis=2)) > 60
    rows = np.flatnonzero(colourful.any(axis=1))
    cols = np.flatnonzero(colourful.any(axis=0))
    assert len(rows) and rows.max() - rows.min() > 0.1 * page.shape[0]
    assert cols.max() - cols.min() > 0.25 * page.shape[1]
    assert rows.max() < page.shape[0] * 0.95
