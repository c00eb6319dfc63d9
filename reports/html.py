"""Render a :class:`reports.blocks.Report` to one self-contained HTML file.

Jinja2 with autoescaping on: every string of the document is escaped, so a caption holding
markup shows as text. Images are embedded as ``data:image/png;base64`` URIs and the style sheet
is inline, so the file opens offline with nothing else beside it; there is no script.
"""

from __future__ import annotations

import base64
from pathlib import Path

import jinja2

from reports.blocks import Report

TEMPLATES = Path(__file__).resolve().parent / "templates"


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def shade_color(value: float) -> str:
    """Diverging background for a win rate: red below 50%, blue above, white at 50%."""
    t = max(0.0, min(1.0, float(value)))
    strength = abs(t - 0.5) * 2.0
    if t >= 0.5:
        r, g, b = 255 - 120 * strength, 255 - 80 * strength, 255
    else:
        r, g, b = 255, 255 - 110 * strength, 255 - 110 * strength
    return f"rgb({r:.0f}, {g:.0f}, {b:.0f})"


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["data_uri"] = data_uri
    env.filters["shade_color"] = shade_color
    return env


def render_html(report: Report) -> str:
    """The whole page as a string (UTF-8 text)."""
    return _environment().get_template("report.html.j2").render(report=report)
