"""What the rep (or a queue, or a manager) is told about a lead, independent of the channel.

`lead_message` builds the message from the decision record: a headline, facts, the reasons for
the score, the lead's own words, the draft and the meeting, and the decisions the rep can take.
Each notifier renders it its own way (Slack Block Kit in `tools/slack.py`, the outbox stores
the same). `closed` is the same message once a decision was taken, `notice` a one-line note.
"""

from __future__ import annotations

from typing import Literal, NotRequired, TypedDict

from domain.config import RoutingConfig
from domain.records import DecisionRecord, RepDecision
from domain.rep_decisions import DECISIONS


class Fact(TypedDict):
    label: str
    value: str


class DraftPreview(TypedDict):
    subject: str
    body: str


class MeetingPreview(TypedDict):
    start: str | None
    link: str | None
    status: NotRequired[str]  # confirmed, rescheduled (moved) or cancelled


MEETING_SHOWN = frozenset({"confirmed", "rescheduled", "cancelled"})


class RepMessage(TypedDict):
    """A message to a person about one lead; `channel` is a Slack id or channel, `dm:<rep>`
    or `queue:<id>` for someone without one."""

    kind: Literal["lead", "notice"]
    lead_id: str
    channel: str
    recipient: str
    text: str
    facts: list[Fact]
    reasons: list[str]
    model: NotRequired[list[str]]
    message: str | None
    draft: DraftPreview | None
    meeting: MeetingPreview | None
    decisions: list[RepDecision]
    status: NotRequired[str]


def score_reasons(state: DecisionRecord, limit: int = 5) -> list[str]:
    """The largest contributions to the score, signed, each with its reason."""
    contributions = state.get("score", {}).get("contributions", [])
    ranked = sorted(contributions, key=lambda c: abs(c["points"]), reverse=True)
    return [f"{_signed(c['points'])} {c['reason']}" for c in ranked[:limit]]


def _signed(points: float) -> str:
    """Points as a reader wants them: whole points, or one decimal below one point."""
    return f"{points:+.0f}" if abs(points) >= 0.5 else f"{points:+.1f}"


def lead_message(state: DecisionRecord, cfg: RoutingConfig) -> RepMessage | None:
    """The message for the lead's owner (or queue), or None when nobody is to be told."""
    routing = state.get("routing", {})
    lead = state.get("lead", {})
    score = state.get("score", {})
    company = state.get("enrichment", {}).get("company", {})
    if routing.get("action") == "disqualify":
        return None
    owner, team_id, queue_id = routing.get("owner"), routing.get("team"), routing.get("queue")
    if owner:
        rep = cfg.rep(owner)
        team = cfg.team(team_id) if team_id else None
        # A DM by Slack id, else the team's channel (naming the rep), else the rep's outbox.
        channel = rep.slack_id or (team.slack_channel if team else None) or f"dm:{rep.id}"
        recipient = rep.id
    elif queue_id:
        queue = cfg.queue(queue_id)
        channel, recipient = (queue.slack_channel or f"queue:{queue.id}"), queue.id
    else:
        return None
    who = lead.get("full_name") or lead.get("email")
    name = company.get("name") or lead.get("company") or lead.get("domain") or "unknown company"
    capture = state.get("capture")
    first = capture["duplicate_of"] if capture else None
    headline = (
        f"{'Repeat' if first else 'New'} {routing.get('action')} lead: {who} at {name} — "
        f"score {score.get('total', 0):g} ({score.get('grade', '?')})"
    )
    rule = routing.get("rule")
    facts: list[Fact] = [
        {"label": "Email", "value": str(lead.get("email"))},
        {"label": "Title", "value": lead.get("title") or "—"},
        {
            "label": "Company",
            "value": f"{name} ({company.get('employees') or '?'} employees, "
            f"{company.get('country') or '?'})",
        },
        {
            "label": "Routed by",
            "value": f"{routing.get('method')}" + (f" (rule `{rule}`)" if rule else ""),
        },
    ]
    if first:
        same = ""
        if routing.get("repeat_of"):
            same = " (same rep)" if owner else " (same queue)"
        facts.append({"label": "Repeat of", "value": f"lead {first}{same}"})
    held = routing.get("account_owner")
    if held:
        rep = cfg.rep(held["rep"])
        facts.append({"label": "Owner", "value": f"{rep.name}, {held['ownership']} (told)"})
    draft = state.get("draft", {})
    withheld = [name for name, ok in (draft.get("checks") or {}).items() if not ok]
    if draft.get("body") and withheld:
        facts.append(
            {
                "label": "Draft",
                "value": "withheld: it failed its checks (" + ", ".join(withheld) + ")",
            }
        )
    booking = state.get("booking", {})
    return {
        "kind": "lead",
        "lead_id": state["lead_id"],
        "channel": channel,
        "recipient": recipient,
        "text": headline,
        "facts": facts,
        "reasons": score_reasons(state),
        "model": model_reasons(state),
        "message": lead.get("message"),
        "draft": (
            {"subject": draft["subject"], "body": draft["body"]}
            if draft.get("body") and not withheld
            else None
        ),
        "meeting": (
            {
                "start": booking.get("start"),
                "link": booking.get("link"),
                "status": booking["status"],
            }
            if booking.get("status") in MEETING_SHOWN
            else None
        ),
        "decisions": list(DECISIONS) if owner else [],
    }


