"""Resume a lead waiting for its rep with the rep's decision (accept, reassign, not a fit).

A routed lead's thread waits at `wait_for_rep` (an `interrupt()`); a Slack click, an admin or
console button and the SLA timer all come here. Under the lead's lease the decision is checked
against the lead as it stands (a repeat, a stale timer or a closed lead changes nothing), then
the thread is resumed with `Command(resume=answer)`: the decision is a checkpointed step of the
graph, visible in the lead's history, and a reassignment goes through notify again.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from typing import Any, cast

import structlog
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command

from domain.records import Routing
from domain.rep_decisions import DECISIONS, answer, outcome, refusal, settled
from graph.context import Context
from service.runner import thread_config
from tools.ports import LeadRecords, Leases, owner_column

log = structlog.get_logger("lead_router.decide")


class DecisionError(ValueError):
    """The decision cannot apply to this lead as it stands; the message says why."""


async def take_lease(ctx: Context, leases: Leases, lead_id: str) -> str:
    """The lead's lease; waits while the lead runs (longer while a language model answers)."""
    token = uuid.uuid4().hex
    patience_s = 5.0
    if ctx.chat is not None:
        patience_s += ctx.settings.llm_deadline_s * ctx.settings.llm_calls_per_lead
    for _ in range(int(patience_s / 0.1)):
        if await leases.acquire_lease(f"lead:{lead_id}", token, ctx.settings.lease_ttl_ms):
            return token
        await asyncio.sleep(0.1)
    raise DecisionError(f"lead {lead_id} is busy; try again")


async def apply_decision(
    graph: CompiledStateGraph[Any, Any, Any, Any],
    ctx: Context,
    records: LeadRecords,
    leases: Leases,
    lead_id: str,
    decision: str,
    *,
    actor: str,
    reason: str | None = None,
    expect_hop: int | None = None,
) -> dict[str, Any]:
    """Apply the rep's `decision` to the lead; returns what happened (`{"result", ...}`)."""
    if decision not in DECISIONS:
        raise DecisionError(f"unknown action {decision!r} (use {', '.join(DECISIONS)})")
    token = await take_lease(ctx, leases, lead_id)
    try:
        config = thread_config(lead_id)
        snapshot = await graph.aget_state(config)
        routing = cast(Routing, snapshot.values.get("routing") or {})
        if not routing or (snapshot.next and not snapshot.interrupts):
            raise DecisionError(f"lead {lead_id} has not been routed yet")
        if expect_hop is not None and routing.get("hops", 0) != expect_hop:
            return {"result": "stale", "detail": "the lead moved on since this was scheduled"}
        if actor == "sla" and snapshot.values.get("opted_out"):
            return {"result": "unchanged", "detail": "the lead opted out: no SLA reminders"}
        deadline = routing.get("sla_deadline")
        if actor == "sla" and deadline and datetime.fromisoformat(deadline) > ctx.clock():
            return {"result": "stale", "detail": "the SLA deadline moved (the lead was away)"}
        if settled(routing):
            return {
                "result": "unchanged",
                "detail": "the lead was already accepted or closed",
                "routing": routing,
            }
        given = answer(decision, actor, ctx.clock(), reason)
        refused = refusal(routing, given["decision"])
        if refused:
            raise DecisionError(refused)
        if not snapshot.interrupts:
            raise DecisionError(f"lead {lead_id} is not waiting for a rep's decision")
        final = await graph.ainvoke(Command(resume=given), config, context=ctx, durability="sync")
        routing = cast(Routing, final.get("routing") or {})
        await records.update_lead(
            lead_id,
            owner=owner_column(routing.get("owner"), routing.get("queue")),
            action=routing.get("action") or "",
        )
        result = outcome(routing)
        log.info("rep decision", lead_id=lead_id, decision=decision, actor=actor, **result)
        return {**result, "routing": routing}
    finally:
        await leases.release_lease(f"lead:{lead_id}", token)
