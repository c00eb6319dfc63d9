"""Render a :class:`reports.blocks.Report` to a multi-page PDF with reportlab.

A4 portrait, one section per page group (each section starts a new page), page numbers in the
footer and a PDF outline of the sections. Text is set in DejaVu Sans (the TrueType fonts that
ship with matplotlib), embedded, so any caption prints and every word can be extracted or
searched. Every document string goes through :func:`xml_escape` before reportlab's paragraph
markup sees it.
"""

from __future__ import annotations

import io
from pathlib import Path
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_LEFT, TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import cm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import (
    BaseDocTemplate,
    Flowable,
    Frame,
    Image,
    KeepTogether,
    ListFlowable,
    ListItem,
    PageBreak,
    PageTemplate,
    Paragraph,
    Spacer,
    Table,
    TableStyle,
)

from reports import blocks as model
from reports.html import shade_color

MARGIN = 1.6 * cm
PAGE_W, PAGE_H = A4
AVAIL_W = PAGE_W - 2 * MARGIN
FONT, BOLD, ITALIC, MONO = "DejaVuSans", "DejaVuSans-Bold", "DejaVuSans-Oblique", "DejaVuSansMono"
MISSING_COLOR = colors.HexColor("#9a3412")
BEST_BG = colors.HexColor("#eaf5e9")
HEADER_BG = colors.HexColor("#eef0f3")
GRID = colors.HexColor("#c4c9d0")
FLOOR_BG = colors.HexColor("#e6e9ee")  # the real-images floor row


def _register_fonts() -> None:
    if FONT in pdfmetrics.getRegisteredFontNames():
        return
    import matplotlib

    ttf = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    for name, file in (
        (FONT, "DejaVuSans.ttf"),
        (BOLD, "DejaVuSans-Bold.ttf"),
        (ITALIC, "DejaVuSans-Oblique.ttf"),
        ("DejaVuSans-BoldOblique", "DejaVuSans-BoldOblique.ttf"),
        (MONO, "DejaVuSansMono.ttf"),
    ):
        pdfmetrics.registerFont(TTFont(name, str(ttf / file)))
    pdfmetrics.registerFontFamily(
        FONT, normal=FONT, bold=BOLD, italic=ITALIC, boldItalic="DejaVuSans-BoldOblique"
    )


def _styles() -> dict[str, ParagraphStyle]:
    base = ParagraphStyle("body", fontName=FONT, fontSize=9, leading=12, spaceAfter=4)
    return {
        "title": ParagraphStyle("title", parent=base, fontName=BOLD, fontSize=18, leading=22),
        "subtitle": ParagraphStyle("subtitle", parent=base, fontSize=10, leading=13),
        "h2": ParagraphStyle(
            "h2", parent=base, fontName=BOLD, fontSize=14, leading=18, spaceBefore=2, spaceAfter=8
        ),
        "h3": ParagraphStyle(
            "h3", parent=base, fontName=BOLD, fontSize=10.5, leading=14, spaceBefore=8, spaceAfter=4
        ),
        "body": base,
        "note": ParagraphStyle(
            "note", parent=base, fontSize=8, leading=10.5, textColor=colors.HexColor("#555555")
        ),
        "missing": ParagraphStyle("missing", parent=base, fontName=ITALIC, textColor=MISSING_COLOR),
        "code": ParagraphStyle(
            "code",
            parent=base,
            fontName=MONO,
            fontSize=7.5,
            leading=9.5,
            backColor=colors.HexColor("#f4f5f7"),
            borderPadding=4,
            wordWrap="CJK",
            spaceBefore=2,
            spaceAfter=8,
        ),
        "cell": ParagraphStyle(
            "cell", parent=base, fontSize=7.5, leading=9.5, spaceAfter=0, alignment=TA_RIGHT
        ),
        "cell_left": ParagraphStyle(
            "cell_left", parent=base, fontSize=7.5, leading=9.5, spaceAfter=0, alignment=TA_LEFT
        ),
        "cell_center": ParagraphStyle(
            "cell_center",
            parent=base,
            fontSize=7.5,
            leading=9.5,
            spaceAfter=0,
            alignment=TA_CENTER,
        ),
        "cell_mono": ParagraphStyle(
            "cell_mono",
            parent=base,
            fontName=MONO,
            fontSize=6.8,
            leading=8.5,
            spaceAfter=0,
            wordWrap="CJK",
        ),
        "cell_missing": ParagraphStyle(
            "cell_missing",
            parent=base,
            fontName=ITALIC,
            fontSize=6.8,
            leading=8.5,
            spaceAfter=0,
            textColor=MISSING_COLOR,
        ),
        "head": ParagraphStyle(
            "head", parent=base, fontName=BOLD, fontSize=7.5, leading=9.5, spaceAfter=0
        ),
    }


