"""route: choose the action, then the owner — existing owner first, then the first matching
rule, a weighted round-robin over the team's available reps, and the fallback."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from langgraph.runtime import Runtime

from domain.config import Rep, RoutingConfig, ScoringConfig, Target, Team
from domain.rules import first_match
from graph.context import Context
from graph.nodes._node import timed
from graph.state import LeadState, RouteUpdate
from tools.ports import Store

SALES_ACTIONS = {"book", "draft"}


def choose_action(state: LeadState, scoring: ScoringConfig) -> tuple[str, str]:
    """The action and why: drop spam and job seekers, support to support, else by score."""
    classification = state.get("classification", {})
    total = float(state.get("score", {}).get("total", 0))
    if classification.get("spam", {}).get("is_spam"):
        return "disqualify", "spam: " + "; ".join(classification["spam"]["reasons"])
    intent = classification.get("intent")
    if intent == "job_seeker":
        return "disqualify", "job seeker, not a buyer"
    if intent == "support":
        return "support", "a support request"
    if total >= scoring.actions.book_at:
        return "book", f"score {total:g} ≥ {scoring.actions.book_at:g}: offer a meeting"
    if total >= scoring.actions.draft_at:
        return "draft", f"score {total:g} ≥ {scoring.actions.draft_at:g}: rep follow-up"
    return "nurture", f"score {total:g} < {scoring.actions.draft_at:g}: nurture"


def working_deadline(rep: Rep, start: datetime, minutes: float) -> datetime:
    """The moment `minutes` of the rep's working time have passed after `start`.

    Working time is the rep's hours, Monday to Friday, in the rep's timezone, less
    out-of-office days: a lead routed on Friday evening is due on Monday morning.
    """
    zone = ZoneInfo(rep.timezone)
    opens, closes = rep.hours()
    local = start.astimezone(zone)
    remaining = timedelta(minutes=minutes)
    for _ in range(400):
        day = local.date()
        if local.weekday() < 5 and not rep.is_out_of_office(day):
            begin = max(local, datetime.combine(day, opens, zone))
            end = datetime.combine(day, closes, zone)
            if begin < end:
                if remaining <= end - begin:
                    return (begin + remaining).astimezone(start.tzinfo)
                remaining -= end - begin
        local = datetime.combine(day + timedelta(days=1), time(0), zone)
    return start + timedelta(minutes=minutes)


def availability(rep: Rep, team: Team, now: datetime, assigned_today: int) -> str | None:
    """Why the rep cannot take a lead now, or None when available."""
    local = now.astimezone(ZoneInfo(rep.timezone))
    if rep.is_out_of_office(local.date()):
        return f"out of office on {local.date().isoformat()}"
    if rep.capacity_per_day is not None and assigned_today >= rep.capacity_per_day:
        return f"at capacity ({assigned_today}/{rep.capacity_per_day} today)"
    if team.respect_working_hours:
        start, end = rep.hours()
        if local.weekday() >= 5 or not start <= local.time() <= end:
            return f"outside working hours ({local:%a %H:%M} {rep.timezone})"
    return None


async def pick_from_team(
    team: Team, cfg: RoutingConfig, store: Store, lead_id: str, now: datetime
) -> dict[str, Any]:
    """Weighted round-robin over the team's available reps; skips carry their reasons."""
    day_pool = f"day:{now.date().isoformat()}"
    today = await store.pool_counts(day_pool)
    candidates: list[tuple[str, float]] = []
    skipped: list[dict[str, str]] = []
    for rep_id in team.pool:
        rep = cfg.rep(rep_id)
        reason = availability(rep, team, now, today.get(rep_id, 0))
        if reason:
            skipped.append({"rep": rep_id, "reason": reason})
        else:
            candidates.append((rep_id, rep.weight))
    if not candidates:
        return {"rep": None, "skipped": skipped, "candidates": []}
    pick = await store.pick_weighted(f"team:{team.id}", lead_id, candidates)
    await store.pick_weighted(day_pool, lead_id, [(pick.rep_id, 1.0)])
    return {
        "rep": pick.rep_id,
        "skipped": skipped,
        "candidates": [rep for rep, _ in candidates],
        "round_robin": {"pool": team.id, "sequence": pick.sequence, "counts": pick.counts},
    }


