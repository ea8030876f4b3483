"""route: choose the action, then the owner — existing owner first, then the first matching
rule, a weighted round-robin over the team's available reps, and the fallback."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import TypedDict

from langgraph.runtime import Runtime

from domain.config import RoutingConfig, Target, Team
from domain.records import RoundRobin, Routing, Skip
from domain.routing import (
    SALES_ACTIONS,
    choose_action,
    existing_owner,
    pool_candidates,
    rule_method,
    working_deadline,
)
from domain.rules import first_match
from graph.context import Context
from graph.nodes._node import timed
from graph.state import LeadState, RouteUpdate
from tools.ports import RoundRobinCounters


class Assignment(TypedDict, total=False):
    """Who a target resolved to: a rep (and their team), or a queue, with the pick's trace."""

    rep: str | None
    team: str | None
    queue: str | None
    candidates: list[str]
    skipped: list[Skip]
    round_robin: RoundRobin


async def assign_from_pool(
    team: Team,
    cfg: RoutingConfig,
    counters: RoundRobinCounters,
    now: datetime,
    key: str,
    exclude: Collection[str] = (),
) -> Assignment:
    """Weighted round-robin over the team's available reps (idempotent per `key`); the pick
    also counts toward the rep's daily capacity. Skips carry their reasons."""
    day_pool = f"day:{now.date().isoformat()}"
    today = await counters.pool_counts(day_pool)
    candidates, skipped = pool_candidates(team, cfg, now, today, exclude)
    if not candidates:
        return {"rep": None, "skipped": skipped, "candidates": []}
    pick = await counters.pick_weighted(f"team:{team.id}", key, candidates)
    await counters.pick_weighted(day_pool, key, [(pick.rep_id, 1.0)])
    return {
        "rep": pick.rep_id,
        "skipped": skipped,
        "candidates": [rep for rep, _ in candidates],
        "round_robin": {"pool": team.id, "sequence": pick.sequence, "counts": pick.counts},
    }


async def _assign(target: Target, ctx: Context, lead_id: str, now: datetime) -> Assignment:
    cfg = ctx.routing
    if target.kind == "rep":
        home = cfg.team_of(target.id)
        return {
            "rep": target.rep,
            "team": home.id if home else None,
            "candidates": [target.id],
            "skipped": [],
        }
    if target.kind == "queue":
        return {"rep": None, "queue": target.queue, "candidates": [], "skipped": []}
    team = cfg.team(target.id)
    return {"team": team.id, **await assign_from_pool(team, cfg, ctx.round_robin, now, lead_id)}


@timed("route")
async def route(state: LeadState, runtime: Runtime[Context]) -> RouteUpdate:
    """Decide the action and the owner, recording every rule tried and every rep skipped."""
    ctx = runtime.context
    cfg = ctx.routing
    now = ctx.clock()
    lead_id = state["lead_id"]
    action, action_reason = choose_action(state, ctx.scoring)
    contact = state.get("enrichment", {}).get("contact_match")
    previous = contact["owner_email"] if contact else None
    decision: Routing = {
        "action": action,
        "action_reason": action_reason,
        "previous_owner": previous,
        "skipped": [],
        "candidates": [],
        "rules_tried": [],
    }
    if action == "disqualify":
        decision.update(
            {"method": "disqualified", "rule": None, "owner": None, "team": None, "queue": None}
        )
        return {"routing": decision}

    rule, trace = first_match(cfg.rules, {**state, "routing": {"action": action}})
    decision["rules_tried"] = trace
    owned = existing_owner(state, cfg)
    if owned and action in SALES_ACTIONS and not (rule and rule.ignore_ownership):
        rep, label = owned
        team = cfg.team_of(rep.id)
        decision.update(
            {
                "method": "existing_owner",
                "rule": None,
                "owner": rep.id,
                "team": team.id if team else None,
                "queue": None,
                "candidates": [rep.id],
                "ownership": label,
            }
        )
    else:
        target = rule.assign if rule else cfg.fallback
        method = rule_method(rule, target)
        assigned = await _assign(target, ctx, lead_id, now) if target else Assignment()
        if target and target.kind == "team" and assigned.get("rep") is None and cfg.fallback:
            decision["skipped"] = assigned.get("skipped", [])
            method = "fallback"
            assigned = await _assign(cfg.fallback, ctx, lead_id, now)
        decision.update(
            {
                "method": method,
                "rule": rule.id if rule else None,
                "owner": assigned.get("rep"),
                "team": assigned.get("team"),
                "queue": assigned.get("queue"),
                "candidates": assigned.get("candidates", []),
                "skipped": decision["skipped"] + assigned.get("skipped", []),
            }
        )
        if "round_robin" in assigned:
            decision["round_robin"] = assigned["round_robin"]
    owner_id = decision.get("owner")
    owner = cfg.rep(owner_id) if owner_id else None
    decision["owner_email"] = owner.email if owner else None
    team_id = decision.get("team")
    team_cfg = cfg.team(team_id) if team_id else None
    if owner and team_cfg and team_cfg.sla_minutes:
        deadline = working_deadline(owner, now, team_cfg.sla_minutes)
        decision["sla_deadline"] = deadline.isoformat()
    decision["hops"] = 0
    decision["log"] = []
    return {"routing": decision}
