"""What the rep (or a queue, or a manager) is told about a lead, independent of the channel.

`lead_message` builds the message from the decision record: a headline, facts, the reasons for
the score, the lead's own words, the draft and the meeting, and the decisions the rep can take.
Each notifier renders it its own way (Slack Block Kit in `tools/slack.py`, the outbox stores
the same). `closed` is the same message once a decision was taken, `notice` a one-line note.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal, NotRequired, TypedDict
from zoneinfo import ZoneInfo

from domain.config import RoutingConfig
from domain.draft import asked_for
from domain.records import DecisionRecord, RepDecision, Routing
from domain.regions import country_name
from domain.rep_decisions import DECISIONS
from domain.scoring import points_text


class Fact(TypedDict):
    label: str
    value: str


class DraftPreview(TypedDict):
    subject: str
    body: str


class MeetingPreview(TypedDict):
    start: str | None
    when: NotRequired[str | None]  # the start (and end) in the host's timezone, in words
    link: str | None
    status: NotRequired[str]  # confirmed, rescheduled (moved) or cancelled


MEETING_SHOWN = frozenset({"confirmed", "rescheduled", "cancelled"})


class RepMessage(TypedDict):
    """A message to a person about one lead; `channel` is a Slack id or channel, `dm:<rep>`
    or `queue:<id>` for someone without one (the message then says whom it is for)."""

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


# What a lead asked for, in the headline.
ASKED = {
    "demo": "demo request",
    "pricing": "pricing question",
    "partnership": "partnership enquiry",
    "support": "support request",
    "other": "general enquiry",
}


def asked_about(state: DecisionRecord) -> str:
    """What the lead asked for, in words; a form's name when only the form implied it."""
    asked = asked_for(state)
    classification = state.get("classification", {})
    if asked == "other" and classification.get("intent_from") == "form":
        lead = state.get("lead", {})
        form = lead.get("form_id") or lead.get("source")
        if form:
            return f"sent the {form} form"
    return ASKED.get(str(asked), "enquiry")


def lead_link(base_url: str | None, lead_id: str) -> str | None:
    """The lead's page in the console, absolute, or None without a public address."""
    return f"{base_url}/console/leads/{lead_id}" if base_url else None


def company_of(state: DecisionRecord) -> str | None:
    """The lead's company as a person names it: the enriched or given name, else the
    email's domain, never a free-mail or disposable domain."""
    lead = state.get("lead", {})
    company = state.get("enrichment", {}).get("company", {})
    name = company.get("name") or lead.get("company")
    if name and name.lower() != (lead.get("domain") or "").lower():
        return name
    if lead.get("free_mail") or lead.get("disposable"):
        return None
    return name or lead.get("domain")


def company_line(state: DecisionRecord) -> str:
    """The company, its size and country in words; what is unknown is said, not "?"."""
    lead = state.get("lead", {})
    company = state.get("enrichment", {}).get("company", {})
    name = company_of(state)
    country = country_name(company.get("country") or lead.get("country"))
    if name is None:
        mail = "personal" if lead.get("free_mail") else "throwaway"
        where = f"; {country}" if country else ""
        return f"none given — a {mail} {lead.get('domain') or 'email'} address{where}"
    employees = company.get("employees")
    size = f"{int(employees):,} employees" if employees else "size unknown"
    return ", ".join([f"{name} — {size}", *([country] if country else [])])


def routed_line(state: DecisionRecord, cfg: RoutingConfig) -> str:
    """How the lead came to its owner or queue, in words."""
    routing = state.get("routing", {})
    method, rule = routing.get("method"), routing.get("rule")
    owner, team, queue = routing.get("owner"), routing.get("team"), routing.get("queue")
    by_rule = f"rule “{rule}”" if rule else "the fallback (no rule matched)"
    if method == "existing_owner":
        name = cfg.rep(owner).name if owner else "the owner"
        return f"{name} is the {routing.get('ownership', 'owner')}"
    if method == "repeat":
        return "the same " + ("rep" if owner else "queue") + " as this person's earlier lead"
    if method == "reassigned":
        log = routing.get("log") or []
        by = log[-1].get("by", "a rep") if log else "a rep"
        before = log[-1].get("from") if log else None
        names = {rep.id: rep.name for rep in cfg.reps}
        moved = f" from {names[before]}" if before in names else ""
        return f"reassigned{moved} by {by}"
    if queue:
        return f"{by_rule} sends it to the {queue} queue"
    turn = f", then the {team} team's round-robin" if routing.get("round_robin") else ""
    if method == "territory":
        return f"{by_rule} (territory){turn}"
    if method == "fallback" and rule:
        return f"rule “{rule}” found nobody available, so the fallback{turn}"
    if method in {"round_robin", "fallback"}:
        return by_rule + turn
    if method == "named_account":
        return f"named account, {by_rule}"
    return by_rule


def addressed(cfg: RoutingConfig, routing: Routing) -> tuple[str, str, str] | None:
    """Where the lead's message goes and who reads it: (channel, recipient, who in words).

    A rep's Slack DM, else their team's channel, else the rep's pseudo channel `dm:<rep>`
    (the outbox, or SLACK_FALLBACK_CHANNEL); a queue's channel, else `queue:<id>`.
    """
    owner, team_id, queue_id = routing.get("owner"), routing.get("team"), routing.get("queue")
    if owner:
        rep = cfg.rep(owner)
        team = cfg.team(team_id) if team_id else None
        if rep.slack_id:
            return rep.slack_id, rep.id, rep.name
        if team and team.slack_channel:
            return (
                team.slack_channel,
                rep.id,
                f"{rep.name} — posted in {team.slack_channel}, "
                "as routing.yaml has no Slack id for them",
            )
        return f"dm:{rep.id}", rep.id, f"{rep.name} (no Slack id or team channel in routing.yaml)"
    if queue_id:
        queue = cfg.queue(queue_id)
        return queue.slack_channel or f"queue:{queue.id}", queue.id, f"the {queue.id} queue"
    return None


