"""Cal.com's reports on a lead's meeting: take one at the door, then apply it to the lead's
thread under its lease, as `service.lead_events` applies every outside event.

At the door a delivery names its lead by `payload.metadata.lead_id` (set when this service
booked it), is claimed once per (triggerEvent, payload.uid) — Cal.com's retries are duplicates
— and queued. The worker applies it as a step of the lead's graph: a lead waiting for its rep
is resumed with `Command(resume={"booking": ...})` and waits again; an ended thread gets the
change as an update from `wait_for_rep` and ends again. A lead still being processed, or busy,
gets the change later through a timer the sweeper fires.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, cast

import structlog
from langgraph.graph.state import CompiledStateGraph

from domain.calcom import (
    UID_MEMORY_S,
    CalcomWebhook,
    as_change,
    delivery_key,
    inbound,
    known_uids,
    lead_of,
    seen,
    uid_key,
)
from domain.config import RoutingConfig
from domain.records import Booking
from graph.context import Context
from service.errors import NotFound
from service.lead_events import (
    ThreadEvent,
    apply_to_thread,
    claim_and_queue,
    defer_to_timer,
)
from tools.calendar_builtin import BuiltinCalendar
from tools.ports import Cache, LeadRecords, Leases, Timers

log = structlog.get_logger("lead_router.bookings")


@dataclass(frozen=True)
class BookingTaken:
    """What became of a delivery at the door."""

    lead_id: str | None
    key: str
    status: Literal["queued", "duplicate", "ignored"]


async def take_booking(
    records: LeadRecords, cache: Cache, enqueue: Any, event: CalcomWebhook
) -> BookingTaken:
    """Find the booking's lead, claim (trigger, uid) and queue the change; a repeat changes
    nothing, and a booking that is not ours (or a trigger not acted on) is ignored.

    The lead is `metadata.lead_id`; a delivery without it (Cal.com may not copy the metadata
    to the booking a reschedule creates) finds it by a uid recorded for a lead when the
    meeting was booked or an earlier delivery named it — the `rescheduleUid` it replaces, else
    its own.

    Raises `NotFound` for an unknown lead and `Unavailable` when the queue is down (the claim
    is released, so Cal.com's retry is taken).
    """
    key = delivery_key(event)
    lead_id = lead_of(event)
    for uid in known_uids(event) if lead_id is None else []:
        lead_id = await cache.cache_get(uid_key(uid))
        if lead_id is not None:
            break
    if lead_id is None:
        log.info("cal.com webhook ignored", trigger=event.trigger_event, uid=event.payload.uid)
        return BookingTaken(None, key, "ignored")
    if await records.get_lead(lead_id) is None:
        raise NotFound(f"no lead {lead_id}")
    if event.payload.uid:
        await cache.cache_set(uid_key(event.payload.uid), lead_id, UID_MEMORY_S)
    held = await claim_and_queue(
        cache,
        f"calcom:delivery:{key}",
        lead_id,
        lambda: enqueue(lead_id, dict(as_change(event))),
        "the change could not be queued; retry later",
    )
    log.info("cal.com webhook", lead_id=lead_id, key=key, duplicate=held is not None)
    return BookingTaken(lead_id, key, "queued" if held is None else "duplicate")


async def defer(timers: Timers, ctx: Context, lead_id: str, change: dict[str, Any]) -> None:
    """Hand the change back to the sweeper: queued again when the timer is due (backing off
    up to ten minutes)."""
    key = f"booking:{change['trigger']}:{change['uid']}"
    await defer_to_timer(timers, ctx, key, lead_id, change, task="booking", carried_as="change")


async def apply_booking(
    graph: CompiledStateGraph[Any, Any, Any, Any],
    ctx: Context,
    leases: Leases,
    timers: Timers,
    lead_id: str,
    change: dict[str, Any],
) -> dict[str, Any]:
    """Run the change through the lead's graph under its lease; returns what happened
    (`applied` with the meeting's status, `duplicate`, or `deferred`)."""
    tried = {"attempt": change["attempt"]} if "attempt" in change else {}
    change = {k: v for k, v in change.items() if k != "attempt"}  # not part of the change

    def outcome(final: dict[str, Any]) -> dict[str, Any]:
        status = final["booking"]["status"]
        log.info("cal.com change", lead_id=lead_id, trigger=change["trigger"], status=status)
        return {"result": "applied", "status": status}

    event = ThreadEvent(
        kind="booking",
        noun="change",
        payload=change,
        pending="inbound_booking",
        ended=lambda: inbound(change, waiting=False),
        applied=lambda values: seen(
            cast(Booking, values.get("booking") or {}), inbound(change, waiting=False)
        ),
        outcome=outcome,
        defer=lambda: defer(timers, ctx, lead_id, {**change, **tried}),
    )
    return await apply_to_thread(graph, ctx, leases, lead_id, event)


@dataclass(frozen=True)
class MeetingPage:
    """What the public page of a built-in calendar booking shows: no lead data, only the
    meeting (its host, its time in UTC and in the host's timezone)."""

    host: str
    start: datetime
    end: datetime
    timezone: str


async def meeting_page(calendar: object, routing: RoutingConfig, booking_id: str) -> MeetingPage:
    """The built-in calendar's booking `booking_id`, for its page.

    Raises `NotFound` for an unknown id, or when the built-in calendar is not the one in use
    (Cal.com's bookings have Cal.com's own pages).
    """
    if not isinstance(calendar, BuiltinCalendar):
        raise NotFound("bookings are on Cal.com; open the link in the invitation")
    booking = await calendar.get(booking_id)
    if booking is None:
        raise NotFound(f"no booking {booking_id}")
    rep_id = booking.get("rep_id", "")
    host = routing.rep(rep_id).name if rep_id in {r.id for r in routing.reps} else rep_id
    return MeetingPage(
        host=host,
        start=datetime.fromisoformat(booking["start"]),
        end=datetime.fromisoformat(booking["end"]),
        timezone=booking.get("timezone", "UTC"),
    )
