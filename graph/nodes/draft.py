"""draft: a first-touch email for the rep, stating only facts from the lead and its enrichment."""

from __future__ import annotations

from langgraph.runtime import Runtime

from domain.draft import compose
from graph.context import Context
from graph.nodes._node import timed
from graph.state import DraftUpdate, LeadState


@timed("draft")
async def draft(state: LeadState, runtime: Runtime[Context]) -> DraftUpdate:
    """Write the rep's first-touch email from a template."""
    ctx = runtime.context
    routing = state.get("routing", {})
    owner, queue = routing.get("owner"), routing.get("queue")
    if owner:
        rep_name = ctx.routing.rep(owner).name.split()[0]
    else:  # a queue's lead is signed by its team ("The Partnerships team")
        rep_name = f"The {(queue or 'sales').replace('-', ' ').capitalize()} team"
    return {"draft": compose(state, rep_name, ctx.clock())}
