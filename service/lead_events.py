"""Events from outside a lead's run (its reply, Cal.com's change to its meeting): claimed once at
the door, then applied to the lead's thread under its lease.

At the door an event is claimed under its own key and queued (`claim_and_queue`); a redelivery
finds the claim and is a repeat, and a claim whose queueing failed is released, so the
sender's retry is taken. The worker applies it as a step of the lead's graph
(`apply_to_thread`): a lead waiting for its rep at `wait_for_rep` is resumed with
`Command(resume={kind: payload})`; an ended thread gets the event as an update from
`wait_for_rep` and runs on from there. A lead still being processed, or busy, gets the event
later through a timer the sweeper fires (`defer_to_timer`): it waits, it is never lost.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import structlog
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command

from graph.context import Context
from service.decide import DecisionError, take_lease
from service.errors import Unavailable
from service.runner import thread_config
from tools.ports import Cache, Leases, Timers

log = structlog.get_logger("lead_router.lead_events")

MESSAGE_MEMORY_S = 30 * 86400  # an event's key is remembered this long to absorb redeliveries
THREAD_MEMORY_S = 365 * 86400  # a thread id (or a booking uid) names its lead this long
UNQUEUED = "unqueued"  # a claim whose queueing failed: the next delivery takes it


async def claim_and_queue(
    cache: Cache,
    claim: str,
    lead_id: str,
    queue: Callable[[], Awaitable[None]],
    refusal: str,
    ttl_s: int = MESSAGE_MEMORY_S,
) -> str | None:
    """Claim `claim` for the lead (kept `ttl_s` seconds) and run `queue`; None when queued
    now, else the lead id of the delivery that holds the claim (a repeat: nothing is queued).

    Raises `Unavailable` with `refusal` when queueing fails; the claim is released first.
    """
    mine = f"{lead_id}|{uuid.uuid4().hex}"
    held = await cache.cache_set_if_absent(claim, mine, ttl_s)
    if held == UNQUEUED:
        await cache.cache_set(claim, mine, ttl_s)
    elif held != mine:
        return held.split("|")[0]
    try:
        await queue()
    except Exception as exc:
        await cache.cache_set(claim, UNQUEUED, ttl_s)
        log.error("enqueue failed", lead_id=lead_id, claim=claim, error=str(exc))
        raise Unavailable(refusal, lead_id=lead_id) from exc
    return None


async def defer_to_timer(
    timers: Timers,
    ctx: Context,
    key: str,
    lead_id: str,
    payload: dict[str, Any],
    *,
    task: str,
    carried_as: str,
) -> None:
    """Hand the event back to the sweeper: the timer `key` queues it again as `task` (the
    event under `carried_as`), backing off from ten seconds to ten minutes as
    `payload["attempt"]` counts the tries."""
    attempt = int(payload.get("attempt", 0)) + 1
    delay = min(600.0, 5.0 * 2 ** min(attempt, 8))
    await timers.add_timer(
        key,
        ctx.clock().timestamp() + delay,
        {"task": task, "lead_id": lead_id, carried_as: {**payload, "attempt": attempt}},
    )


@dataclass(frozen=True)
class ThreadEvent:
    """One outside event as `apply_to_thread` applies it.

    `kind` is the key a waiting thread is resumed with (`{"reply": payload}`) and `noun` names
    the event in answers; `pending` is the state field an ended thread gets, with the value
    `ended()` builds, from `wait_for_rep`. `applied` tells from the thread's values whether the
    event is in them already, `outcome` what an applied event answers from the state after it,
    and `defer` hands the event to a timer.
    """

    kind: str
    noun: str
    payload: dict[str, Any]
    pending: str
    ended: Callable[[], Any]
    applied: Callable[[dict[str, Any]], bool]
    outcome: Callable[[dict[str, Any]], dict[str, Any]]
    defer: Callable[[], Awaitable[None]]


async def apply_to_thread(
    graph: CompiledStateGraph[Any, Any, Any, Any],
    ctx: Context,
    leases: Leases,
    lead_id: str,
    event: ThreadEvent,
) -> dict[str, Any]:
    """Run the event through the lead's graph under its lease; returns what happened:
    `event.outcome` of the state once applied, else `{"result": "duplicate" | "deferred",
    "detail"}` (deferred when the lead is busy or not yet routed)."""
    try:
        token = await take_lease(ctx, leases, lead_id)
    except DecisionError:
        await event.defer()
        return {"result": "deferred", "detail": "the lead is busy"}
    try:
        return await _apply(graph, ctx, lead_id, event)
    finally:
        await leases.release_lease(f"lead:{lead_id}", token)


async def _apply(
    graph: CompiledStateGraph[Any, Any, Any, Any], ctx: Context, lead_id: str, event: ThreadEvent
) -> dict[str, Any]:
    config = thread_config(lead_id)
    snapshot = await graph.aget_state(config)
    if snapshot.values.get(event.pending) and snapshot.next and not snapshot.interrupts:
        # An earlier event stopped halfway (a crash, a failing backend): finish it first.
        await graph.ainvoke(None, config, context=ctx, durability="sync")
        snapshot = await graph.aget_state(config)
    values = snapshot.values or {}
    if event.applied(values):
        return {"result": "duplicate", "detail": f"this {event.noun} was applied already"}
    if not values.get("routing") or (snapshot.next and not snapshot.interrupts):
        await event.defer()
        return {"result": "deferred", "detail": "the lead is still being processed"}
    if snapshot.interrupts:
        final = await graph.ainvoke(
            Command(resume={event.kind: event.payload}), config, context=ctx, durability="sync"
        )
    else:
        await graph.aupdate_state(config, {event.pending: event.ended()}, as_node="wait_for_rep")
        final = await graph.ainvoke(None, config, context=ctx, durability="sync")
    return event.outcome(final)