def xml_escape(text: str) -> str:
    """Escape a document string for reportlab's paragraph markup (and keep line breaks)."""
    return escape(str(text)).replace("\n", "<br/>")


def fit_widths(natural: list[float], minimum: list[float], width: float) -> list[float]:
    """Column widths summing to ``width``: the natural widths scaled to fit, except that a
    column that would be squeezed below its ``minimum`` (its longest word, so a header such as
    "method" does not break inside the word) keeps the minimum and the others share the rest.
    Where even the minimums do not fit, every column is scaled alike."""
    total = sum(natural)
    if total <= width or sum(minimum) >= width:
        return [width * w / total for w in natural]
    fixed = [False] * len(natural)
    while True:
        free_natural = sum(n for n, f in zip(natural, fixed, strict=True) if not f)
        room = width - sum(m for m, f in zip(minimum, fixed, strict=True) if f)
        widths = [
            m if f else room * n / free_natural
            for n, m, f in zip(natural, minimum, fixed, strict=True)
        ]
        short = [i for i, w in enumerate(widths) if not fixed[i] and w < minimum[i]]
        if not short:
            return widths
        for i in short:
            fixed[i] = True


class _Heading(Paragraph):
    """A section heading that adds a PDF outline entry."""

    def __init__(self, text: str, style: ParagraphStyle, key: str) -> None:
        super().__init__(xml_escape(text), style)
        self.outline = (text, key)


class _Doc(BaseDocTemplate):
    def __init__(self, target: io.BytesIO, report: model.Report) -> None:
        super().__init__(
            target,
            pagesize=A4,
            leftMargin=MARGIN,
            rightMargin=MARGIN,
            topMargin=MARGIN,
            bottomMargin=MARGIN,
            title=report.title,
            subject=report.subtitle,
            author="glide-bench reports.build",
            creator="glide-bench reports.build",
        )
        frame = Frame(MARGIN, MARGIN, AVAIL_W, PAGE_H - 2 * MARGIN, id="body")
        self.addPageTemplates([PageTemplate("page", [frame], onPage=self._footer)])
        self._report_title = report.title

    def _footer(self, canvas, doc) -> None:
        canvas.saveState()
        canvas.setFont(FONT, 7.5)
        canvas.setFillColor(colors.HexColor("#777777"))
        canvas.drawString(MARGIN, 0.9 * cm, self._report_title)
        canvas.drawRightString(PAGE_W - MARGIN, 0.9 * cm, f"page {doc.page}")
        canvas.restoreState()

    def afterFlowable(self, flowable: Flowable) -> None:
        outline = getattr(flowable, "outline", None)
        if outline:
            text, key = outline
            self.canv.bookmarkPage(key)
            self.canv.addOutlineEntry(text, key, level=0)


