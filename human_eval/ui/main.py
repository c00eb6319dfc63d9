"""Page routing for the app: choose the study, then the rater page or the admin page."""

from __future__ import annotations

import sys

import streamlit as st

from human_eval.errors import HumanEvalError
from human_eval.store import list_studies
from human_eval.ui.admin import admin_page
from human_eval.ui.common import db_url_from_args, get_database, get_store
from human_eval.ui.rate import rate_page

PAGES = ("Rate", "Admin")


def main(argv: list[str] | None = None) -> None:
    st.set_page_config(page_title="glide-bench human evaluation", layout="wide")
    url = db_url_from_args(sys.argv[1:] if argv is None else argv)
    if not url:
        st.error(
            "No database: start the app with `streamlit run human_eval/app.py -- --db URL` "
            "or `python -m human_eval.serve --db URL`."
        )
        return
    try:
        db = get_database(url)
        studies = list_studies(db)
    except HumanEvalError as exc:
        st.error(str(exc))
        return
    name = st.query_params.get("study")
    if name is None:
        if not studies:
            st.error(
                "This database holds no study yet; create one with "
                "`python -m human_eval.study create`."
            )
            return
        name = studies[0] if len(studies) == 1 else st.sidebar.selectbox("Study", studies)
    try:
        store = get_store(url, name)
    except HumanEvalError as exc:
        st.error(str(exc))
        return
    wanted = "Admin" if st.query_params.get("page") == "admin" else "Rate"
    page = st.sidebar.radio("Page", PAGES, index=PAGES.index(wanted), key="page")
    if page == "Admin":
        admin_page(store)
    else:
        rate_page(store)
