"""What the rep-decision nodes share: the lead's CRM contact, editing the rep's message and
telling the team's manager."""

from __future__ import annotations

from typing import Any

from domain.records import Deliveries, Routing
from domain.rep_message import closed, lead_message, notice
from graph.context import Context
from graph.state import LeadState


async def contact_id(ctx: Context, state: LeadState) -> str | None:
    """The CRM id of the lead's contact, if it has one."""
    email = state.get("lead", {}).get("email")
    contact = await ctx.crm.find_contact(email) if email else None
    return str(contact["id"]) if contact else None


async def close_message(ctx: Context, state: LeadState, status: str) -> Deliveries:
    """Edit the rep's current message to say what happened, without buttons; the deliveries
    with the edit's receipt, which keeps the status the message was closed with."""
    deliveries: dict[str, Any] = dict(state.get("deliveries") or {})
    receipt = deliveries.get("rep.message")
    message = lead_message(state, ctx.routing, base_url=ctx.settings.public_url)
    if receipt and receipt.get("id") and message:
        edited = await ctx.notifier.update(receipt, closed(message, status))
        deliveries["rep.message.update"] = {**edited, "status": status}
    return deliveries


def closed_with(state: LeadState) -> str | None:
    """What the rep's current message says closed it (accepted, not a fit, opted out), or None
    while it is open."""
    deliveries = state.get("deliveries") or {}
    sent, edit = deliveries.get("rep.message") or {}, deliveries.get("rep.message.update") or {}
    if edit.get("status") and edit.get("id") == sent.get("id"):
        return str(edit["status"])
    if state.get("opted_out"):
        return opted_out_status(state)
    return None


def opted_out_status(state: LeadState) -> str:
    """The line the rep's message shows once the lead opted out."""
    return f"🔕 {who(state)} opted out — no further touches"


def who(state: LeadState) -> str:
    """The lead as a rep reads it: name or email, and company."""
    lead = state.get("lead", {})
    company = state.get("enrichment", {}).get("company", {}).get("name") or lead.get("company")
    name = lead.get("full_name") or lead.get("email") or state["lead_id"]
    return f"{name} ({company})" if company else name


async def tell_manager(
    ctx: Context, state: LeadState, routing: Routing, hop: int, what: str
) -> None:
    """Tell the manager of the lead's team (if it has one) what became of the lead."""
    team_id = routing.get("team")
    team = ctx.routing.team(team_id) if team_id else None
    if team is None or not team.manager:
        return
    manager = ctx.routing.rep(team.manager)
    text = f"Lead {who(state)} {what}."
    lead_id = state["lead_id"]
    await ctx.notifier.send(
        f"{lead_id}:manager:hop{hop}",
        notice(lead_id, manager.slack_id or f"dm:{manager.id}", manager.id, text),
    )