class _Renderer:
    def __init__(self) -> None:
        _register_fonts()
        self.s = _styles()

    # -- blocks --------------------------------------------------------------------------
    def block(self, b: model.Block, width: float = AVAIL_W) -> list[Flowable]:
        kind = b.kind
        if kind == "paragraph":
            return [Paragraph(xml_escape(b.text), self.s.get(b.style, self.s["body"]))]
        if kind == "heading":
            return [Paragraph(xml_escape(b.text), self.s["h3"])]
        if kind == "bullets":
            items = [
                ListItem(Paragraph(xml_escape(t), self.s["body"]), leftIndent=12) for t in b.items
            ]
            return [
                ListFlowable(
                    items,
                    bulletType="bullet",
                    start="•",
                    leftIndent=12,
                    bulletFontName=FONT,
                    bulletFontSize=8,
                )
            ]
        if kind == "code":
            return [Paragraph(xml_escape(b.text), self.s["code"])]
        if kind == "keyvalues":
            return [self.keyvalues(b, width)]
        if kind == "table":
            return [self.table(b, width)]
        if kind == "figure":
            return self.figure(b, width)
        if kind == "figure_row":
            return [self.figure_row(b, width)]
        if kind == "image_grid":
            return self.image_grid(b, width)
        raise AssertionError(f"unknown block kind {kind}")

    def _cell(self, c: model.Cell) -> Paragraph:
        if c.missing:
            style = self.s["cell_missing"]
        elif c.mono:
            style = self.s["cell_mono"]
        else:
            style = self.s[{"left": "cell_left", "center": "cell_center"}.get(c.align, "cell")]
        text = xml_escape(c.text)
        if c.best:
            text = f"<b>▲ {text}</b>"
        if c.sub:
            text += f'<br/><font size="6.5" color="#666666">{xml_escape(c.sub)}</font>'
        return Paragraph(text, style)

    def _widths(self, t: model.Table, width: float) -> list[float]:
        """Relative widths if given; else from the text (natural widths, fitted to ``width``)."""
        if t.widths is not None:
            total = sum(t.widths)
            return [width * r / total for r in t.widths]
        natural, minimum = [], []
        for c, head in enumerate(t.header):
            w = max(stringWidth(word, BOLD, 7.5) for word in (head.split() or [""]))
            least = w
            for row in t.rows:
                cell = row[c]
                font = MONO if cell.mono else FONT
                text_w = stringWidth(cell.text, font, 7.5)
                sub_w = stringWidth(cell.sub, FONT, 6.5) if cell.sub else 0.0
                w = max(w, min(text_w, 70.0) if cell.missing else min(text_w, 180.0), sub_w)
                if not cell.missing and not cell.mono:
                    words = cell.text.split() or [""]
                    least = max(least, min(max(stringWidth(x, font, 7.5) for x in words), 60.0))
            natural.append(w + 8.0)  # cell padding
            minimum.append(least + 8.0)
        return fit_widths(natural, minimum, width)

    def table(self, t: model.Table, width: float) -> Table:
        head = [Paragraph(xml_escape(h), self.s["head"]) for h in t.header]
        data = [head] + [[self._cell(c) for c in row] for row in t.rows]
        table = Table(
            data, colWidths=self._widths(t, width), repeatRows=1, hAlign="LEFT", spaceAfter=8
        )
        style = [
            ("GRID", (0, 0), (-1, -1), 0.4, GRID),
            ("BACKGROUND", (0, 0), (-1, 0), HEADER_BG),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("LEFTPADDING", (0, 0), (-1, -1), 3),
            ("RIGHTPADDING", (0, 0), (-1, -1), 3),
            ("TOPPADDING", (0, 0), (-1, -1), 2),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
        ]
        for r in sorted(t.reference_rows):
            style += [
                ("BACKGROUND", (0, r + 1), (-1, r + 1), FLOOR_BG),
                ("LINEABOVE", (0, r + 1), (-1, r + 1), 1.2, colors.HexColor("#9aa3ad")),
                ("LINEBELOW", (0, r + 1), (-1, r + 1), 1.2, colors.HexColor("#9aa3ad")),
            ]
        for r, row in enumerate(t.rows, start=1):
            for c, cell in enumerate(row):
                if cell.best:
                    style.append(("BACKGROUND", (c, r), (c, r), BEST_BG))
                elif cell.shade is not None:
                    color = colors.toColor(shade_color(cell.shade))
                    style.append(("BACKGROUND", (c, r), (c, r), color))
        table.setStyle(TableStyle(style))
        return table

    def keyvalues(self, kv: model.KeyValues, width: float) -> Table:
        key_style = self.s["head"]
        size = 6.8 if kv.small else 7.5
        value_style = ParagraphStyle(
            "kv", parent=self.s["cell_left"], fontSize=size, leading=size + 2, wordWrap="CJK"
        )
        mono_style = ParagraphStyle(
            "kvm", parent=self.s["cell_mono"], fontSize=size - 0.5, leading=size + 1.5
        )
        data = [
            [
                Paragraph(xml_escape(k), key_style),
                Paragraph(xml_escape(v), mono_style if k in kv.mono else value_style),
            ]
            for k, v in kv.rows
        ]
        table = Table(data, colWidths=[0.27 * width, 0.73 * width], hAlign="LEFT", spaceAfter=8)
        table.setStyle(
            TableStyle(
                [
                    ("GRID", (0, 0), (-1, -1), 0.4, GRID),
                    ("BACKGROUND", (0, 0), (0, -1), colors.HexColor("#f7f8fa")),
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                    ("TOPPADDING", (0, 0), (-1, -1), 2),
                    ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
                ]
            )
        )
        return table

    def _image(self, png: bytes, px_w: int, px_h: int, width: float, max_h: float) -> Image:
        scale = min(width / px_w, max_h / px_h)
        return Image(io.BytesIO(png), width=px_w * scale, height=px_h * scale)

    def figure(self, f: model.Figure, width: float, max_h: float = 11 * cm) -> list[Flowable]:
        caption = f.caption + (f" (source: {f.source})" if f.source else "")
        image = self._image(f.png, f.width, f.height, width * f.fraction, max_h)
        image.hAlign = "LEFT"
        return [
            image,
            Paragraph(xml_escape(caption), self.s["note"]),
        ]

    def figure_row(self, row: model.FigureRow, width: float) -> Table:
        half = (width - 0.4 * cm) / 2
        cells = [self.figure(f, half, max_h=9 * cm) for f in row.figures]
        data = [
            cells[i : i + 2] + [[]] * (2 - len(cells[i : i + 2])) for i in range(0, len(cells), 2)
        ]
        table = Table(data, colWidths=[width / 2, width / 2])
        table.setStyle(
            TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0)])
        )
        return table

    def image_grid(self, g: model.ImageGrid, width: float) -> list[Flowable]:
        n = len(g.columns)
        caption_w = min(5.0 * cm, width * 0.3)
        avail_h = PAGE_H - 2 * MARGIN - 4 * cm  # room for the headings and the note
        cell = min(2.8 * cm, (width - caption_w) / max(n, 1), avail_h / max(len(g.rows), 1))
        head = [Paragraph("caption", self.s["head"])] + [
            Paragraph(xml_escape(c), self.s["head"]) for c in g.columns
        ]
        data = [head]
        for row in g.rows:
            line = [Paragraph(xml_escape(row.label), self.s["cell_left"])]
            for png in row.images:
                if png is None:
                    line.append(Paragraph("no sample", self.s["cell_missing"]))
                else:
                    line.append(Image(io.BytesIO(png), width=cell - 4, height=cell - 4))
            data.append(line)
        table = Table(data, colWidths=[caption_w] + [cell] * n, repeatRows=1, hAlign="LEFT")
        table.setStyle(
            TableStyle(
                [
                    ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                    ("LINEBELOW", (0, 0), (-1, 0), 0.4, GRID),
                    ("LEFTPADDING", (0, 0), (-1, -1), 2),
                    ("RIGHTPADDING", (0, 0), (-1, -1), 2),
                    ("TOPPADDING", (0, 0), (-1, -1), 2),
                    ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
                ]
            )
        )
        out: list[Flowable] = [Paragraph(xml_escape(g.title), self.s["h3"]), table]
        if g.note:
            out.append(Paragraph(xml_escape(g.note), self.s["note"]))
        return out

    # -- the document --------------------------------------------------------------------
    def story(self, report: model.Report) -> list[Flowable]:
        s = self.s
        story: list[Flowable] = [
            Paragraph(xml_escape(report.title), s["title"]),
            Paragraph(xml_escape(report.subtitle), s["subtitle"]),
            Paragraph(
                xml_escape(
                    f"Built {report.created_at} by python -m reports.build from "
                    "results files only (no model was loaded)."
                ),
                s["note"],
            ),
            Paragraph(
                "Contents: "
                + xml_escape(
                    "; ".join(f"{i}. {sec.title}" for i, sec in enumerate(report.sections, 1))
                ),
                s["note"],
            ),
            Spacer(1, 8),
        ]
        for i, section in enumerate(report.sections, 1):
            if i > 1:
                story.append(PageBreak())
            # the section heading stays with the first block after it
            pending: list[Flowable] = [_Heading(f"{i}. {section.title}", s["h2"], section.id)]
            for b in section.blocks:
                flow = self.block(b)
                if b.kind == "heading" or (b.kind == "paragraph" and b.style == "note"):
                    pending += flow  # keep a heading or a lead-in note with what follows it
                    continue
                story.append(KeepTogether(pending + flow))
                pending = []
            story += pending
        return story


def render_pdf(report: model.Report) -> bytes:
    """The whole document as PDF bytes."""
    buffer = io.BytesIO()
    doc = _Doc(buffer, report)
    doc.build(_Renderer().story(report))
    return buffer.getvalue()
