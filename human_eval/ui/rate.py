"""The rater page: join with a name or an invite token, then answer one pair at a time.

Each click is written to the database in the button's callback, before the script reruns and
shows the next pair; the rater's key sits in the URL (``?r=...``), so a reload resumes the same
rater at the same unanswered pair with the same left/right order. A repeated click on the same
pair is refused by the database. A click that lands on a *new* pair within
``REPEAT_CLICK_GUARD_S`` of it being drawn (the second half of a double click, or a key held
down) is not counted, and the rater is told so above the pair, which stays on screen.

A ``?r=`` key that matches no rater (a link cut off when copied) is never taken for a new
rater: the page says the link is not valid and how to get the right one. Everything the rater
typed or the URL holds is shown as plain text.
"""

from __future__ import annotations

import time

import streamlit as st
from sqlalchemy.exc import SQLAlchemyError

from human_eval.errors import HumanEvalError
from human_eval.schema import QUESTION_TEXT
from human_eval.store import Rater, VoteStore
from human_eval.ui.common import DISPLAY_PX, LOG, display_image
from human_eval.ui.text import md_escape, plain

REPEAT_CLICK_GUARD_S = 0.4
CHOICE_BUTTONS = (
    ("left", "Left image", "Left"),
    ("tie", "Can't decide", "Down"),
    ("right", "Right image", "Right"),
)
BAD_LINK = (
    "This rating link is not valid: it may have been cut off when it was copied. Open the "
    "whole address of your rating page again (from your browser's history, or from where you "
    "saved it), or ask the person running the study for your link."
)
TOO_FAST = (
    "That answer came less than {s:.1f} s after this pair appeared, so it was not counted "
    "(it looked like the second half of a double click). Look at this pair and answer again."
)


def _say(exc: HumanEvalError) -> str:
    """A store error as a sentence for the rater (its 'name:'-style prefix dropped)."""
    text = str(exc).split(": ", 1)[-1].strip()
    text = text[:1].upper() + text[1:]
    return md_escape(text if text.endswith(".") else text + ".")


def _remember(rater: Rater) -> None:
    st.session_state["rater_key"] = rater.key
    st.query_params["r"] = rater.key


def _forget() -> None:
    st.session_state.pop("rater_key", None)
    if "r" in st.query_params:
        del st.query_params["r"]


def current_rater(store: VoteStore) -> Rater | None:
    """The rater of this session or of the ``?r=`` key; None to show the join form.

    Raises ``BadLink`` for a key that matches nobody (unless an invite in the URL still does).
    """
    key = st.session_state.get("rater_key") or st.query_params.get("r")
    if not key:
        return None
    rater = store.rater_by_key(key)
    if rater is None:
        invite = st.query_params.get("invite")
        if invite:
            try:  # the invite link finds its rater again (and their current key)
                rater = store.join_by_invite(invite)
            except HumanEvalError:
                rater = None
            if rater is not None:
                _remember(rater)
                return rater
        raise BadLink
    st.session_state["rater_key"] = rater.key
    return rater


class BadLink(Exception):
    """The ``?r=`` key in the address matches no rater of this study."""


def bad_link_ui(store: VoteStore) -> None:
    st.error(BAD_LINK)
    if store.config.allow_named_join:
        st.write("If you have not rated in this study before, you can start as a new rater.")
        if st.button("Start as a new rater", key="bad_link_new"):
            _forget()
            st.rerun()


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
            st.error(_say(exc))
    with st.form("join"):
        name = ""
        if store.config.allow_named_join:
            name = st.text_input("Your name", key="join_name", max_chars=100)
        token = st.text_input("Invite token (if you were given one)", key="join_token")
        submitted = st.form_submit_button("Start")
    if submitted:
        try:
            rater = store.join_by_invite(token) if token.strip() else store.join_by_name(name)
        except HumanEvalError as exc:
            st.error(_say(exc))
            return
        _remember(rater)
        st.rerun()


def _vote(store: VoteStore, rater_id: int, assignment_id: int, choice: str) -> None:
    drawn = st.session_state.get("drawn_at", {}).get(assignment_id)
    if drawn is not None and time.monotonic() - drawn < REPEAT_CLICK_GUARD_S:
        # nobody judges a new pair this fast: the tail of a double click; say so
        st.session_state["vote_notice"] = TOO_FAST.format(s=REPEAT_CLICK_GUARD_S)
        return
    st.session_state.pop("vote_notice", None)
    try:
        store.record_vote(rater_id, assignment_id, choice)
        st.session_state.pop("vote_error", None)
    except (HumanEvalError, SQLAlchemyError) as exc:
        LOG.warning("vote not saved: %s", exc)
        st.session_state["vote_error"] = "Your answer was not saved; please answer again."


def task_ui(store: VoteStore, rater: Rater) -> None:
    done, target = store.progress(rater.id)
    st.progress(min(done / target, 1.0), text=f"{done} of {target}")
    st.caption(
        "Every answer is saved as you give it. To come back later, keep this page's address: "
        "it holds your personal key."
    )
    # one fixed slot for messages, so that a message never shifts the pair and its buttons
    slot = st.empty()
    if "vote_error" in st.session_state:
        slot.error(st.session_state["vote_error"])
    task = store.next_task(rater.id)
    if task is None:
        st.session_state.pop("vote_notice", None)
        slot.success(f"All done, thank you! Your {done} answers are saved.")
        return
    if "vote_notice" in st.session_state and "vote_error" not in st.session_state:
        slot.warning(st.session_state["vote_notice"])
    st.session_state.setdefault("drawn_at", {}).setdefault(task.assignment_id, time.monotonic())
    st.subheader(QUESTION_TEXT[task.question])
    plain(f"Caption: {task.caption}")
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
        try:
            rater = current_rater(store)
        except BadLink:
            bad_link_ui(store)
            return
        if rater is None:
            join_ui(store)
        else:
            plain(f"Rating as {rater.name}")
            task_ui(store, rater)
    except SQLAlchemyError as exc:
        LOG.error("database error on the rater page: %s", exc)
        st.error(
            "The study cannot save answers right now; every answer you saw counted is saved. "
            "Reload the page in a moment."
        )
