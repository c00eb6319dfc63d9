"""Showing text that may come from anyone as plain text, never as Markdown or HTML.

Streamlit renders the body of ``st.markdown``, ``st.error``, ``st.caption``, titles and most
labels as GitHub Markdown: ``[x](https://evil.example)`` would be a live link, and so would a
bare ``https://...``, ``www.`` address or e-mail address (autolinks survive backslash escapes).
The app shows user-controlled strings (query parameters, rater names, captions, study names,
tokens) with ``st.text``, which renders no Markdown at all; where such a string has to sit inside
Markdown, ``md_escape`` makes it inert.
"""

from __future__ import annotations

import re

import streamlit as st

_ZWSP = "\u200b"  # zero-width space: invisible, but no autolink spans it
_PUNCT = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:&@=\"'/^%;?,])")


def md_escape(text: object) -> str:
    """``text`` as Markdown source that renders as exactly that text (on one line): every ASCII
    punctuation mark backslash-escaped, and a zero-width space before each dot and at-sign and
    after each colon and slash, so no URL, www. or e-mail autolink can form."""
    s = " ".join(str(text).split())
    s = _PUNCT.sub(r"\\\1", s)
    s = re.sub(r"(\\[.@])", _ZWSP + r"\1", s)
    return re.sub(r"(\\[:/])", r"\1" + _ZWSP, s)


def plain(text: object) -> None:
    """Show user-controlled text: ``st.text`` renders neither Markdown nor HTML."""
    st.text(str(text))
