"""not_a_fit: the rep judges the lead not a fit; it is disqualified with the reason."""

from __future__ import annotations

from langgraph.runtime import Runtime

from domain.rep_decisions import disqualified, event
from graph.context import Context
from graph.nodes._node import timed
from graph.nodes._rep import close_message, contact_id
from graph.state import DecisionUpdate, LeadState


@timed("not_a_fit")
async def not_a_fit(state: LeadState, runtime: Runtime[Context]) -> DecisionUpdate:
    """Disqualify the lead, note who and why in the CRM, and close the rep's message."""
    ctx = runtime.context
    entry = event(state["rep_decision"], state["routing"])
    routing = disqualified(state["routing"], entry)
    contact = await contact_id(ctx, state)
    if contact:
        await ctx.crm.add_note(
            contact,
            f"{state['lead_id']}:not-a-fit",
            f"Not a fit, by {entry['by']}: {routing['disqualified']['reason']}.",
        )
    deliveries = await close_message(ctx, state, f"🚫 Not a fit — {entry['by']}")
    return {"routing": routing, "deliveries": deliveries}
