"""reply_book: the lead is interested or asks to meet — hold a meeting with its owner, once."""

from __future__ import annotations

from typing import cast

from langgraph.runtime import Runtime

from domain.calcom import HELD
from domain.records import Booking
from graph.context import Context
from graph.nodes._node import timed
from graph.nodes._reply import once_per_reply, recorded, tell_rep, who
from graph.nodes.book import remember_booking
from graph.state import LeadState, ReplyUpdate


@timed("reply_book")
async def reply_book(state: LeadState, runtime: Runtime[Context]) -> ReplyUpdate:
    """Book the owner's first free slot, unless the lead has a meeting or opted out."""
    ctx = runtime.context
    if state.get("opted_out"):
        return recorded(ctx, state, "suppressed", "the lead opted out: no meeting is booked")
    held = state.get("booking", {})
    if held.get("status") in HELD:
        told = await tell_rep(
            ctx,
            state,
            f"{who(state)} replied keen to meet; the meeting at {held.get('start')} stands.",
        )
        return recorded(
            ctx,
            state,
            "already_booked",
            f"the lead already has a confirmed meeting ({held.get('start')}); no second one",
            deliveries={"rep": told},
        )
    owner = state.get("routing", {}).get("owner")
    if not owner:
        told = await tell_rep(ctx, state, f"{who(state)} replied keen to meet; please book it.")
        return recorded(
            ctx,
            state,
            "told_rep",
            "no rep owns this lead, so no calendar to book in; the queue is told",
            deliveries={"rep": told},
        )
    lead = state.get("lead", {})
    rep = ctx.routing.rep(owner).model_dump()
    attendee = {
        "email": lead.get("email"),
        "name": lead.get("full_name") or lead.get("email"),
        "company": state.get("enrichment", {}).get("company", {}).get("name"),
    }
    mid = (state.get("inbound_reply") or {}).get("message_id")
    booking = cast(
        Booking,
        await once_per_reply(
            ctx,
            state,
            "book",
            lambda: ctx.calendar.book(  # type: ignore[arg-type,return-value]
                f"{state['lead_id']}:meeting:reply:{mid}", rep, attendee, ctx.clock()
            ),
        ),
    )
    booking = cast(Booking, {k: v for k, v in booking.items() if k != "replayed"})
    await remember_booking(ctx, state["lead_id"], booking)
    if booking.get("status") != "confirmed":
        told = await tell_rep(ctx, state, f"{who(state)} wants to meet; no free slot was found.")
        return recorded(
            ctx,
            state,
            "told_rep",
            f"no free slot: {booking.get('reason', 'calendar unavailable')}",
            booking=booking,
            deliveries={"rep": told},
        )
    told = await tell_rep(
        ctx, state, f"{who(state)} replied keen to meet: meeting booked for {booking['start']}."
    )
    update = recorded(
        ctx,
        state,
        "booked",
        f"the reply asks to meet; booked {owner}'s first free slot",
        booking=booking,
        deliveries={"rep": told},
    )
    update["booking"] = booking
    return update
