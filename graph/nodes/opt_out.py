"""opt_out: the lead asked not to be contacted — mark the CRM contact, note it, stop touches."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from domain.records import Nurture, OptOut
from domain.rep_message import closed, lead_message
from graph.context import Context
from graph.nodes._node import timed
from graph.nodes._rep import opted_out_status
from graph.nodes._reply import once_per_reply, recorded
from graph.state import LeadState, ReplyUpdate


@timed("opt_out")
async def opt_out(state: LeadState, runtime: Runtime[Context]) -> ReplyUpdate:
    """Set `opted_out` on the CRM contact with a note, close the rep's message, stop nurture;
    later SLA reminders, reassign messages and nurture touches check the flag."""
    ctx = runtime.context
    inbound = state.get("inbound_reply") or {}
    evidence = inbound.get("verdict", {}).get("evidence", [])
    if state.get("opted_out"):
        return recorded(ctx, state, "already_opted_out", "the lead had already opted out")
    now = ctx.clock().isoformat()
    mid = inbound.get("message_id", "")
    deliveries: dict[str, Any] = {}
    email = state.get("lead", {}).get("email")
    if email:
        contact = await once_per_reply(
            ctx,
            state,
            "crm.opt_out",
            lambda: ctx.crm.upsert_contact(
                email, {"opted_out": True, "opted_out_at": now, "opt_out_reply": mid}
            ),
        )
        deliveries["crm.opt_out"] = contact
        said = "; ".join(f'"{q}"' for q in evidence) or "an unsubscribe request"
        deliveries["crm.note"] = await once_per_reply(
            ctx,
            state,
            "crm.note",
            lambda: ctx.crm.add_note(
                contact["id"],
                f"{state['lead_id']}:opt-out:{mid}",
                f"Opted out by reply {mid} ({said}). No further touches.",
            ),
        )
    receipt = (state.get("deliveries") or {}).get("rep.message")
    message = lead_message(state, ctx.routing, base_url=ctx.settings.public_url)
    if receipt and receipt.get("id") and message:
        status = opted_out_status(state)
        deliveries["rep.message"] = await once_per_reply(
            ctx, state, "rep.message", lambda: ctx.notifier.update(receipt, closed(message, status))
        )
    optout: OptOut = {"at": now, "message_id": mid, "evidence": evidence}
    update = recorded(
        ctx,
        state,
        "opted_out",
        "the reply asks not to be contacted: opted out in the CRM, touches stopped",
        deliveries=deliveries,
    )
    update["opted_out"] = optout
    if state.get("nurture"):
        stopped: Nurture = {**state["nurture"], "stopped": f"opted out by reply {mid}"}
        update["nurture"] = stopped
    return update