def lead_message(
    state: DecisionRecord, cfg: RoutingConfig, *, base_url: str | None = None
) -> RepMessage | None:
    """The message for the lead's owner (or queue), or None when nobody is to be told;
    `base_url` (PUBLIC_BASE_URL) makes the links to the lead and its earlier lead."""
    routing = state.get("routing", {})
    lead = state.get("lead", {})
    score = state.get("score", {})
    if routing.get("action") == "disqualify":
        return None
    to = addressed(cfg, routing)
    if to is None:
        return None
    channel, recipient, who_reads = to
    owner = routing.get("owner")
    who = lead.get("full_name") or lead.get("email")
    company = company_of(state)
    capture = state.get("capture")
    first = capture["duplicate_of"] if capture else None
    action = routing.get("action")
    asked = asked_about(state)
    booking = state.get("booking", {})
    draft = state.get("draft", {})
    withheld = [name for name, ok in (draft.get("checks") or {}).items() if not ok]
    if action == "book":
        what = "meeting booked" if booking.get("status") in MEETING_SHOWN else "no meeting booked"
    elif action == "draft":
        what = (
            "draft withheld"
            if withheld
            else "draft email ready"
            if draft.get("body")
            else "follow up"
        )
    elif action == "nurture":
        what = "for nurture"
    else:
        what = ""
    if action == "support":
        about = ""
        kind = "support request"
    else:
        about = f" — {asked}" + (f", {what}" if what else "")
        kind = "lead"
    headline = (
        f"{'Repeat' if first else 'New'} {kind}: {who}"
        + (f", {company}" if company else "")
        + about
        + f" · score {points_text(score.get('total', 0))} ({score.get('grade', 'no grade')})"
    )
    facts: list[Fact] = []
    if channel != (cfg.rep(owner).slack_id if owner else None):
        facts.append({"label": "For", "value": who_reads})
    facts.append({"label": "Email", "value": str(lead.get("email"))})
    if lead.get("title"):
        facts.append({"label": "Title", "value": str(lead["title"])})
    facts += [
        {"label": "Company", "value": company_line(state)},
        {"label": "Routed", "value": routed_line(state, cfg)},
    ]
    if first:
        also = "also sent to you" if owner else "also in this queue"
        facts.append(
            {
                "label": "Earlier lead",
                "value": (lead_link(base_url, first) or f"lead {first}")
                + (f" ({also})" if routing.get("repeat_of") else ""),
            }
        )
    held = routing.get("account_owner")
    if held:
        rep = cfg.rep(held["rep"])
        facts.append(
            {
                "label": "Account owner",
                "value": f"{rep.name}, the {held['ownership']} (sent a note)",
            }
        )
    if draft.get("body") and withheld:
        facts.append(
            {
                "label": "Draft",
                "value": "withheld: it failed its checks (" + ", ".join(withheld) + ")",
            }
        )
    link = lead_link(base_url, state["lead_id"])
    if link:
        facts.append({"label": "In the console", "value": link})
    zone = cfg.rep(owner).timezone if owner else "UTC"
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
                "when": meeting_when(booking.get("start"), booking.get("end"), zone),
                "link": booking.get("link"),
                "status": booking["status"],
            }
            if booking.get("status") in MEETING_SHOWN
            else None
        ),
        "decisions": list(DECISIONS) if owner else [],
    }


def meeting_when(start: str | None, end: str | None, timezone: str) -> str | None:
    """A meeting's time as its host reads it: "Tue 1 Dec, 09:00–09:30 Europe/Lisbon"."""
    if not start:
        return None
    zone = ZoneInfo(timezone)
    begins = datetime.fromisoformat(start).astimezone(zone)
    ends = f"–{datetime.fromisoformat(end).astimezone(zone):%H:%M}" if end else ""
    return f"{begins:%a} {begins.day} {begins:%b}, {begins:%H:%M}{ends} {timezone}"


def owner_notice(
    state: DecisionRecord, cfg: RoutingConfig, *, base_url: str | None = None
) -> RepMessage | None:
    """A note for the lead's contact or account owner when a rule sent the lead elsewhere."""
    routing = state.get("routing", {})
    held = routing.get("account_owner")
    if not held or routing.get("action") == "disqualify":
        return None
    rep = cfg.rep(held["rep"])
    lead = state.get("lead", {})
    who = lead.get("full_name") or lead.get("email")
    company = company_of(state)
    queue, owner = routing.get("queue"), routing.get("owner")
    went = f"the {queue} queue" if queue else cfg.rep(owner).name if owner else "nobody"
    rule = routing.get("rule")
    asked = ASKED.get(str(asked_for(state)), "enquiry")
    if routing.get("action") == "support":
        asked = ASKED["support"]
    link = lead_link(base_url, state["lead_id"])
    text = (
        f"FYI: {who}"
        + (f" of {company}" if company else "")
        + f" sent a {asked}; you are the {held['ownership']}. "
        + f"It went to {went}"
        + (f" (rule “{rule}”)" if rule else "")
        + "."
        + (f" {link}" if link else "")
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
        f"Score {points_text(score.get('total', 0))} "
        f"({score.get('grade')}, {score.get('model_version')}):",
        *(f"  {r}" for r in score_reasons(state, limit=10)),
    ]
    said = state.get("lead", {}).get("message")
    if said:
        lines.append(f"Message: {said[:1000]}")
    return "\n".join(lines)
