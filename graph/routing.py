"""Pure branch functions: which node runs next, decided from state alone."""

from __future__ import annotations

from typing import Literal

from graph.state import LeadState


def after_route(state: LeadState) -> Literal["book", "draft", "nurture", "notify"]:
    """Hot leads get a meeting, warm ones a draft, cold ones nurture; the rest go to notify."""
    action = state.get("routing", {}).get("action")
    if action == "book":
        return "book"
    if action == "draft":
        return "draft"
    if action == "nurture":
        return "nurture"
    if action in {"support", "disqualify"}:
        return "notify"
    raise ValueError(f"after_route: unknown routing action {action!r}")


def after_notify(state: LeadState) -> Literal["wait_for_rep", "__end__"]:
    """A lead someone was told about waits for their decision; a disqualified one ends."""
    routing = state.get("routing", {})
    if routing.get("action") == "disqualify" or routing.get("accepted"):
        return "__end__"
    if routing.get("owner") or routing.get("queue"):
        return "wait_for_rep"
    return "__end__"


def after_notify_assisted(state: LeadState) -> Literal["assist", "wait_for_rep", "__end__"]:
    """With a language model: a lead just told about (not disqualified, first hop, not yet
    assisted) goes to assist first; the rest as `after_notify`."""
    routing = state.get("routing", {})
    if (
        "assist" not in state
        and routing.get("action") != "disqualify"
        and not routing.get("hops")
        and not routing.get("accepted")
    ):
        return "assist"
    return after_notify(state)


def after_decision(
    state: LeadState,
) -> Literal["accept", "reassign", "not_a_fit", "classify_reply", "booking_changed"]:
    """The node that applies the rep's decision, reads the lead's reply, or applies a change
    to its meeting."""
    if state.get("inbound_booking"):
        return "booking_changed"
    if state.get("inbound_reply"):
        return "classify_reply"
    decision = state.get("rep_decision", {}).get("decision")
    if decision == "accept":
        return "accept"
    if decision == "reassign":
        return "reassign"
    if decision == "not_a_fit":
        return "not_a_fit"
    raise ValueError(f"after_decision: unknown rep decision {decision!r}")


def after_reassign(state: LeadState) -> Literal["notify", "wait_for_rep"]:
    """A lead that moved tells its new owner; one that stayed (escalated) waits again."""
    log = state.get("routing", {}).get("log", [])
    return "notify" if log and log[-1].get("result") == "reassigned" else "wait_for_rep"


ReplyStep = Literal[
    "reply_book", "reply_answer", "reply_nurture", "opt_out", "reschedule", "refer", "note_reply"
]
REPLY_STEPS: dict[str, ReplyStep] = {
    "interested": "reply_book",
    "meeting_request": "reply_book",
    "question": "reply_answer",
    "not_now": "reply_nurture",
    "unsubscribe": "opt_out",
    "out_of_office": "reschedule",
    "wrong_person": "refer",
    "spam": "note_reply",
    "other": "note_reply",
}


def after_reply_read(state: LeadState) -> ReplyStep:
    """The step that acts on the reply, by its kind."""
    kind = (state.get("inbound_reply") or {}).get("verdict", {}).get("kind")
    if kind not in REPLY_STEPS:
        raise ValueError(f"after_reply_read: unknown reply kind {kind!r}")
    return REPLY_STEPS[kind]


def after_reply(state: LeadState) -> Literal["wait_for_rep", "__end__"]:
    """A lead that was waiting for its rep waits again; a closed one stays closed."""
    replies = state.get("replies") or []
    return "wait_for_rep" if replies and replies[-1].get("waiting") else "__end__"


def after_booking(state: LeadState) -> Literal["wait_for_rep", "__end__"]:
    """A lead that was waiting for its rep waits again after a change to its meeting; an ended
    one stays ended."""
    history = state.get("booking", {}).get("history") or []
    return "wait_for_rep" if history and history[-1].get("waiting") else "__end__"
