"""Replies to a lead: take one at the door, then apply it to the lead's thread under its lease.

At the door a reply finds its lead (by `lead_id`, or by `email` plus `thread_id`), is claimed
once per `message_id` (a redelivery is a duplicate) and queued. The worker applies it as a
step of the lead's graph: a lead waiting for its rep is resumed with
`Command(resume={"reply": ...})`; an ended thread (accepted, not a fit, disqualified) gets the
reply as an update from `wait_for_rep` and runs on from there. A lead still being processed,
or busy, gets the reply later through a timer the sweeper fires: it waits, it is never lost.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command

from domain.replies import ReplyIn, parse_inbound
from graph.context import Context
from service.decide import DecisionError, take_lease
from service.errors import NotFound, Unavailable
from service.runner import thread_config
from tools.ports import Cache, LeadRecords, Leases, Timers

log = structlog.get_logger("lead_router.replies")

MESSAGE_MEMORY_S = 30 * 86400  # a message id is remembered this long to absorb redeliveries
THREAD_MEMORY_S = 365 * 86400  # a thread id names its lead this long
UNQUEUED = "unqueued"


@dataclass(frozen=True)
class ReplyTaken:
    """What became of a reply at the door: queued now, or a repeat of one already taken."""

    lead_id: str
    message_id: str
    duplicate: bool


async def find_lead(records: LeadRecords, cache: Cache, reply: ReplyIn) -> str:
    """The lead a reply answers: its `lead_id`, or the lead of `thread_id` (a thread an earlier
    reply named with its lead id, or a thread id that is the lead id) whose email is `email`.

    Raises `NotFound` when no such lead exists.
    """
    if reply.lead_id:
        if await records.get_lead(reply.lead_id) is None:
            raise NotFound(f"no lead {reply.lead_id}")
        return reply.lead_id
    email, thread = (reply.email or "").lower(), reply.thread_id or ""
    for lead_id in (await cache.cache_get(f"reply:thread:{thread}"), thread):
        record = await records.get_lead(lead_id) if lead_id else None
        if record is not None and record.email.lower() == email:
            return record.lead_id
    raise NotFound(f"no lead of {email} in thread {thread!r}")


def as_payload(reply: ReplyIn, now: datetime) -> dict[str, Any]:
    """The reply as the queue and the graph carry it."""
    return {
        "message_id": reply.message_id,
        "sender": reply.sender,
        "subject": reply.subject,
        "text": reply.text,
        "received_at": reply.received_at or now.isoformat(),
        "thread_id": reply.thread_id,
    }


async def take_reply(
    records: LeadRecords, cache: Cache, enqueue: Any, reply: ReplyIn
) -> ReplyTaken:
    """Find the reply's lead, claim its message id and queue it; a repeat changes nothing.

    Raises `NotFound` for an unknown lead and `Unavailable` when the queue is down (the claim
    is released, so the sender's retry is taken).
    """
    lead_id = await find_lead(records, cache, reply)
    if reply.thread_id:
        await cache.cache_set(f"reply:thread:{reply.thread_id}", lead_id, THREAD_MEMORY_S)
    key = f"reply:message:{reply.message_id}"
    mine = f"{lead_id}|{uuid.uuid4().hex}"
    held = await cache.cache_set_if_absent(key, mine, MESSAGE_MEMORY_S)
    if held == UNQUEUED:
        await cache.cache_set(key, mine, MESSAGE_MEMORY_S)
    elif held != mine:
        log.info("reply", lead_id=lead_id, message_id=reply.message_id, duplicate=True)
        return ReplyTaken(held.split("|")[0], reply.message_id, duplicate=True)
    try:
        await enqueue(lead_id, as_payload(reply, datetime.now(UTC)))
    except Exception as exc:
        await cache.cache_set(key, UNQUEUED, MESSAGE_MEMORY_S)
        log.error("enqueue failed", lead_id=lead_id, message_id=reply.message_id, error=str(exc))
        raise Unavailable("the reply could not be queued; retry later", lead_id=lead_id) from exc
    log.info("reply", lead_id=lead_id, message_id=reply.message_id, duplicate=False)
    return ReplyTaken(lead_id, reply.message_id, duplicate=False)


async def defer(timers: Timers, ctx: Context, lead_id: str, reply: dict[str, Any]) -> None:
    """Hand the reply back to the sweeper: it is queued again when the timer is due (backing
    off up to ten minutes)."""
    attempt = int(reply.get("attempt", 0)) + 1
    delay = min(600.0, 5.0 * 2 ** min(attempt, 8))
    await timers.add_timer(
        f"reply:{reply['message_id']}",
        ctx.clock().timestamp() + delay,
        {"task": "reply", "lead_id": lead_id, "reply": {**reply, "attempt": attempt}},
    )


async def apply_reply(
    graph: CompiledStateGraph[Any, Any, Any, Any],
    ctx: Context,
    leases: Leases,
    timers: Timers,
    lead_id: str,
    reply: dict[str, Any],
) -> dict[str, Any]:
    """Run the reply through the lead's graph under its lease; returns what happened
    (`applied` with the kind, action and reason, `duplicate`, or `deferred`)."""
    try:
        token = await take_lease(ctx, leases, lead_id)
    except DecisionError:
        await defer(timers, ctx, lead_id, reply)
        return {"result": "deferred", "detail": "the lead is busy"}
    try:
        config = thread_config(lead_id)
        snapshot = await graph.aget_state(config)
        if snapshot.values.get("inbound_reply") and snapshot.next and not snapshot.interrupts:
            # An earlier reply stopped halfway (a crash, a failing backend): finish it first.
            await graph.ainvoke(None, config, context=ctx, durability="sync")
            snapshot = await graph.aget_state(config)
        values = snapshot.values or {}
        if any(r.get("message_id") == reply["message_id"] for r in values.get("replies") or []):
            return {"result": "duplicate", "detail": "this reply was applied already"}
        if not values.get("routing") or (snapshot.next and not snapshot.interrupts):
            await defer(timers, ctx, lead_id, reply)
            return {"result": "deferred", "detail": "the lead is still being processed"}
        if snapshot.interrupts:
            final = await graph.ainvoke(
                Command(resume={"reply": reply}), config, context=ctx, durability="sync"
            )
        else:
            inbound = parse_inbound(reply, waiting=False)
            await graph.aupdate_state(config, {"inbound_reply": inbound}, as_node="wait_for_rep")
            final = await graph.ainvoke(None, config, context=ctx, durability="sync")
        last = final["replies"][-1]
        result = {"result": "applied", **{k: last[k] for k in ("kind", "action", "reason")}}
        log.info("reply applied", lead_id=lead_id, message_id=reply["message_id"], **result)
        return result
    finally:
        await leases.release_lease(f"lead:{lead_id}", token)
