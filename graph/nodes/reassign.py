"""reassign: the lead moves to the next available rep of its pool, at most MAX_HOPS times;
past that, or with nobody free, the team's manager is asked and the owner stays."""

from __future__ import annotations

from langgraph.runtime import Runtime

from domain.rep_decisions import MAX_HOPS, escalated, event, reassigned, tried
from domain.routing import working_deadline
from graph.context import Context
from graph.nodes._node import timed
from graph.nodes._rep import close_message, tell_manager
from graph.nodes.route import assign_from_pool
from graph.state import DecisionUpdate, LeadState


@timed("reassign")
async def reassign(state: LeadState, runtime: Runtime[Context]) -> DecisionUpdate:
    """Pick the next rep by weighted round-robin, skipping everyone who already had the lead,
    and close the old message; notify then tells the new owner."""
    ctx = runtime.context
    cfg = ctx.routing
    now = ctx.clock()
    routing = state["routing"]
    entry = event(state["rep_decision"], routing)
    owner = routing.get("owner") or ""
    hop = routing.get("hops", 0) + 1
    team_id = routing.get("team")
    team = cfg.team(team_id) if team_id else cfg.team_of(owner)
    if hop > MAX_HOPS or team is None:
        why = "hops exhausted" if hop > MAX_HOPS else "the owner is in no team pool"
        await tell_manager(ctx, state, routing, hop, f"needs an owner ({why})")
        return {"routing": escalated(routing, entry, why)}
    assigned = await assign_from_pool(
        team, cfg, ctx.round_robin, now, f"{state['lead_id']}#hop{hop}", exclude=tried(routing)
    )
    picked = assigned.get("rep")
    if not picked:
        entry["skipped"] = assigned.get("skipped", [])
        await tell_manager(ctx, state, routing, hop, "no other rep in the pool is available")
        return {"routing": escalated(routing, entry, "no other rep available")}
    rep = cfg.rep(picked)
    deliveries = await close_message(ctx, state, f"↪ Reassigned to {rep.name} ({entry['by']})")
    entry.update(
        {
            "from": owner,
            "to": rep.id,
            "skipped": assigned.get("skipped", []),
            "round_robin": {
                "pool": team.id,
                "sequence": assigned.get("round_robin", {}).get("sequence", 0),
            },
        }
    )
    deadline = working_deadline(rep, now, team.sla_minutes) if team.sla_minutes else None
    moved = reassigned(routing, entry, rep, hop, deadline)
    if entry["by"] == "sla":
        await tell_manager(
            ctx,
            state,
            moved,
            hop,
            f"was not accepted in time by {owner}; now with {rep.name}",
        )
    return {"routing": moved, "deliveries": deliveries}
