"""route: choose the action, then the owner — the first submission's owner for a repeat, the
existing owner for the actions `ownership` names, then the first matching rule, a weighted
round-robin over the team's available reps, and the fallback."""

from __future__ import annotations

import json
from collections.abc import Collection
from datetime import datetime
from typing import TypedDict, cast

from langgraph.runtime import Runtime

from domain.config import RoutingConfig, Target, Team
from domain.records import RoundRobin, Routing, Skip
from domain.routing import (
    FirstRouting,
    choose_action,
    existing_owner,
    pool_candidates,
    repeat_routing,
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
    first = await _first_routing(ctx, state)
    if first is not None and first["owner"]:
        decision.update(repeat_routing(first, action, action_reason))
    elif owned and action in cfg.ownership.actions and not (rule and rule.ignore_ownership):
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
        if owned and owned[0].id != decision.get("owner"):
            rep, label = owned
            decision["account_owner"] = {"rep": rep.id, "email": rep.email, "ownership": label}
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
    await _remember_routing(ctx, state, decision)
    return {"routing": decision}


def _repeat_key(lead_id: str) -> str:
    return f"routed:{lead_id}"


async def _first_routing(ctx: Context, state: LeadState) -> FirstRouting | None:
    """How the person's first submission in the dedupe window was routed, if this is a repeat
    and that lead has been routed."""
    capture = state.get("capture")
    first_id = capture["duplicate_of"] if capture else None
    if not first_id:
        return None
    stored = await ctx.cache.cache_get(_repeat_key(first_id))
    return cast(FirstRouting, {**json.loads(stored), "lead_id": first_id}) if stored else None


async def _remember_routing(ctx: Context, state: LeadState, decision: Routing) -> None:
    """Keep the lead's owner for the person's repeats within the dedupe window."""
    window_s = ctx.settings.dedupe_window_minutes * 60
    if not window_s or not decision.get("owner"):
        return
    kept = {k: decision.get(k) for k in ("owner", "team", "queue", "action")}
    await ctx.cache.cache_set(_repeat_key(state["lead_id"]), json.dumps(kept), window_s * 2)