def owner_notice(state: DecisionRecord, cfg: RoutingConfig) -> RepMessage | None:
    """A note for the lead's contact or account owner when a rule sent the lead elsewhere."""
    routing = state.get("routing", {})
    held = routing.get("account_owner")
    if not held or routing.get("action") == "disqualify":
        return None
    rep = cfg.rep(held["rep"])
    lead = state.get("lead", {})
    company = state.get("enrichment", {}).get("company", {})
    who = lead.get("full_name") or lead.get("email")
    name = company.get("name") or lead.get("company") or "their company"
    queue, owner = routing.get("queue"), routing.get("owner")
    went = f"the {queue} queue" if queue else cfg.rep(owner).name if owner else "nobody"
    rule = routing.get("rule")
    text = (
        f"FYI: {who} at {name} ({held['ownership']}: you) sent a {routing.get('action')} "
        f"request; it went to {went}" + (f" by rule `{rule}`" if rule else "") + "."
    )
    return notice(state["lead_id"], rep.slack_id or f"dm:{rep.id}", rep.id, text)


def model_reasons(state: DecisionRecord) -> list[str]:
    """The language model's reading, as lines under the score's reasons (none without one)."""
    verdict = state.get("assist", {}).get("classification")
    if verdict is None:
        return []
    rules = state.get("classification", {}).get("intent")
    agrees = "agrees with the rules" if verdict["intent"] == rules else f"the rules said {rules}"
    lines = [f"intent {verdict['intent']} ({agrees})"]
    persona = verdict.get("persona")
    if persona:
        lines.append(
            f"persona {persona['seniority']}"
            + (f", {persona['department']}" if persona["department"] else "")
            + " (the rules could not read the title)"
        )
    lines += [f"{e['kind']}: “{e['quote']}”" for e in verdict["signals"]]
    if verdict["adjustment"]:
        lines.append(f"{verdict['adjustment']:+g} points suggested: {verdict['adjustment_reason']}")
    if verdict["is_spam"]:
        lines.append(f"looks like spam: {verdict['spam_reason'] or 'no reason given'}")
    if verdict["injection"]:
        lines.append("⚠ the lead's text tries to instruct the model; nothing was changed by it")
    return lines


def assist_note(state: DecisionRecord) -> str:
    """The CRM note of what the language model added: its reading and its draft's fate."""
    assisted = state.get("assist", {})
    lines = [f"Model assist for lead {state.get('lead_id')}: {assisted.get('summary', '')}"]
    lines += [f"  {line}" for line in model_reasons(state)]
    draft = assisted.get("draft")
    if draft and draft["problems"]:
        lines.append("  draft not used: " + "; ".join(draft["problems"][:5]))
    return "\n".join(lines)


def closed(message: RepMessage, status: str) -> RepMessage:
    """The message once a decision was taken: no more buttons, and what happened."""
    return {**message, "decisions": [], "status": status}


def summary(message: RepMessage) -> str:
    """The message in one line (a notification's text): the headline, and what happened."""
    status = message.get("status")
    if status and status != message["text"]:
        return f"{message['text']} — {status}"
    return message["text"]


def notice(lead_id: str, channel: str, recipient: str, text: str) -> RepMessage:
    """A one-line note about a lead (a manager told of an escalation)."""
    return {
        "kind": "notice",
        "lead_id": lead_id,
        "channel": channel,
        "recipient": recipient,
        "text": text,
        "facts": [],
        "reasons": [],
        "message": None,
        "draft": None,
        "meeting": None,
        "decisions": [],
        "status": text,
    }


def crm_note(state: DecisionRecord) -> str:
    """The note left on the CRM contact: the decision, the score and its reasons."""
    routing = state.get("routing", {})
    score = state.get("score", {})
    lines = [
        f"Lead {state.get('lead_id')} via {state.get('source')}: action {routing.get('action')}, "
        f"owner {routing.get('owner') or routing.get('queue') or '—'} ({routing.get('method')}).",
        f"Score {score.get('total', 0):g} ({score.get('grade')}, {score.get('model_version')}):",
        *(f"  {r}" for r in score_reasons(state, limit=10)),
    ]
    said = state.get("lead", {}).get("message")
    if said:
        lines.append(f"Message: {said[:1000]}")
    return "\n".join(lines)
