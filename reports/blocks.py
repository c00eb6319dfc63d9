"""A small, format-neutral model of a report: sections made of blocks.

The section builders (``reports.sections``, ``reports.human``) turn results files into these
frozen dataclasses; ``reports.html`` and ``reports.pdf`` render the same document. Every string
here is plain text, never markup: the renderers escape it. A number that could not be computed is
a :class:`Cell` with ``missing=True`` whose text says why, never a blank or a zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True)
class Paragraph:
    """A paragraph of text; ``style`` is "body", "note" (small, grey) or "missing"."""

    text: str
    style: str = "body"
    kind: ClassVar[str] = "paragraph"


@dataclass(frozen=True)
class Heading:
    """A sub-heading inside a section."""

    text: str
    kind: ClassVar[str] = "heading"


@dataclass(frozen=True)
class Bullets:
    items: tuple[str, ...]
    kind: ClassVar[str] = "bullets"


@dataclass(frozen=True)
class Code:
    """Verbatim text (commands, hashes), shown monospaced and wrapped."""

    text: str
    kind: ClassVar[str] = "code"


@dataclass(frozen=True)
class KeyValues:
    """A two-column list of facts; a value marked ``mono`` holds hashes, paths or commands."""

    rows: tuple[tuple[str, str], ...]
    mono: frozenset[str] = frozenset()  # keys whose values are shown monospaced
    small: bool = False  # long technical lists (versions, options) in a smaller font
    kind: ClassVar[str] = "keyvalues"


@dataclass(frozen=True)
class Cell:
    """One table cell: main text, an optional second line (e.g. an interval) and marks."""

    text: str
    sub: str = ""
    best: bool = False  # best value of its column: bold and marked
    missing: bool = False  # text says why the number is absent
    mono: bool = False
    shade: float | None = None  # 0..1: heat-map background (win rates); None: none
    align: str = "right"  # "left" for labels


def label_cell(text: str) -> Cell:
    return Cell(text, align="left")


@dataclass(frozen=True)
class Table:
    header: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]
    caption: str = ""
    notes: tuple[str, ...] = ()
    widths: tuple[float, ...] | None = None  # relative column widths (PDF); None: even
    reference_rows: frozenset[int] = frozenset()  # rows set apart (the real-images floor)
    kind: ClassVar[str] = "table"

    def __post_init__(self) -> None:
        for row in self.rows:
            assert len(row) == len(self.header), (self.header, row)
        if self.widths is not None:
            assert len(self.widths) == len(self.header), (self.header, self.widths)


@dataclass(frozen=True)
class Figure:
    """A PNG image with its caption; ``source`` says where it came from (file or drawn)."""

    png: bytes
    caption: str
    width: int
    height: int
    source: str = ""
    fraction: float = 1.0  # of the text width (print and screen)
    kind: ClassVar[str] = "figure"


@dataclass(frozen=True)
class FigureRow:
    """Figures side by side (two per row in print)."""

    figures: tuple[Figure, ...]
    kind: ClassVar[str] = "figure_row"


@dataclass(frozen=True)
class GridRow:
    label: str  # the caption
    images: tuple[bytes | None, ...]  # PNG per column; None: that run lacks this sample


@dataclass(frozen=True)
class ImageGrid:
    """Samples: rows are captions, columns are guidance scales of one method."""

    title: str
    columns: tuple[str, ...]
    rows: tuple[GridRow, ...]
    note: str = ""
    kind: ClassVar[str] = "image_grid"


Block = Paragraph | Heading | Bullets | Code | KeyValues | Table | Figure | FigureRow | ImageGrid


@dataclass(frozen=True)
class Section:
    id: str  # anchor name in HTML
    title: str
    blocks: tuple[Block, ...]


@dataclass(frozen=True)
class Report:
    title: str
    subtitle: str
    created_at: str
    sections: tuple[Section, ...]

    def section(self, section_id: str) -> Section:
        for section in self.sections:
            if section.id == section_id:
                return section
        raise KeyError(section_id)
