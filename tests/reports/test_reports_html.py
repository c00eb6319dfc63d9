"""The HTML report: parses, holds every section, embeds everything, escapes user text."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from report_fakes import FID_NOTE, SCRIPT_CAPTION

# a results section first, the protocol last (issue 23)
SECTIONS = ["summary", "metrics", "pareto", "findings", "grids", "human", "evaluated"]


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.stack: list[str] = []
        self.text: list[str] = []
        self.cells: list[str] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag == "td":
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "td" and self._cell is not None:
            self.cells.append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data):
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)


def _parse(html: str) -> _Collector:
    parser = _Collector()
    parser.feed(html)
    parser.close()
    return parser


def test_html_parses_and_has_every_section(built_report):
    html = built_report.html.read_text(encoding="utf-8")
    doc = _parse(html)
    ids = [a.get("id") for tag, a in doc.tags if tag == "section"]
    assert ids == SECTIONS
    text = " ".join(" ".join(doc.text).split())
    for title in (
        "Summary",
        "Appendix: what was evaluated",
        "Findings in detail",
        "Metrics",
        "Pareto frontiers",
        "Sample grids",
        "Human evaluation",
        "Humans and automated metrics side by side",
    ):
        assert title in text
    # metadata the issue asks for
    for fact in (
        "sha256",
        "Caption source",
        "Sampler",
        "Steps",
        "Resolution",
        "Seeds",
        "Software versions",
        "python -m bench.sweep",
        "python -m reports.build",
        "python -m human_eval.ratings",
        "Feature extractor",
        "Evaluation CLIP",
    ):
        assert fact in text, fact


def test_html_is_self_contained(built_report):
    html = built_report.html.read_text(encoding="utf-8")
    doc = _parse(html)
    tags = [t for t, _ in doc.tags]
    assert "script" not in tags and "link" not in tags and "iframe" not in tags
    images = [a["src"] for t, a in doc.tags if t == "img"]
    # the summary's main frontier + 3 Pareto plots + humans-vs-metrics + 2 rating plots + 2 grids
    # of 6 captions x 4 scales
    assert len(images) == 1 + 3 + 1 + 2 + 2 * 6 * 4
    assert all(src.startswith("data:image/png;base64,") for src in images)
    assert not re.search(r"""(?:src|href)\s*=\s*["'](?:https?:|//|file:)""", html)
    assert "url(" not in html


def test_html_escapes_captions_and_user_text(built_report):
    html = built_report.html.read_text(encoding="utf-8")
    assert "<script>" not in html and "<b>friends" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;b&gt;friends" in html
    doc = _parse(html)
    assert SCRIPT_CAPTION in doc.cells  # the caption reads back as the exact text
    assert "rater-<b>bad</b>" in doc.cells  # an excluded rater's name, as text


def test_html_marks_missing_metric_where_the_number_would_be(built_report):
    doc = _parse(built_report.html.read_text(encoding="utf-8"))
    assert f"not computed: {FID_NOTE}" in doc.cells
    assert "0.0" not in [c for c in doc.cells if "not computed" in c]


def test_html_metrics_table_marks_best_and_directions(built_report):
    html = built_report.html.read_text(encoding="utf-8")
    doc = _parse(html)
    headers = [d.strip() for d in doc.text]
    assert "FID ↓" in headers and "Precision ↑" in headers
    best = [a for t, a in doc.tags if t == "td" and "best" in (a.get("class") or "")]
    # one best cell per metric column (8 metrics) + the best Elo and BT rating per question
    assert len(best) == 8 + 2 * 2
