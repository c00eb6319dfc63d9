"""Page routing: ``?study=NAME`` is the rater page, ``?study=NAME&page=admin`` the admin page.

There is no menu between them (the admin page is reached only by its own address) and no list
of studies unless a study is public by setting (``study create --public`` or ``study configure
--public yes``): a bare address shows only public studies. Unknown studies, unreachable
databases and unexpected errors get a short neutral message; the details go to the server log.
"""

from __future__ import annotations

import sys

import streamlit as st

from human_eval.errors import HumanEvalError
from human_eval.store import UnknownStudyError, list_studies
from human_eval.ui.admin import admin_page
from human_eval.ui.common import LOG, db_url_from_args, get_database, get_store, hide_chrome
from human_eval.ui.rate import rate_page
from human_eval.ui.text import md_escape

NOT_FOUND = (
    "This study link is not valid. Check that you opened the whole address you were given, "
    "or ask the person running the study for the link."
)
UNAVAILABLE = "The study is not available right now. Please try again in a few minutes."
NO_STUDY = "To take part in a study, open the link you were given."
FAILED = (
    "Something went wrong on our side. Reload the page in a moment: every answer you saw "
    "counted is saved."
)


def main(argv: list[str] | None = None) -> None:
    admin = st.query_params.get("page") == "admin"
    st.set_page_config(
        page_title="Image comparison" if not admin else "Study admin",
        layout="wide" if admin else "centered",
        initial_sidebar_state="collapsed",
    )
    hide_chrome()
    try:
        _route(sys.argv[1:] if argv is None else argv, admin)
    except Exception:  # st.rerun / st.stop are BaseExceptions and pass through
        LOG.exception("page failed")
        st.error(FAILED)


def _route(argv: list[str], admin: bool) -> None:
    url = db_url_from_args(argv)
    if not url:
        st.error(
            "No database: start the app with `python -m human_eval.serve --db URL` (or set "
            "HUMAN_EVAL_DB)."
        )
        return
    try:
        db = get_database(url)
    except HumanEvalError as exc:
        LOG.error("cannot open the vote database: %s", exc)
        st.error(UNAVAILABLE)
        return
    name = st.query_params.get("study")
    if name is None:
        _public_studies(list_studies(db, public_only=True))
        return
    try:
        store = get_store(url, name)
    except UnknownStudyError:
        LOG.info("unknown study requested (%d characters)", len(name))
        st.error(NOT_FOUND)
        return
    except HumanEvalError as exc:
        LOG.error("cannot open study: %s", exc)
        st.error(UNAVAILABLE)
        return
    if admin:
        admin_page(store)
    else:
        rate_page(store)


def _public_studies(names: list[str]) -> None:
    st.title("Image comparison studies")
    if not names:
        st.info(NO_STUDY)
        return
    st.write("Choose a study to take part in:")
    for i, name in enumerate(names):
        if st.button(md_escape(name), key=f"open-study-{i}"):
            st.query_params.clear()
            st.query_params["study"] = name
            st.rerun()
