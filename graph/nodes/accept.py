"""accept: the owner takes the lead; the CRM owner is confirmed and the message closed."""

from __future__ import annotations

from langgraph.runtime import Runtime

from domain.rep_decisions import accepted, event
from graph.context import Context
from graph.nodes._node import timed
from graph.nodes._rep import close_message, contact_id
from graph.state import DecisionUpdate, LeadState


@timed("accept")
async def accept(state: LeadState, runtime: Runtime[Context]) -> DecisionUpdate:
    """Confirm the owner in the CRM, note who accepted, and close the rep's message."""
    ctx = runtime.context
    routing = state["routing"]
    entry = event(state["rep_decision"], routing)
    confirmed = {}
    contact = await contact_id(ctx, state)
    owner_email = routing.get("owner_email")
    if contact and owner_email:
        confirmed["crm.owner.confirmed"] = await ctx.crm.assign_owner(contact, owner_email)
        await ctx.crm.add_note(
            contact,
            f"{state['lead_id']}:accepted",
            f"Accepted by {entry['by']} at {entry['at']}.",
        )
    deliveries = await close_message(ctx, state, f"✅ Accepted by {entry['by']}")
    return {"routing": accepted(routing, entry), "deliveries": {**deliveries, **confirmed}}