def _existing_owner(state: LeadState, cfg: RoutingConfig) -> tuple[Rep, str] | None:
    enrichment = state.get("enrichment", {})
    for key, label in (("contact_match", "contact owner"), ("account_match", "account owner")):
        email = (enrichment.get(key) or {}).get("owner_email")
        rep = cfg.rep_by_email(email) if email else None
        if rep:
            return rep, label
    return None


async def _assign(
    target: Target, cfg: RoutingConfig, store: Store, lead_id: str, now: datetime
) -> dict[str, Any]:
    if target.kind == "rep":
        home = cfg.team_of(target.id)
        return {
            "rep": target.rep,
            "team": home.id if home else None,
            "candidates": [target.rep],
            "skipped": [],
        }
    if target.kind == "queue":
        return {"rep": None, "queue": target.queue, "candidates": [], "skipped": []}
    team = cfg.team(target.id)
    return {"team": team.id, **await pick_from_team(team, cfg, store, lead_id, now)}


@timed("route")
async def route(state: LeadState, runtime: Runtime[Context]) -> RouteUpdate:
    """Decide the action and the owner, recording every rule tried and every rep skipped."""
    ctx = runtime.context
    cfg = ctx.routing
    now = ctx.clock()
    lead_id = state["lead_id"]
    action, action_reason = choose_action(state, ctx.scoring)
    previous = (state.get("enrichment", {}).get("contact_match") or {}).get("owner_email")
    decision: dict[str, Any] = {
        "action": action,
        "action_reason": action_reason,
        "previous_owner": previous,
        "skipped": [],
        "candidates": [],
        "rules_tried": [],
    }
    if action == "disqualify":
        decision.update(method="disqualified", rule=None, owner=None, team=None, queue=None)
        return {"routing": decision}

    view = {**state, "routing": {"action": action}}
    rule, trace = first_match(cfg.rules, view)
    decision["rules_tried"] = trace
    owned = _existing_owner(state, cfg)
    if owned and action in SALES_ACTIONS and not (rule and rule.ignore_ownership):
        rep, label = owned
        team = cfg.team_of(rep.id)
        decision.update(
            method="existing_owner",
            rule=None,
            owner=rep.id,
            team=team.id if team else None,
            queue=None,
            candidates=[rep.id],
            ownership=label,
        )
    else:
        target = rule.assign if rule else cfg.fallback
        method = "fallback"
        if rule:
            method = (
                "named_account"
                if target and target.kind == "rep"
                else "round_robin"
                if not rule.when
                else "territory"
            )
        assigned = await _assign(target, cfg, ctx.store, lead_id, now) if target else {}
        if target and target.kind == "team" and assigned.get("rep") is None and cfg.fallback:
            decision["skipped"] = assigned.get("skipped", [])
            method = "fallback"
            assigned = await _assign(cfg.fallback, cfg, ctx.store, lead_id, now)
        decision.update(
            method=method,
            rule=rule.id if rule else None,
            owner=assigned.get("rep"),
            team=assigned.get("team"),
            queue=assigned.get("queue"),
            candidates=assigned.get("candidates", []),
            skipped=decision["skipped"] + assigned.get("skipped", []),
        )
        if "round_robin" in assigned:
            decision["round_robin"] = assigned["round_robin"]
    owner = cfg.rep(decision["owner"]) if decision.get("owner") else None
    decision["owner_email"] = owner.email if owner else None
    team_cfg = cfg.team(decision["team"]) if decision.get("team") else None
    if owner and team_cfg and team_cfg.sla_minutes:
        deadline = working_deadline(owner, now, team_cfg.sla_minutes)
        decision["sla_deadline"] = deadline.isoformat()
    decision["hops"] = 0
    decision["log"] = []
    return {"routing": decision}
