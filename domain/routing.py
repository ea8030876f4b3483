"""Routing decisions: the action, working-time deadlines, rep availability, the pool to pick
from, existing ownership and how a rule's target is named in the record.

Pure: the atomic round-robin pick itself is the store's (`graph.nodes.route.assign_from_pool`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime, time, timedelta
from typing import TypedDict
from zoneinfo import ZoneInfo

from domain.config import Rep, RoutingConfig, Rule, ScoringConfig, Target, Team
from domain.records import DecisionRecord, Method, Routing, RoutingAction, Skip
from domain.scoring import points_text

# The intents a meeting is booked for; any other enquiry is at most drafted for a rep.
BOOKING_INTENTS = {"demo", "pricing"}
ENQUIRY = {"partnership": "a partnership enquiry", "other": "a general enquiry"}


def choose_action(state: DecisionRecord, scoring: ScoringConfig) -> tuple[RoutingAction, str]:
    """The action and why: drop spam and job seekers, support to support, else by score, with
    a meeting only for a demo or pricing request."""
    classification = state.get("classification", {})
    total = float(state.get("score", {}).get("total", 0))
    shown = points_text(total)
    if classification.get("spam", {}).get("is_spam"):
        return "disqualify", "spam: " + "; ".join(classification["spam"]["reasons"])
    intent = classification.get("intent")
    if intent == "job_seeker":
        return "disqualify", "job seeker, not a buyer"
    if intent == "support":
        return "support", "a support request"
    if total >= scoring.actions.book_at and intent in BOOKING_INTENTS:
        return "book", f"score {shown} ≥ {scoring.actions.book_at:g}: offer a meeting"
    if total >= scoring.actions.book_at:
        enquiry = ENQUIRY.get(str(intent), f"intent {intent}")
        return "draft", (
            f"score {shown} ≥ {scoring.actions.book_at:g}, but {enquiry} gets no sales "
            "meeting: rep follow-up"
        )
    if total >= scoring.actions.draft_at:
        return "draft", f"score {shown} ≥ {scoring.actions.draft_at:g}: rep follow-up"
    return "nurture", f"score {shown} < {scoring.actions.draft_at:g}: nurture"


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


def pool_candidates(
    team: Team,
    cfg: RoutingConfig,
    now: datetime,
    assigned_today: Mapping[str, int],
    exclude: Collection[str] = (),
) -> tuple[list[tuple[str, float]], list[Skip]]:
    """The team's reps who can take a lead now, with their weights, and the others with why."""
    candidates: list[tuple[str, float]] = []
    skipped: list[Skip] = []
    for rep_id in team.pool:
        rep = cfg.rep(rep_id)
        reason = (
            "already had this lead"
            if rep_id in exclude
            else availability(rep, team, now, assigned_today.get(rep_id, 0))
        )
        if reason:
            skipped.append({"rep": rep_id, "reason": reason})
        else:
            candidates.append((rep_id, rep.weight))
    return candidates, skipped


def existing_owner(state: DecisionRecord, cfg: RoutingConfig) -> tuple[Rep, str] | None:
    """The rep who already owns the lead's contact, else its account, and which it was."""
    enrichment = state.get("enrichment", {})
    for label, match in (
        ("contact owner", enrichment.get("contact_match")),
        ("account owner", enrichment.get("account_match")),
    ):
        email = (match or {}).get("owner_email")
        rep = cfg.rep_by_email(email) if email else None
        if rep:
            return rep, label
    return None


def rule_method(rule: Rule | None, target: Target | None) -> Method:
    """How the record names a rule's choice: a named rep, a territory, a bare round-robin."""
    if rule is None:
        return "fallback"
    if target and target.kind == "rep":
        return "named_account"
    return "round_robin" if not rule.when else "territory"


class FirstRouting(TypedDict):
    """What a person's first submission was routed to, kept for their repeats."""

    lead_id: str
    owner: str | None
    team: str | None
    queue: str | None
    action: RoutingAction


SALES_ACTIONS: tuple[RoutingAction, ...] = ("book", "draft")


def follows_first(first: FirstRouting, action: RoutingAction) -> bool:
    """Whether a repeat goes where the person's first lead went: always to a rep; to a queue
    unless the first was nurtured and the repeat is a sales lead (an upgrade)."""
    if first["owner"]:
        return True
    return not (action in SALES_ACTIONS and first["action"] == "nurture")


def repeat_routing(first: FirstRouting, action: RoutingAction, reason: str) -> Routing:
    """A repeat goes to the first lead's rep or queue; it never books a second meeting, nor
    one for a lead in a queue."""
    if action == "book" and (first["action"] == "book" or not first["owner"]):
        action = "draft"
        why = "already offered a meeting" if first["owner"] else f"went to {first['queue']}"
        reason = f"{reason}; a repeat of {first['lead_id']}, which {why}"
    return {
        "action": action,
        "action_reason": reason,
        "method": "repeat",
        "rule": None,
        "owner": first["owner"],
        "team": first["team"] if first["owner"] else None,
        "queue": None if first["owner"] else first["queue"],
        "candidates": [first["owner"]] if first["owner"] else [],
        "repeat_of": first["lead_id"],
    }
