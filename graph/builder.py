"""Assemble the lead graph.

capture → enrich → classify → score → route → book | draft | nurture → notify → wait_for_rep
wait_for_rep (interrupt) → accept | not_a_fit → END; → reassign → notify (or wait again)
a reply (resumes wait_for_rep, or enters an ended thread as its update) → classify_reply →
  reply_book | reply_answer | reply_nurture | opt_out | reschedule | refer | note_reply →
  wait_for_rep again (if the lead was waiting) or END
a Cal.com change to the meeting (entered like a reply) → booking_changed → wait_for_rep or END
with a language model: notify → assist → wait_for_rep (the rep is told before the model asked)
"""

from __future__ import annotations

from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import RetryPolicy

from graph.context import Context
from graph.nodes.accept import accept
from graph.nodes.assist import assist as assist_node
from graph.nodes.book import book
from graph.nodes.booking_changed import booking_changed
from graph.nodes.capture import capture
from graph.nodes.classify import classify
from graph.nodes.classify_reply import classify_reply
from graph.nodes.draft import draft
from graph.nodes.enrich import enrich
from graph.nodes.not_a_fit import not_a_fit
from graph.nodes.note_reply import note_reply
from graph.nodes.notify import notify
from graph.nodes.nurture import nurture
from graph.nodes.opt_out import opt_out
from graph.nodes.reassign import reassign
from graph.nodes.refer import refer
from graph.nodes.reply_answer import reply_answer
from graph.nodes.reply_book import reply_book
from graph.nodes.reply_nurture import reply_nurture
from graph.nodes.reschedule import reschedule
from graph.nodes.route import route
from graph.nodes.score import score
from graph.nodes.wait_for_rep import wait_for_rep
from graph.routing import (
    after_booking,
    after_decision,
    after_notify,
    after_notify_assisted,
    after_reassign,
    after_reply,
    after_reply_read,
    after_route,
)
from graph.state import LeadState

REPLY_STEPS = (
    "reply_book",
    "reply_answer",
    "reply_nurture",
    "opt_out",
    "reschedule",
    "refer",
    "note_reply",
)
REPLY_NODES = ("classify_reply", *REPLY_STEPS)
NODES = (
    "capture",
    "enrich",
    "classify",
    "score",
    "route",
    "book",
    "draft",
    "nurture",
    "notify",
    "wait_for_rep",
    "accept",
    "reassign",
    "not_a_fit",
    *REPLY_NODES,
    "booking_changed",
)
IO_NODES = {"capture", "enrich", "route", "book", "notify", "accept", "reassign", "not_a_fit"}
IO_NODES |= {"booking_changed"}
IO_NODES |= {"classify_reply", *REPLY_STEPS}


DECISIONS = ("capture", "enrich", "classify", "score", "route")


def build_graph(
    *,
    checkpointer: BaseCheckpointSaver[Any] | None,
    max_attempts: int = 3,
    initial_interval: float = 0.5,
    decisions_only: bool = False,
    assist: bool = False,
) -> CompiledStateGraph[LeadState, Context, LeadState, LeadState]:
    """Compile the graph; nodes that call tools retry with `RetryPolicy`.

    `decisions_only` compiles capture → … → route and stops there: the same nodes without the
    side effects of book, draft, notify and the rep's decisions (the backtest replays it).
    `assist` adds the language model's step after notify (when one is configured): the rep is
    told first, and the model's answers update the record and the message afterwards.
    """
    retry = RetryPolicy(
        max_attempts=max_attempts, initial_interval=initial_interval, jitter=initial_interval > 0
    )
    nodes = {
        "capture": capture,
        "enrich": enrich,
        "classify": classify,
        "score": score,
        "route": route,
        "book": book,
        "draft": draft,
        "nurture": nurture,
        "notify": notify,
        "wait_for_rep": wait_for_rep,
        "accept": accept,
        "reassign": reassign,
        "not_a_fit": not_a_fit,
        "classify_reply": classify_reply,
        "reply_book": reply_book,
        "reply_answer": reply_answer,
        "reply_nurture": reply_nurture,
        "opt_out": opt_out,
        "reschedule": reschedule,
        "refer": refer,
        "note_reply": note_reply,
        "booking_changed": booking_changed,
    }
    builder = StateGraph(LeadState, context_schema=Context)
    for name in DECISIONS if decisions_only else NODES:
        builder.add_node(name, nodes[name], retry_policy=retry if name in IO_NODES else None)
    builder.add_edge(START, "capture")
    builder.add_edge("capture", "enrich")
    builder.add_edge("enrich", "classify")
    builder.add_edge("classify", "score")
    builder.add_edge("score", "route")
    if decisions_only:
        builder.add_edge("route", END)
        return builder.compile(checkpointer=checkpointer, name="lead-router-decisions")
    builder.add_conditional_edges("route", after_route, ["book", "draft", "nurture", "notify"])
    builder.add_edge("book", "draft")
    builder.add_edge("draft", "notify")
    builder.add_edge("nurture", "notify")
    if assist:
        builder.add_node("assist", assist_node, retry_policy=retry)
        builder.add_conditional_edges(
            "notify", after_notify_assisted, ["assist", "wait_for_rep", END]
        )
        builder.add_conditional_edges("assist", after_notify, ["wait_for_rep", END])
    else:
        builder.add_conditional_edges("notify", after_notify, ["wait_for_rep", END])
    builder.add_conditional_edges(
        "wait_for_rep",
        after_decision,
        ["accept", "reassign", "not_a_fit", "classify_reply", "booking_changed"],
    )
    builder.add_conditional_edges("booking_changed", after_booking, ["wait_for_rep", END])
    builder.add_conditional_edges("classify_reply", after_reply_read, list(REPLY_STEPS))
    for step in REPLY_STEPS:
        builder.add_conditional_edges(step, after_reply, ["wait_for_rep", END])
    builder.add_edge("accept", END)
    builder.add_edge("not_a_fit", END)
    builder.add_conditional_edges("reassign", after_reassign, ["notify", "wait_for_rep"])
    return builder.compile(checkpointer=checkpointer, name="lead-router")
