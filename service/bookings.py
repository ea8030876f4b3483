"""Cal.com's reports on a lead's meeting: take one at the door, then apply it to the lead's
thread under its lease, as `service.replies` does for replies.

At the door a delivery names its lead by `payload.metadata.lead_id` (set when this service
booked it), is claimed once per (triggerEvent, payload.uid) — Cal.com's retries are duplicates
— and queued. The worker applies it as a step of the lead's graph: a lead waiting for its rep
is resumed with `Command(resume={"booking": ...})` and waits again; an ended thread gets the
change as an update from `wait_for_rep` and ends again. A lead still being processed, or busy,
gets the change later through a timer the sweeper fires.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Literal, cast

import structlog
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command

from domain.calcom import (
    CalcomWebhook,
    as_change,
    delivery_key,
    earlier_uid,
    inbound,
    lead_of,
    seen,
)
from domain.records import Booking
from graph.context import Context
from service.decide import DecisionError, take_lease
from service.errors import NotFound, Unavailable
from service.replies import MESSAGE_MEMORY_S, THREAD_MEMORY_S, UNQUEUED
from service.runner import thread_config
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
    to the booking a reschedule creates) finds it by the uid of a booking already taken for a
    lead — its own, or the `rescheduleUid` it replaces.

    Raises `NotFound` for an unknown lead and `Unavailable` when the queue is down (the claim
    is released, so Cal.com's retry is taken).
    """
    key = delivery_key(event)
    lead_id = lead_of(event)
    earlier = earlier_uid(event)
    if lead_id is None and earlier:
        lead_id = await cache.cache_get(f"calcom:uid:{earlier}")
    if lead_id is None:
        log.info("cal.com webhook ignored", trigger=event.trigger_event, uid=event.payload.uid)
        return BookingTaken(None, key, "ignored")
    if await records.get_lead(lead_id) is None:
        raise NotFound(f"no lead {lead_id}")
    if event.payload.uid:
        await cache.cache_set(f"calcom:uid:{event.payload.uid}", lead_id, THREAD_MEMORY_S)
    claim = f"calcom:delivery:{key}"
    mine = f"{lead_id}|{uuid.uuid4().hex}"
    held = await cache.cache_set_if_absent(claim, mine, MESSAGE_MEMORY_S)
    if held == UNQUEUED:
        await cache.cache_set(claim, mine, MESSAGE_MEMORY_S)
    elif held != mine:
        log.info("cal.com webhook", lead_id=lead_id, key=key, duplicate=True)
        return BookingTaken(lead_id, key, "duplicate")
    try:
        await enqueue(lead_id, dict(as_change(event)))
    except Exception as exc:
        await cache.cache_set(claim, UNQUEUED, MESSAGE_MEMORY_S)
        log.error("enqueue failed", lead_id=lead_id, key=key, error=str(exc))
        raise Unavailable("the change could not be queued; retry later", lead_id=lead_id) from exc
    log.info("cal.com webhook", lead_id=lead_id, key=key, duplicate=False)
    return BookingTaken(lead_id, key, "queued")


async def defer(timers: Timers, ctx: Context, lead_id: str, change: dict[str, Any]) -> None:
    """Hand the change back to the sweeper: queued again when the timer is due (backing off up
    to ten minutes)."""
    attempt = int(change.get("attempt", 0)) + 1
    delay = min(600.0, 5.0 * 2 ** min(attempt, 8))
    await timers.add_timer(
        f"booking:{change['trigger']}:{change['uid']}",
        ctx.clock().timestamp() + delay,
        {"task": "booking", "lead_id": lead_id, "change": {**change, "attempt": attempt}},
    )


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
    change = {k: v for k, v in change.items() if k != "attempt"}
    try:
        token = await take_lease(ctx, leases, lead_id)
    except DecisionError:
        await defer(timers, ctx, lead_id, change)
        return {"result": "deferred", "detail": "the lead is busy"}
    try:
        config = thread_config(lead_id)
        snapshot = await graph.aget_state(config)
        if snapshot.values.get("inbound_booking") and snapshot.next and not snapshot.interrupts:
            # An earlier change stopped halfway (a crash, a failing backend): finish it first.
            await graph.ainvoke(None, config, context=ctx, durability="sync")
            snapshot = await graph.aget_state(config)
        values = snapshot.values or {}
        held = cast(Booking, values.get("booking") or {})
        if seen(held, inbound(change, waiting=False)):
            return {"result": "duplicate", "detail": "this change was applied already"}
        if not values.get("routing") or (snapshot.next and not snapshot.interrupts):
            await defer(timers, ctx, lead_id, change)
            return {"result": "deferred", "detail": "the lead is still being processed"}
        if snapshot.interrupts:
            final = await graph.ainvoke(
                Command(resume={"booking": change}), config, context=ctx, durability="sync"
            )
        else:
            await graph.aupdate_state(
                config, {"inbound_booking": inbound(change, waiting=False)}, as_node="wait_for_rep"
            )
            final = await graph.ainvoke(None, config, context=ctx, durability="sync")
        status = final["booking"]["status"]
        log.info("cal.com change", lead_id=lead_id, trigger=change["trigger"], status=status)
        return {"result": "applied", "status": status}
    finally:
        await leases.release_lease(f"lead:{lead_id}", token)
