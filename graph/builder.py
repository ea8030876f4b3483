"""Assemble the lead graph.

capture → enrich → classify → score → route → book | draft | nurture → notify
"""

from __future__ import annotations

from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import RetryPolicy

from graph.context import Context
from graph.nodes.book import book
from graph.nodes.capture import capture
from graph.nodes.classify import classify
from graph.nodes.draft import draft
from graph.nodes.enrich import enrich
from graph.nodes.notify import notify
from graph.nodes.nurture import nurture
from graph.nodes.route import route
from graph.nodes.score import score
from graph.routing import after_route
from graph.state import LeadState

NODES = ("capture", "enrich", "classify", "score", "route", "book", "draft", "nurture", "notify")
IO_NODES = {"capture", "enrich", "route", "book", "notify"}


def build_graph(
    *,
    checkpointer: BaseCheckpointSaver[Any] | None,
    max_attempts: int = 3,
    initial_interval: float = 0.5,
) -> CompiledStateGraph[LeadState, Context, LeadState, LeadState]:
    """Compile the graph; nodes that call tools retry with `RetryPolicy`."""
    retry = RetryPolicy(
        max_attempts=max_attempts, initial_interval=initial_interval, jitter=initial_interval > 0
    )
    builder = StateGraph(LeadState, context_schema=Context)
    for name, func in (
        ("capture", capture),
        ("enrich", enrich),
        ("classify", classify),
        ("score", score),
        ("route", route),
        ("book", book),
        ("draft", draft),
        ("nurture", nurture),
        ("notify", notify),
    ):
        builder.add_node(name, func, retry_policy=retry if name in IO_NODES else None)
    builder.add_edge(START, "capture")
    builder.add_edge("capture", "enrich")
    builder.add_edge("enrich", "classify")
    builder.add_edge("classify", "score")
    builder.add_edge("score", "route")
    builder.add_conditional_edges("route", after_route, ["book", "draft", "nurture", "notify"])
    builder.add_edge("book", "draft")
    builder.add_edge("draft", "notify")
    builder.add_edge("nurture", "notify")
    builder.add_edge("notify", END)
    return builder.compile(checkpointer=checkpointer, name="lead-router")
