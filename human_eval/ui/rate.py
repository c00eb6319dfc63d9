"""The rater page: join with a name or an invite token, then answer one pair at a time.

Each click is written to the database in the button's callback, before the script reruns and
shows the next pair; the rater's key sits in the URL (``?r=...``), so a reload resumes the same
rater at the same unanswered pair with the same left/right order. A repeated click on the same
pair is refused by the database; a click that lands on a *new* pair within
``REPEAT_CLICK_GUARD_S`` of it being drawn (the second half of a double click) is ignored.
"""

from __future__ import annotations

import time

import streamlit as st
from sqlalchemy.exc import SQLAlchemyError

from human_eval.errors import HumanEvalError
from human_eval.schema import QUESTION_TEXT
from human_eval.store import Rater, VoteStore
from human_eval.ui.common import DISPLAY_PX, display_image

REPEAT_CLICK_GUARD_S = 0.4
CHOICE_BUTTONS = (
    ("left", "Left image", "Left"),
    ("tie", "Can't decide", "Down"),
    ("right", "Right image", "Right"),
)


def _remember(rater: Rater) -> None:
    st.session_state["rater_key"] = rater.key
    st.query_params["r"] = rater.key


def current_rater(store: VoteStore) -> Rater | None:
    key = st.session_state.get("rater_key") or st.query_params.get("r")
    rater = store.rater_by_key(key) if key else None
    if rater is not None:
        st.session_state["rater_key"] = rater.key
    return rater


def join_ui(store: VoteStore) -> None:
    st.markdown(
        "You will see two images made for the same caption and answer one question about "
        "them: which image is **more photorealistic**, or which **better matches the "
        "caption**. If you really cannot tell, choose *Can't decide*."
    )
    invite = st.query_params.get("invite")
    if invite:
        try:
            _remember(store.join_by_invite(invite))
            st.rerun()
        except HumanEvalError as exc:
            st.error(str(exc))
    with st.form("join"):
        name = ""
        if store.study.config.allow_named_join:
            name = st.text_input("Your name", key="join_name")
        token = st.text_input("Invite token (if you were given one)", key="join_token")
        submitted = st.form_submit_button("Start")
    if submitted:
        try:
            rater = store.join_by_invite(token) if token.strip() else store.join_by_name(name)
        except HumanEvalError as exc:
            st.error(str(exc))
            return
        _remember(rater)
        st.rerun()


def _vote(store: VoteStore, rater_id: int, assignment_id: int, choice: str) -> None:
    drawn = st.session_state.get("drawn_at", {}).get(assignment_id)
    if drawn is not None and time.monotonic() - drawn < REPEAT_CLICK_GUARD_S:
        return  # nobody judges a new pair this fast: the tail of a double click
    try:
        store.record_vote(rater_id, assignment_id, choice)
        st.session_state.pop("vote_error", None)
    except (HumanEvalError, SQLAlchemyError) as exc:
        st.session_state["vote_error"] = f"your answer was not saved ({exc}); please answer again"


def task_ui(store: VoteStore, rater: Rater) -> None:
    done, target = store.progress(rater.id)
    st.progress(min(done / target, 1.0), text=f"{done} of {target}")
    st.caption(
        "Every answer is saved as you give it. To come back later, keep this page's address: "
        "it holds your personal key."
    )
    if "vote_error" in st.session_state:
        st.error(st.session_state["vote_error"])
    task = store.next_task(rater.id)
    if task is None:
        st.success(f"All done, thank you {rater.name}! Your {done} answers are saved.")
        return
    st.session_state.setdefault("drawn_at", {}).setdefault(task.assignment_id, time.monotonic())
    st.subheader(QUESTION_TEXT[task.question])
    st.markdown(f"**Caption:** {task.caption}")
    left, right = st.columns(2)
    for col, image, side in ((left, task.left, "Left"), (right, task.right, "Right")):
        with col:
            st.image(display_image(image.id, image.path, image.png), width=DISPLAY_PX, caption=side)
    cols = st.columns(3)
    for col, (choice, label, shortcut) in zip(cols, CHOICE_BUTTONS, strict=True):
        with col:
            st.button(
                label,
                key=f"vote-{task.assignment_id}-{choice}",
                shortcut=shortcut,
                on_click=_vote,
                args=(store, rater.id, task.assignment_id, choice),
                width="stretch",
            )
    st.caption("Keyboard: ← left image, ↓ can't decide, → right image.")


def rate_page(store: VoteStore) -> None:
    st.title("Which image is better?")
    try:
        rater = current_rater(store)
        if rater is None:
            join_ui(store)
        else:
            st.caption(f"Rating as {rater.name}")
            task_ui(store, rater)
    except SQLAlchemyError as exc:
        st.error(
            f"The vote database is not reachable ({type(exc).__name__}); every answer you "
            "saw counted is saved. Reload the page in a moment."
        )
