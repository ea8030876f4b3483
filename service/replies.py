"""Replies to a lead: take one at the door, then apply it to the lead's thread under its lease.

At the door a reply finds its lead (by `lead_id`, or by `email` plus `thread_id`), is claimed
once per `message_id` (a redelivery is a duplicate) and queued. The worker applies it as a
step of the lead's graph: a lead waiting for its rep is resumed with
`Command(resume={"reply": ...})`; an ended thread (accepted, not a fit, disqualified) gets the
reply as an update from `wait_for_rep` and runs on from there. A lead still being processed,
or busy, gets the reply later through a timer the sweeper fires: it waits, it is never lost.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from langgraph.graph.state import CompiledStateGraph

from domain.replies import ReplyIn, parse_inbound
from graph.context import Context
from service.errors import NotFound
from service.lead_events import (
    THREAD_MEMORY_S,
    ThreadEvent,
    apply_to_thread,
    claim_and_queue,
    defer_to_timer,
)
from tools.ports import Cache, LeadRecords, Leases, Timers

log = structlog.get_logger("lead_router.replies")


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
    held = await claim_and_queue(
        cache,
        f"reply:message:{reply.message_id}",
        lead_id,
        lambda: enqueue(lead_id, as_payload(reply, datetime.now(UTC))),
        "the reply could not be queued; retry later",
    )
    log.info("reply", lead_id=lead_id, message_id=reply.message_id, duplicate=held is not None)
    return ReplyTaken(held or lead_id, reply.message_id, duplicate=held is not None)


async def defer(timers: Timers, ctx: Context, lead_id: str, reply: dict[str, Any]) -> None:
    """Hand the reply back to the sweeper: it is queued again when the timer is due (backing
    off up to ten minutes)."""
    await defer_to_timer(
        timers,
        ctx,
        f"reply:{reply['message_id']}",
        lead_id,
        reply,
        task="reply",
        carried_as="reply",
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

    def outcome(final: dict[str, Any]) -> dict[str, Any]:
        last = final["replies"][-1]
        result = {"result": "applied", **{k: last[k] for k in ("kind", "action", "reason")}}
        log.info("reply applied", lead_id=lead_id, message_id=reply["message_id"], **result)
        return result

    event = ThreadEvent(
        kind="reply",
        noun="reply",
        payload=reply,
        pending="inbound_reply",
        ended=lambda: parse_inbound(reply, waiting=False),
        applied=lambda values: any(
            r.get("message_id") == reply["message_id"] for r in values.get("replies") or []
        ),
        outcome=outcome,
        defer=lambda: defer(timers, ctx, lead_id, reply),
    )
    return await apply_to_thread(graph, ctx, leases, lead_id, event)
