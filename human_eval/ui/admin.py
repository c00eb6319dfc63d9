"""The admin page (behind the study's admin token): progress, live ratings, agreement,
raters with gold-pair accuracy and exclusion, export of all votes."""

from __future__ import annotations

import io

import streamlit as st

from human_eval.ratings.compute import RatingSettings, compute_ratings
from human_eval.store import VoteStore, check_admin_token
from human_eval.tables import (
    conditions_frame,
    progress_frame,
    raters_frame,
    set_excluded,
    votes_frame,
)

LIVE_BOOTSTRAP = 200


def login_ui(store: VoteStore) -> bool:
    ok = st.session_state.setdefault("admin_ok", {})
    if ok.get(store.study.name):
        return True
    with st.form("admin_login"):
        token = st.text_input("Admin token", type="password", key="admin_token")
        submitted = st.form_submit_button("Open admin view")
    if submitted:
        if check_admin_token(store.study, token):
            ok[store.study.name] = True
            st.rerun()
        st.error("wrong admin token: use the token printed by `python -m human_eval.study create`")
    return False


def _ratings_ui(store: VoteStore, votes, conditions) -> None:  # noqa: ANN001
    if votes[~votes["is_gold"]].empty:
        st.info("No votes yet.")
        return
    result = compute_ratings(
        votes,
        conditions,
        store.study.reference,
        list(store.study.config.questions),
        RatingSettings(n_boot=LIVE_BOOTSTRAP),
    )
    st.caption(
        f"Relative to {store.study.reference!r}; 95% bootstrap intervals "
        f"({LIVE_BOOTSTRAP} replicates); gold pairs and excluded raters left out."
    )
    st.dataframe(result.ratings, hide_index=True, key="admin_ratings")
    for question, matrix in result.winrates.items():
        st.markdown(f"Win rate ({question}): row beats column")
        st.dataframe(matrix, key=f"admin_winrate_{question}")
    st.subheader("Agreement")
    st.dataframe(result.agreement, hide_index=True, key="admin_agreement")


def _raters_ui(store: VoteStore, raters) -> None:  # noqa: ANN001
    st.dataframe(raters, hide_index=True, key="admin_raters")
    if raters.empty:
        return
    name = st.selectbox("Rater", raters["rater"].tolist(), key="admin_rater_pick")
    reason = st.text_input("Reason", value="failed gold pairs", key="admin_reason")
    a, b = st.columns(2)
    if a.button("Exclude rater", key="admin_exclude"):
        set_excluded(store.db, store.study, name, True, reason)
        st.rerun()
    if b.button("Include rater again", key="admin_include"):
        set_excluded(store.db, store.study, name, False)
        st.rerun()


def _export_ui(store: VoteStore, votes) -> None:  # noqa: ANN001
    stem = f"votes_{store.study.name}"
    st.download_button(
        "Download votes (CSV)",
        votes.to_csv(index=False).encode("utf-8"),
        file_name=f"{stem}.csv",
        mime="text/csv",
        key="admin_csv",
    )
    buf = io.BytesIO()
    votes.to_parquet(buf, index=False)
    st.download_button(
        "Download votes (Parquet)",
        buf.getvalue(),
        file_name=f"{stem}.parquet",
        mime="application/octet-stream",
        key="admin_parquet",
    )


def admin_page(store: VoteStore) -> None:
    st.title(f"Admin: {store.study.name}")
    if not login_ui(store):
        return
    st.button("Refresh", key="admin_refresh")
    votes = votes_frame(store.db, store.study)
    raters = raters_frame(store.db, store.study, votes)
    conditions = conditions_frame(store.db, store.study)
    st.subheader("Progress")
    a, b, c = st.columns(3)
    a.metric("Votes", len(votes))
    b.metric("Raters", len(raters))
    c.metric("Excluded raters", int(raters["excluded"].sum()))
    st.dataframe(progress_frame(store.db, store.study), hide_index=True, key="admin_progress")
    st.subheader("Ratings")
    _ratings_ui(store, votes, conditions)
    st.subheader("Raters")
    flagged = raters[raters["flagged"]]
    if not flagged.empty:
        st.warning(f"Flagged by gold pairs: {', '.join(flagged['rater'])}")
    _raters_ui(store, raters)
    st.subheader("Export")
    _export_ui(store, votes)
