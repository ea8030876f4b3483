"""What a rep (or the SLA clock) does with a routed lead: accept, reassign, not a fit.

Each action takes the lead's lease, changes the routing decision in the lead's graph state
(appending to `routing.log`), writes the CRM, tells the people concerned and edits the
original rep message. Actions are idempotent: a repeated click or a re-delivered task finds the
decision already taken and changes nothing.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from typing import Any, Literal, cast

import structlog
from langgraph.graph.state import CompiledStateGraph

from domain.records import Routing
from domain.rep_message import closed, lead_message, notice
from domain.routing import working_deadline
from graph.context import Context
from graph.nodes.notify import schedule_sla
from graph.nodes.route import assign_from_pool
from graph.state import LeadState
from service.runner import thread

Action = Literal["accept", "reassign", "not_a_fit"]
ACTIONS: tuple[Action, ...] = ("accept", "reassign", "not_a_fit")
MAX_HOPS = 3

log = structlog.get_logger("lead_router.actions")


class ActionError(ValueError):
    """The action cannot apply to this lead as it stands; the message says why."""


async def _lease(ctx: Context, lead_id: str) -> str:
    token = uuid.uuid4().hex
    for _ in range(50):
        if await ctx.store.acquire_lease(f"lead:{lead_id}", token, ctx.settings.lease_ttl_ms):
            return token
        await asyncio.sleep(0.1)
    raise ActionError(f"lead {lead_id} is busy; try again")


async def apply_action(
    graph: CompiledStateGraph[Any, Any, Any, Any],
    ctx: Context,
    lead_id: str,
    action: str,
    *,
    actor: str,
    reason: str | None = None,
    expect_hop: int | None = None,
) -> dict[str, Any]:
    """Apply `action` to the lead; returns what happened (`{"result", ...}`)."""
    if action not in ACTIONS:
        raise ActionError(f"unknown action {action!r} (use {', '.join(ACTIONS)})")
    token = await _lease(ctx, lead_id)
    try:
        config = thread(lead_id)
        snapshot = await graph.aget_state(config)
        state = cast(LeadState, snapshot.values)
        routing: dict[str, Any] = dict(state.get("routing") or {})
        if not routing or snapshot.next:
            raise ActionError(f"lead {lead_id} has not been routed yet")
        if expect_hop is not None and routing.get("hops", 0) != expect_hop:
            return {"result": "stale", "detail": "the lead moved on since this was scheduled"}
        if routing.get("accepted") or routing.get("action") == "disqualify":
            return {
                "result": "unchanged",
                "detail": "the lead was already accepted or closed",
                "routing": routing,
            }
        now = ctx.clock()
        event: dict[str, Any] = {
            "event": action,
            "by": actor,
            "at": now.isoformat(),
            "hop": routing.get("hops", 0),
        }
        if reason:
            event["reason"] = reason
        deliveries = dict(state.get("deliveries") or {})
        if action == "accept":
            result = await _accept(ctx, state, routing, event, deliveries)
        elif action == "not_a_fit":
            result = await _not_a_fit(ctx, state, routing, event, deliveries)
        else:
            result = await _reassign(ctx, state, routing, event, deliveries, now)
        routing["log"] = [*(routing.get("log") or []), event]
        await graph.aupdate_state(
            config, {"routing": routing, "deliveries": deliveries}, as_node="notify"
        )
        await ctx.store.update_lead(
            lead_id, owner=routing.get("owner") or "", action=routing.get("action") or ""
        )
        log.info("rep action", lead_id=lead_id, action=action, actor=actor, **result)
        return {**result, "routing": routing}
    finally:
        await ctx.store.release_lease(f"lead:{lead_id}", token)


async def _edit_message(
    ctx: Context, state: LeadState, deliveries: dict[str, Any], status: str
) -> None:
    receipt = deliveries.get("rep.message")
    message = lead_message(state, ctx.routing)
    if receipt and receipt.get("id") and message:
        deliveries["rep.message.update"] = await ctx.notifier.update(
            receipt, closed(message, status)
        )


async def _contact_id(ctx: Context, state: LeadState) -> str | None:
    email = state.get("lead", {}).get("email")
    contact = await ctx.crm.find_contact(email) if email else None
    return str(contact["id"]) if contact else None


async def _accept(
    ctx: Context,
    state: LeadState,
    routing: dict[str, Any],
    event: dict[str, Any],
    deliveries: dict[str, Any],
) -> dict[str, Any]:
    if not routing.get("owner_email"):
        raise ActionError("only a lead with an owner can be accepted")
    routing["accepted"] = {"by": event["by"], "at": event["at"]}
    contact_id = await _contact_id(ctx, state)
    if contact_id:
        deliveries["crm.owner.confirmed"] = await ctx.crm.assign_owner(
            contact_id, routing["owner_email"]
        )
        await ctx.crm.add_note(
            contact_id,
            f"{state['lead_id']}:accepted",
            f"Accepted by {event['by']} at {event['at']}.",
        )
    await _edit_message(ctx, state, deliveries, f"✅ Accepted by {event['by']}")
    return {"result": "accepted", "owner": routing["owner"]}


async def _not_a_fit(
    ctx: Context,
    state: LeadState,
    routing: dict[str, Any],
    event: dict[str, Any],
    deliveries: dict[str, Any],
) -> dict[str, Any]:
    routing["previous_action"] = routing.get("action")
    routing["action"] = "disqualify"
    routing["disqualified"] = {
        "by": event["by"],
        "at": event["at"],
        "reason": event.get("reason") or "not a fit",
    }
    contact_id = await _contact_id(ctx, state)
    if contact_id:
        await ctx.crm.add_note(
            contact_id,
            f"{state['lead_id']}:not-a-fit",
            f"Not a fit, by {event['by']}: {routing['disqualified']['reason']}.",
        )
    await _edit_message(ctx, state, deliveries, f"🚫 Not a fit — {event['by']}")
    return {"result": "disqualified"}


async def _reassign(
    ctx: Context,
    state: LeadState,
    routing: dict[str, Any],
    event: dict[str, Any],
    deliveries: dict[str, Any],
    now: datetime,
) -> dict[str, Any]:
    cfg = ctx.routing
    owner = routing.get("owner")
    if not owner:
        raise ActionError("only a lead with an owner can be reassigned")
    hop = int(routing.get("hops", 0)) + 1
    team = cfg.team(routing["team"]) if routing.get("team") else cfg.team_of(owner)
    if hop > MAX_HOPS or team is None:
        why = "hops exhausted" if hop > MAX_HOPS else "the owner is in no team pool"
        event.update(result="escalated", reason=event.get("reason") or why)
        await _tell_manager(ctx, state, routing, hop, f"needs an owner ({why})")
        return {"result": "escalated", "detail": why}
    tried = {owner, *(e.get("from") for e in routing.get("log", []) if e.get("from"))}
    # The pick also counts toward the new owner's daily capacity, as a first routing does.
    assigned = await assign_from_pool(
        team, cfg, ctx.store, now, f"{state['lead_id']}#hop{hop}", exclude=tried
    )
    skipped = assigned.get("skipped", [])
    picked, round_robin = assigned.get("rep"), assigned.get("round_robin", {})
    if not picked:
        event.update(result="escalated", skipped=skipped)
        await _tell_manager(ctx, state, routing, hop, "no other rep in the pool is available")
        return {"result": "escalated", "detail": "no other rep available", "skipped": skipped}
    new_rep = cfg.rep(picked)
    await _edit_message(ctx, state, deliveries, f"↪ Reassigned to {new_rep.name} ({event['by']})")
    event.update(
        {
            "from": owner,
            "to": new_rep.id,
            "skipped": skipped,
            "round_robin": {"pool": team.id, "sequence": round_robin.get("sequence", 0)},
        }
    )
    routing.update(
        previous_owner=routing.get("owner_email"),
        owner=new_rep.id,
        owner_email=new_rep.email,
        hops=hop,
        method="reassigned",
    )
    if team.sla_minutes:
        routing["sla_deadline"] = working_deadline(new_rep, now, team.sla_minutes).isoformat()
    contact_id = await _contact_id(ctx, state)
    if contact_id:
        deliveries[f"crm.owner.hop{hop}"] = await ctx.crm.assign_owner(contact_id, new_rep.email)
    moved: LeadState = {**state, "routing": cast(Routing, routing)}
    message = lead_message(moved, ctx.routing)
    if message:
        receipt = await ctx.notifier.send(f"{state['lead_id']}:rep:hop{hop}", message)
        deliveries["rep.message"] = receipt
        await schedule_sla(ctx, moved)
    if event["by"] == "sla":
        await _tell_manager(
            ctx,
            moved,
            routing,
            hop,
            f"was not accepted in time by {owner}; now with {new_rep.name}",
        )
    return {"result": "reassigned", "from": owner, "to": new_rep.id, "hop": hop}


async def _tell_manager(
    ctx: Context, state: LeadState, routing: dict[str, Any], hop: int, what: str
) -> None:
    team = ctx.routing.team(routing["team"]) if routing.get("team") else None
    if team is None or not team.manager:
        return
    manager = ctx.routing.rep(team.manager)
    lead = state.get("lead", {})
    text = (
        f"Lead {lead.get('full_name') or lead.get('email')} "
        f"({state.get('enrichment', {}).get('company', {}).get('name') or '—'}) {what}."
    )
    await ctx.notifier.send(
        f"{state['lead_id']}:manager:hop{hop}",
        notice(state["lead_id"], manager.slack_id or f"dm:{manager.id}", manager.id, text),
    )
