"""Shared pieces of the Streamlit pages: which database, cached store objects, images, chrome.

Nothing internal reaches a rater: errors are written to the server's log (logger
``human_eval.app``) and the page says only what the visitor can do about them.
"""

from __future__ import annotations

import argparse
import io
import logging
from collections.abc import Sequence

import streamlit as st
from PIL import Image

from human_eval.database import ENV_DB, Database, db_url_from, open_database
from human_eval.errors import HumanEvalError
from human_eval.store import VoteStore
from human_eval.ui.throttle import LoginThrottle

DISPLAY_PX = 256  # both images of a pair are shown at this size (the paper showed 256x256)
LOG = logging.getLogger("human_eval.app")
__all__ = ["ENV_DB"]

# Streamlit's own chrome is for developers: raters get no toolbar, deploy button, main menu or
# sidebar. `python -m human_eval.serve` also turns them off in the server settings; this covers a
# plain `streamlit run` too.
_HIDE_CHROME = """<style>
[data-testid="stToolbar"], [data-testid="stMainMenu"], [data-testid="stAppDeployButton"],
[data-testid="stDecoration"], [data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"],
[data-testid="stStatusWidget"] { display: none !important; }
header[data-testid="stHeader"] { background: transparent; height: 0; }
</style>"""


def hide_chrome() -> None:
    for option, value in (("client.toolbarMode", "minimal"), ("client.showErrorDetails", "none")):
        try:
            st.set_option(option, value)
        except Exception:  # noqa: BLE001 - an older Streamlit: the CSS still hides it
            LOG.debug("cannot set %s", option)
    st.html(_HIDE_CHROME)


def db_url_from_args(argv: Sequence[str]) -> str | None:
    """``--db URL`` from the script arguments (after ``--`` in ``streamlit run``), else the
    environment variable HUMAN_EVAL_DB (how ``human_eval.serve`` passes it: never on a
    command line, where other users of the machine could read a password)."""
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument("--db", default=None)
    known, _ = parser.parse_known_args(list(argv))
    try:
        return db_url_from(known.db)
    except HumanEvalError:
        return None


@st.cache_resource(show_spinner=False)
def get_database(url: str) -> Database:
    return open_database(url)


@st.cache_resource(show_spinner=False)
def get_store(url: str, study: str) -> VoteStore:
    return VoteStore(get_database(url), study)


@st.cache_resource(show_spinner=False)
def get_throttle() -> LoginThrottle:
    return LoginThrottle()


def client_address() -> str:
    """The visitor's address as the server sees it (a reverse proxy's, behind one)."""
    try:
        ip = st.context.ip_address
    except Exception:  # noqa: BLE001 - no request context
        return "unknown"
    return ip if isinstance(ip, str) and ip else "unknown"


@st.cache_data(show_spinner=False, max_entries=2048)
def display_image(image_id: int, path: str | None, png: bytes | None) -> bytes:
    """PNG bytes of the image resized to DISPLAY_PX x DISPLAY_PX (Lanczos)."""
    source = path if path is not None else io.BytesIO(png or b"")
    with Image.open(source) as img:
        img = img.convert("RGB")
        if img.size != (DISPLAY_PX, DISPLAY_PX):
            img = img.resize((DISPLAY_PX, DISPLAY_PX), Image.LANCZOS)
        buf = io.BytesIO()
        img.save(buf, format="PNG")
    del image_id  # part of the cache key only
    return buf.getvalue()
