"""book: hold a meeting with the owner for a hot lead (built-in calendar or Cal.com)."""

from __future__ import annotations

from datetime import datetime

from langgraph.runtime import Runtime

from domain.calcom import UID_MEMORY_S, uid_key
from domain.records import Booking
from graph.context import Context
from graph.nodes._node import timed
from graph.state import BookUpdate, LeadState


async def remember_booking(ctx: Context, lead_id: str, booking: Booking) -> None:
    """Record which lead a Cal.com booking is for, so Cal.com's later report on it (moved,
    cancelled) finds the lead even without the booking's metadata."""
    uid = booking.get("booking_id")
    if uid and booking.get("provider") == "cal.com" and booking.get("status") == "confirmed":
        await ctx.cache.cache_set(uid_key(uid), lead_id, UID_MEMORY_S)


@timed("book")
async def book(state: LeadState, runtime: Runtime[Context]) -> BookUpdate:
    """Book the first free slot in the owner's working hours."""
    ctx = runtime.context
    routing = state.get("routing", {})
    lead = state.get("lead", {})
    owner = routing.get("owner")
    if not owner:
        return {"booking": {"status": "skipped", "reason": "no rep owns this lead"}}
    rep = {
        **ctx.routing.rep(owner).model_dump(),
        "calcom_event_type_id": ctx.routing.calcom_event_type(owner, routing.get("team")),
    }
    attendee = {
        "email": lead.get("email"),
        "name": lead.get("full_name") or lead.get("email"),
        "company": state.get("enrichment", {}).get("company", {}).get("name"),
    }
    received = state.get("received_at")
    after = max(ctx.clock(), datetime.fromisoformat(received)) if received else ctx.clock()
    booking = await ctx.calendar.book(f"{state['lead_id']}:meeting", rep, attendee, after)
    await remember_booking(ctx, state["lead_id"], booking)
    return {"booking": booking}
