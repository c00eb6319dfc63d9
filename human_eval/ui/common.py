"""Shared pieces of the Streamlit pages: which database, cached store objects, images."""

from __future__ import annotations

import argparse
import io
import os
from collections.abc import Sequence

import streamlit as st
from PIL import Image

from human_eval.database import Database, open_database
from human_eval.store import VoteStore

ENV_DB = "HUMAN_EVAL_DB"
DISPLAY_PX = 256  # both images of a pair are shown at this size (the paper showed 256x256)


def db_url_from_args(argv: Sequence[str]) -> str | None:
    """``--db URL`` from the script arguments (after ``--`` in ``streamlit run``).

    Falls back to the environment variable HUMAN_EVAL_DB.
    """
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument("--db", default=None)
    known, _ = parser.parse_known_args(list(argv))
    return known.db or os.environ.get(ENV_DB) or None


@st.cache_resource(show_spinner=False)
def get_database(url: str) -> Database:
    return open_database(url)


@st.cache_resource(show_spinner=False)
def get_store(url: str, study: str) -> VoteStore:
    return VoteStore(get_database(url), study)


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
