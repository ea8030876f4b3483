"""booking_changed: Cal.com reported the lead's meeting made, moved or cancelled — record it,
show it in the rep's message, note it in the CRM and tell the owner, each once per (trigger,
uid)."""

from __future__ import annotations

from typing import Any, cast

from langgraph.runtime import Runtime

from domain.calcom import changed, describe
from domain.records import Booking
from domain.rep_message import closed, lead_message, notice
from graph.context import Context
from graph.nodes._node import once, timed
from graph.nodes._rep import closed_with, contact_id
from graph.state import BookingChangedUpdate, LeadState


def _zone(ctx: Context, state: LeadState) -> str | None:
    """The owner's time zone, else the meeting's, else the one Cal.com gave."""
    owner = state.get("routing", {}).get("owner")
    if owner:
        return ctx.routing.rep(owner).timezone
    return state.get("booking", {}).get("timezone") or (state.get("inbound_booking") or {}).get(
        "timezone"
    )


async def _edit_message(
    ctx: Context, state: LeadState, booking: Booking, effect: str, text: str
) -> dict[str, Any] | None:
    """Show the meeting as it now stands (moved, or cancelled) in the rep's message, with the
    change as its last line: the buttons stay while the lead waits for an open decision, and
    a closed message keeps what closed it. None when no message was sent."""
    sent = (state.get("deliveries") or {}).get("rep.message") or {}
    message = lead_message(
        cast(LeadState, {**state, "booking": booking}),
        ctx.routing,
        base_url=ctx.settings.public_url,
    )
    if not sent.get("id") or message is None:
        return None
    waiting = bool((state.get("inbound_booking") or {}).get("waiting"))
    ended = closed_with(state)
    if ended:
        message = closed(message, f"{ended} · {text}")
    elif waiting:
        message = {**message, "status": text}
    else:
        message = closed(message, text)
    return await once(
        ctx.receipts, state["lead_id"], effect, lambda: ctx.notifier.update(sent, message)
    )


@timed("booking_changed")
async def booking_changed(state: LeadState, runtime: Runtime[Context]) -> BookingChangedUpdate:
    """Apply the change to the meeting; note it in the CRM and tell the owner, once."""
    ctx = runtime.context
    change = state.get("inbound_booking") or {}
    lead_id = state["lead_id"]
    key = f"calcom.{change.get('trigger')}.{change.get('uid')}"
    lead = state.get("lead", {})
    who = change.get("attendee") or lead.get("full_name") or lead.get("email") or lead_id
    text = describe(change, who, _zone(ctx, state))
    deliveries: dict[str, Any] = {}
    shown = changed(state.get("booking", {}), change)
    edited = await _edit_message(ctx, state, shown, f"{key}.rep.message", text)
    if edited is not None:
        deliveries["rep.message"] = edited
    contact = await contact_id(ctx, state)
    if contact:
        deliveries["crm.note"] = await once(
            ctx.receipts,
            lead_id,
            f"{key}.crm.note",
            lambda: ctx.crm.add_note(contact, f"{lead_id}:{key}", f"Cal.com: {text}."),
        )
    addressed = lead_message(state, ctx.routing, base_url=ctx.settings.public_url)
    if addressed is not None:
        message = notice(lead_id, addressed["channel"], addressed["recipient"], text)
        deliveries["rep"] = await once(
            ctx.receipts,
            lead_id,
            f"{key}.rep",
            lambda: ctx.notifier.send(f"{lead_id}:{key}", message),
        )
    entry = {
        **change,
        "waiting": bool(change.get("waiting")),
        "at": ctx.clock().isoformat(),
        "text": text,
        "deliveries": deliveries,
    }
    booking = changed(state.get("booking", {}), entry)  # type: ignore[arg-type]
    return {"booking": booking, "inbound_booking": None}
