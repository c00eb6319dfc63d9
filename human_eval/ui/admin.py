"""The admin page (``?study=NAME&page=admin``, behind the study's admin token): progress, who is
left out of the ratings and why, live ratings, agreement, raters with gold-pair accuracy and
exclusion, and downloads of all votes.

Wrong tokens are slowed down (``throttle``). Downloads exist only inside a logged-in session:
the file is built when asked for and sent over the session's own connection, embedded in the
page as a ``data:`` link, never stored under a ``/media/...`` address another client could
fetch. Rater names and the study name are shown as plain text.
"""

from __future__ import annotations

import base64
import io
import re

import pandas as pd
import streamlit as st

from human_eval.store import Study, VoteStore, check_admin_token, load_study
from human_eval.ui.common import LOG, client_address, get_throttle
from human_eval.ui.text import md_escape, plain
from human_eval.vote_tables import (
    conditions_frame,
    exclusion_summary,
    progress_frame,
    raters_frame,
    repeat_pairs,
    set_excluded,
    votes_frame,
)

LIVE_BOOTSTRAP = 200
# the columns of the ratings' tables shown here (the full tables: python -m human_eval.ratings)
RATING_VIEW = ["question", "condition", "system", "rating", "ci_low", "ci_high", "n_votes"]
AGREEMENT_VIEW = ["question", "statistic", "value", "ci_low", "ci_high", "n_items"]


def _columns(df: pd.DataFrame, wanted: list[str]) -> pd.DataFrame:
    return df[[c for c in wanted if c in df.columns]]


def login_ui(store: VoteStore) -> bool:
    ok = st.session_state.setdefault("admin_ok", {})
    if ok.get(store.study.name):
        return True
    throttle, who = get_throttle(), client_address()
    with st.form("admin_login"):
        token = st.text_input("Admin token", type="password", key="admin_token")
        submitted = st.form_submit_button("Open admin view")
    if submitted:
        wait = throttle.wait_s(store.study.name, who)
        if wait > 0:
            st.error(f"Too many wrong tokens: wait {wait:.0f} s before the next try.")
        elif check_admin_token(store.study, token):
            throttle.succeeded(store.study.name, who)
            ok[store.study.name] = True
            st.rerun()
        else:
            wait = throttle.failed(store.study.name, who)
            LOG.warning("wrong admin token for a study from %s", who)
            st.error(
                "Wrong admin token: use the token printed by `python -m human_eval.study "
                "create`." + (f" Wait {wait:.0f} s before the next try." if wait > 0 else "")
            )
    return False


def _left_out_ui(summary: dict) -> None:
    st.subheader("Left out of the ratings")
    st.write(
        f"**{summary['raters_left_out']} of {summary['raters']} raters** "
        f"({summary['votes_left_out']} of {summary['votes']} votes) are left out of the "
        f"ratings: {summary['raters_excluded']} excluded by hand "
        f"({summary['votes_excluded']} votes) and {summary['raters_flagged']} flagged by the "
        f"gold pairs ({summary['votes_flagged']} votes)."
    )
    if not summary["rule"].startswith("no gold pairs"):
        st.caption(
            f"Rule of this study: {md_escape(summary['rule'])}. Change it with `python -m "
            "human_eval.study configure --gold-min-accuracy X --gold-min-answered N`."
        )
    else:
        st.caption(md_escape(summary["rule"]))


def _ratings_ui(study: Study, votes: pd.DataFrame, conditions: pd.DataFrame) -> None:
    from human_eval.ratings.compute import RatingSettings, compute_ratings

    # what the ratings use by default: regular pairs, first showings, raters neither excluded
    # by hand nor flagged by the gold pairs
    used = votes[~votes["is_gold"] & (votes["repeat"] == 0)].copy()
    used = used[~used["rater_excluded"] & ~used["rater_flagged"]]
    if used.empty:
        st.info("No votes to rate yet.")
        return
    result = compute_ratings(
        used,
        conditions,
        study.reference,
        list(study.config.questions),
        RatingSettings(n_boot=LIVE_BOOTSTRAP),
    )
    st.caption(
        f"Relative to {md_escape(study.reference)}; 95% bootstrap intervals "
        f"({LIVE_BOOTSTRAP} replicates); gold pairs, repeats and left-out raters not used."
    )
    st.dataframe(_columns(result.ratings, RATING_VIEW), hide_index=True, key="admin_ratings")
    for question, matrix in result.winrates.items():
        st.markdown(f"Win rate ({question}): row beats column")
        st.dataframe(matrix, key=f"admin_winrate_{question}")
    st.subheader("Agreement")
    st.caption(
        "Between raters, on items judged by two or more of them (first showings; the study's "
        f"overlap rate is {study.config.overlap_rate:g})."
    )
    st.dataframe(_columns(result.agreement, AGREEMENT_VIEW), hide_index=True, key="admin_agreement")


def _consistency_ui(study: Study, votes: pd.DataFrame) -> None:
    pairs = repeat_pairs(votes)
    st.markdown("**Intra-rater consistency**")
    if pairs.empty:
        st.caption(
            "No repeated item answered yet (the study's repeat rate is "
            f"{study.config.repeat_rate:g})."
        )
        return
    st.write(
        f"{int(pairs['consistent'].sum())} of {len(pairs)} repeated items got the same answer "
        f"as the first time ({pairs['consistent'].mean():.0%}; the repeat shows the pair with "
        "left and right swapped)."
    )


