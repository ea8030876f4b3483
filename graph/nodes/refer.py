"""refer: the lead is the wrong person — submit the person it names as a new lead, linked."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from graph.context import Context
from graph.nodes._node import timed
from graph.nodes._reply import once_per_reply, recorded, tell_rep, who
from graph.state import LeadState, ReplyUpdate


@timed("refer")
async def refer(state: LeadState, runtime: Runtime[Context]) -> ReplyUpdate:
    """Submit the referred address through the lead intake (its key derived from the reply's
    message id), so it is routed by the same rules; both records name the other."""
    ctx = runtime.context
    inbound = state.get("inbound_reply") or {}
    referred = inbound.get("verdict", {}).get("referred_email")
    if not referred:
        told = await tell_rep(ctx, state, f"{who(state)} says they are the wrong person.")
        return recorded(
            ctx,
            state,
            "told_rep",
            "wrong person, but the reply names no address to refer to; the rep is told",
            deliveries={"rep": told},
        )
    if ctx.intake is None:
        return recorded(ctx, state, "noted", f"wrong person; refers to {referred} (no intake)")
    lead = state.get("lead", {})
    company = state.get("enrichment", {}).get("company", {}).get("name") or lead.get("company")
    mid = inbound.get("message_id", "")
    payload: dict[str, Any] = {
        "email": referred,
        "source": "referral",
        "message": f"Referred by {lead.get('email')} (lead {state['lead_id']}) in a reply.",
        "properties": {"referred_by_lead_id": state["lead_id"], "referral_reply": mid},
    }
    payload.update(
        {k: v for k, v in {"company": company, "country": lead.get("country")}.items() if v}
    )
    intake = ctx.intake
    submitted = await once_per_reply(
        ctx, state, "referral", lambda: intake.submit_lead(payload, f"referral:{mid}")
    )
    told = await tell_rep(
        ctx, state, f"{who(state)} is the wrong person and referred {referred}: a new lead."
    )
    return recorded(
        ctx,
        state,
        "referred",
        f"wrong person; {referred} submitted as a new lead, routed by the same rules",
        referral_lead_id=submitted["lead_id"],
        deliveries={"rep": told, "referral": submitted},
    )
