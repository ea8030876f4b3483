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


def after_decision(state: LeadState) -> Literal["accept", "reassign", "not_a_fit"]:
    """The node that applies the rep's decision."""
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