_RATER_COLUMNS = {
    "rater": st.column_config.TextColumn("Rater", width="medium"),
    "status": st.column_config.TextColumn("Status", width="small"),
    "flagged": st.column_config.CheckboxColumn("Flagged", width="small"),
    "excluded": st.column_config.CheckboxColumn("Excluded", width="small"),
    "n_votes": st.column_config.NumberColumn("Votes", width="small"),
    "gold": st.column_config.TextColumn("Gold right", width="small"),
    "gold_accuracy": st.column_config.NumberColumn("Gold acc.", format="percent", width="small"),
    "excluded_reason": st.column_config.TextColumn("Reason", width="medium"),
    "joined": st.column_config.TextColumn("Joined (UTC)", width="small"),
}


def raters_table(raters: pd.DataFrame) -> pd.DataFrame:
    """The raters table as shown: every column fits a normal window."""
    df = raters.copy()
    df["gold"] = [f"{c}/{a}" for c, a in zip(df["gold_correct"], df["gold_answered"], strict=True)]
    df["joined"] = pd.to_datetime(df["joined_at"], utc=True).dt.strftime("%m-%d %H:%M")
    df["excluded_reason"] = df["excluded_reason"].fillna("")
    return df[list(_RATER_COLUMNS)]


def _raters_ui(store: VoteStore, raters: pd.DataFrame) -> None:
    st.subheader("Raters")
    flagged = raters[raters["flagged"]]
    if not flagged.empty:
        st.warning(f"{len(flagged)} rater(s) flagged by the gold pairs:")
        plain(", ".join(flagged["rater"]))
    with st.container(key="admin_raters_box"):
        st.dataframe(
            raters_table(raters),
            hide_index=True,
            key="admin_raters",
            column_config=_RATER_COLUMNS,
            width="stretch",
        )
    if raters.empty:
        return
    st.markdown("**Exclude or include a rater**")
    a, b = st.columns([1, 2])
    name = a.selectbox(
        "Rater",
        raters["rater"].tolist(),
        index=None,
        placeholder="Choose a rater",
        key="admin_rater_pick",
    )
    reason = b.text_input(
        "Reason (shown in this table)",
        value="",
        placeholder="e.g. failed the gold pairs",
        key="admin_reason",
        max_chars=200,
    )
    c, d = st.columns(2)
    if c.button("Exclude rater", key="admin_exclude", disabled=name is None):
        set_excluded(store.db, store.study, name, True, reason.strip())
        st.rerun()
    if d.button("Include rater again", key="admin_include", disabled=name is None):
        set_excluded(store.db, store.study, name, False)
        st.rerun()


def _download_link(label: str, data: bytes, file_name: str, mime: str) -> str:
    b64 = base64.b64encode(data).decode("ascii")
    return (
        f'<a download="{file_name}" href="data:{mime};base64,{b64}" '
        f'data-testid="admin-download">{label}</a>'
    )


def _export_ui(store: VoteStore, votes: pd.DataFrame) -> None:
    st.subheader("Export")
    if not st.session_state.get("admin_export_ready"):
        if st.button("Prepare downloads", key="admin_prepare"):
            st.session_state["admin_export_ready"] = True
            st.rerun()
        st.caption("The files are built for this logged-in page only.")
        return
    stem = "votes_" + (re.sub(r"[^A-Za-z0-9_.-]+", "_", store.study.name).strip("._") or "study")
    buf = io.BytesIO()
    votes.to_parquet(buf, index=False)
    links = [
        _download_link(
            "Download votes (CSV)",
            votes.to_csv(index=False).encode("utf-8"),
            f"{stem}.csv",
            "text/csv",
        ),
        _download_link(
            "Download votes (Parquet)",
            buf.getvalue(),
            f"{stem}.parquet",
            "application/octet-stream",
        ),
    ]
    st.markdown(" &nbsp; · &nbsp; ".join(links), unsafe_allow_html=True)
    if st.button("Done", key="admin_export_done"):
        st.session_state["admin_export_ready"] = False
        st.rerun()


def admin_page(store: VoteStore) -> None:
    st.title("Study admin")
    plain(f"Study: {store.study.name}")
    if not login_ui(store):
        return
    study = load_study(store.db, store.study.name)  # the current settings (flagging rule)
    st.button("Refresh", key="admin_refresh")
    votes = votes_frame(store.db, study)
    raters = raters_frame(store.db, study)
    conditions = conditions_frame(store.db, study)
    summary = exclusion_summary(study, raters)
    st.subheader("Progress")
    a, b, c, d = st.columns(4)
    a.metric("Votes", len(votes))
    b.metric("Raters", len(raters))
    c.metric("Excluded raters", summary["raters_excluded"])
    d.metric("Flagged raters", summary["raters_flagged"])
    st.dataframe(progress_frame(store.db, study), hide_index=True, key="admin_progress")
    _left_out_ui(summary)
    _raters_ui(store, raters)
    st.subheader("Ratings")
    try:
        _ratings_ui(study, votes, conditions)
    except Exception:  # noqa: BLE001 - the ratings must not take the admin page down
        LOG.exception("live ratings failed")
        st.error("The live ratings could not be computed (details in the server log).")
    _consistency_ui(study, votes)
    _export_ui(store, votes)
