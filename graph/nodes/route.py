"""route: choose the action, then the owner — the first submission's owner for a repeat, the
existing owner for the actions `ownership` names, then the first matching rule, a weighted
round-robin over the team's available reps, and the fallback."""

from __future__ import annotations

import json
from collections.abc import Collection
from datetime import datetime
from typing import TypedDict, cast

from langgraph.runtime import Runtime

from domain.config import RoutingConfig, Rule, Target, Team
from domain.records import RoundRobin, Routing, RoutingAction, Skip
from domain.routing import (
    FirstRouting,
    choose_action,
    existing_owner,
    follows_first,
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


def team_pool(team_id: str) -> str:
    """The round-robin counters' pool of a team."""
    return f"team:{team_id}"


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
    pick = await counters.pick_weighted(team_pool(team.id), key, candidates)
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
    action, action_reason = choose_action(state, ctx.scoring)
    contact = state.get("enrichment", {}).get("contact_match")
    held_by = contact["owner_email"] if contact else None
    held_rep = cfg.rep_by_email(held_by) if held_by else None
    decision: Routing = {
        "action": action,
        "action_reason": action_reason,
        # The contact's owner before this lead, as a rep id like `owner` (None when the CRM
        # owner is no rep in routing.yaml), and their email.
        "previous_owner": held_rep.id if held_rep else None,
        "previous_owner_email": held_by,
        "skipped": [],
        "candidates": [],
        "rules_tried": [],
    }
    if action == "disqualify":
        decision.update(
            {"method": "disqualified", "rule": None, "owner": None, "team": None, "queue": None}
        )
        return {"routing": decision}

    rule, decision["rules_tried"] = first_match(cfg.rules, {**state, "routing": {"action": action}})
    first = await _persons_owner(ctx, state)
    chosen: Routing = {}
    if first is None or not follows_first(first, action):
        chosen = await _choose_owner(ctx, state, rule, action, now)
        first = first or await _claim_person(ctx, state, chosen, action)
    if first is not None and follows_first(first, action):
        decision.update(repeat_routing(first, action, action_reason))
    else:
        decision.update(chosen)
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


async def _choose_owner(
    ctx: Context, state: LeadState, rule: Rule | None, action: RoutingAction, now: datetime
) -> Routing:
    """The existing owner for the actions `ownership` names (unless the rule ignores it), else
    the rule's target, else the fallback; an owner passed over is recorded to be told."""
    cfg = ctx.routing
    owned = existing_owner(state, cfg)
    if owned and action in cfg.ownership.actions and not (rule and rule.ignore_ownership):
        rep, label = owned
        team = cfg.team_of(rep.id)
        return {
            "method": "existing_owner",
            "rule": None,
            "owner": rep.id,
            "team": team.id if team else None,
            "queue": None,
            "candidates": [rep.id],
            "ownership": label,
        }
    lead_id = state["lead_id"]
    target = rule.assign if rule else cfg.fallback
    method = rule_method(rule, target)
    skipped: list[Skip] = []
    assigned = await _assign(target, ctx, lead_id, now) if target else Assignment()
    if target and target.kind == "team" and assigned.get("rep") is None and cfg.fallback:
        skipped = assigned.get("skipped", [])
        method = "fallback"
        assigned = await _assign(cfg.fallback, ctx, lead_id, now)
    chosen: Routing = {
        "method": method,
        "rule": rule.id if rule else None,
        "owner": assigned.get("rep"),
        "team": assigned.get("team"),
        "queue": assigned.get("queue"),
        "candidates": assigned.get("candidates", []),
        "skipped": skipped + assigned.get("skipped", []),
    }
    if "round_robin" in assigned:
        chosen["round_robin"] = assigned["round_robin"]
    if owned and owned[0].id != chosen.get("owner"):
        rep, label = owned
        chosen["account_owner"] = {"rep": rep.id, "email": rep.email, "ownership": label}
    return chosen


def _person_key(state: LeadState) -> str | None:
    email = state.get("lead", {}).get("email")
    return f"owner:{email}" if email else None


def _other_lead(state: LeadState, stored: str | None) -> FirstRouting | None:
    """The stored routing of the person's other lead; None when absent or this lead's own."""
    if stored is None:
        return None
    first = cast(FirstRouting, json.loads(stored))
    return first if first["lead_id"] != state["lead_id"] else None


async def _persons_owner(ctx: Context, state: LeadState) -> FirstRouting | None:
    """How another lead of the same person was routed within the dedupe window, if one was."""
    key = _person_key(state)
    if key is None or not ctx.settings.dedupe_window_minutes:
        return None
    return _other_lead(state, await ctx.cache.cache_get(key))


async def _claim_person(
    ctx: Context, state: LeadState, chosen: Routing, action: RoutingAction
) -> FirstRouting | None:
    """Make the chosen owner the person's owner for the dedupe window; when another lead of
    theirs claimed it first (routed at the same moment), that lead's routing."""
    key = _person_key(state)
    window_s = ctx.settings.dedupe_window_minutes * 60
    if key is None or not window_s or not (chosen.get("owner") or chosen.get("queue")):
        return None
    mine = {k: chosen.get(k) for k in ("owner", "team", "queue")}
    mine.update(lead_id=state["lead_id"], action=action)
    return _other_lead(state, await ctx.cache.cache_set_if_absent(key, json.dumps(mine), window_s))
