"""The PDF report: opens with pypdf, has the expected pages, text is extractable and literal."""

from __future__ import annotations

import pytest
from report_fakes import FID_NOTE

pypdf = pytest.importorskip("pypdf")

TITLES = [
    "1. Summary",
    "2. Metrics",
    "3. Pareto frontiers",
    "4. Findings in detail",
    "5. Sample grids",
    "6. Human evaluation",
    "7. Appendix: what was evaluated",
]


def _pages(path) -> list[str]:
    """Text per page, without the running footer ("<title> page N", drawn first)."""
    reader = pypdf.PdfReader(str(path))
    out = []
    for number, page in enumerate(reader.pages, 1):
        text = " ".join(page.extract_text().split())
        footer = f"GLIDE guidance sweep report page {number} "
        assert text.startswith(footer), text[:80]
        out.append(text.removeprefix(footer))
    return out


def _section_starts(pages: list[str]) -> list[int]:
    """Page index where each section starts: section 1 under the title, the others on top."""
    assert pages[0].startswith("GLIDE guidance sweep report")
    assert "Contents: " + "; ".join(TITLES) in pages[0]
    starts = [0] if pages[0].count(TITLES[0]) == 2 else []  # in the contents and as heading
    for title in TITLES[1:]:
        starts += [i for i, text in enumerate(pages) if text.startswith(title)]
    assert len(starts) == len(TITLES), starts
    return starts


def test_pdf_pages_and_sections(built_report):
    pages = _pages(built_report.pdf)
    starts = _section_starts(pages)
    assert starts == sorted(starts)
    # Layout: the summary is the whole first page (its figure included), then metrics 1,
    # Pareto plots 1, findings 1, one page per method's sample grid (2), human evaluation 3,
    # and the appendix last, 1-3 pages (its paths vary).
    assert [b - a for a, b in zip(starts, starts[1:], strict=False)] == [1, 1, 1, 1, 2, 3]
    assert len(pages) - starts[-1] in (1, 2, 3)
    reader = pypdf.PdfReader(str(built_report.pdf))
    assert len(reader.pages[0].images) == 1  # the main frontier figure is on page 1
    assert "Real images score Caption match" in pages[0]


def test_pdf_keeps_every_figure_of_the_html(built_report):
    """Every image of the HTML (figures and sample-grid cells) is in the PDF too."""
    html = built_report.html.read_text(encoding="utf-8")
    reader = pypdf.PdfReader(str(built_report.pdf))
    assert sum(len(p.images) for p in reader.pages) == html.count("<img ")
    text = " ".join(_pages(built_report.pdf))
    for figure_caption in (
        "CLIP score vs FID: classifier-free guidance and CLIP guidance",
        "Human ratings beside the automated metric that should track them",
        "Elo rating vs guidance scale, caption",
    ):
        assert figure_caption in text


def test_pdf_embeds_images(built_report):
    reader = pypdf.PdfReader(str(built_report.pdf))
    pages = _pages(built_report.pdf)
    grids = [i for i, t in enumerate(pages) if "the same starting noise in every column" in t]
    assert len(grids) == 2  # one page per method
    for i in grids:
        assert len(reader.pages[i].images) == 6 * 4  # 6 captions x 4 scales
    pareto = next(i for i, t in enumerate(pages) if t.startswith("3. Pareto frontiers"))
    assert len(reader.pages[pareto].images) == 3


def test_pdf_text_is_extractable_and_literal(built_report):
    text = " ".join(_pages(built_report.pdf))
    assert 'a red square <script>alert("x")</script> & <b>friends</b>' in text
    assert "rater-<b>bad</b>" in text
    assert f"not computed: {FID_NOTE}" in text
    assert "classifier-free guidance is Pareto-better" in text
    assert "python -m bench.sweep" in text and "sha256" in text
    meta = pypdf.PdfReader(str(built_report.pdf)).metadata
    assert meta.title == "GLIDE guidance sweep report"


def test_fit_widths_keeps_a_narrow_column_whole_and_fills_the_width():
    from reports.pdf import fit_widths

    # fits: scaled alike
    assert fit_widths([10.0, 30.0], [5.0, 5.0], 80.0) == pytest.approx([20.0, 60.0])
    # too wide: the first column would drop to 20 * 400 / 1020 < 30, so it keeps its 30
    widths = fit_widths([20.0, 500.0, 500.0], [30.0, 40.0, 40.0], 400.0)
    assert widths == pytest.approx([30.0, 185.0, 185.0])
    assert sum(widths) == pytest.approx(400.0)
    # even the minimums do not fit: scaled alike rather than overflowing the page
    assert fit_widths([50.0, 50.0], [300.0, 300.0], 100.0) == pytest.approx([50.0, 50.0])


def test_metrics_table_headers_do_not_break_inside_a_word(built_report):
    """With 8 metric columns the table is wider than the page; the narrow "method" column must
    keep its whole header word (it used to be squeezed to "metho" / "d")."""
    texts = [page.extract_text() for page in pypdf.PdfReader(str(built_report.pdf)).pages]
    page = next(t for t in texts if "One row per run" in t)
    lines = [line.strip() for line in page.splitlines()]
    assert "method" in lines and "scale" in lines
