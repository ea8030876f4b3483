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
