"""A rep's decision on a routed lead (accept, reassign, not a fit), as the record keeps it.

Pure: which decisions a lead can still take, the event each leaves in `routing.log`, the
routing decision after it, and the line shown where the rep's message had its buttons.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from domain.config import Rep
from domain.records import RepAnswer, RepDecision, RepEvent, Routing

DECISIONS: tuple[RepDecision, ...] = ("accept", "reassign", "not_a_fit")
MAX_HOPS = 3


def answer(decision: str, by: str, at: datetime, reason: str | None = None) -> RepAnswer:
    """A validated answer; raises ValueError naming an unknown decision or a missing actor."""
    if decision not in DECISIONS:
        raise ValueError(f"unknown decision {decision!r} (use {', '.join(DECISIONS)})")
    if not by:
        raise ValueError("a decision needs who took it")
    return {"decision": decision, "by": by, "at": at.isoformat(), "reason": reason}


def parse_answer(value: Any) -> RepAnswer:
    """The answer a waiting lead was resumed with; raises ValueError saying what it got."""
    if not isinstance(value, Mapping):
        raise ValueError(f"a rep's answer must be a mapping, got {type(value).__name__}")
    at = value.get("at")
    if not isinstance(at, str):
        raise ValueError(f"a rep's answer needs its time as ISO text, got {at!r}")
    reason = value.get("reason")
    return answer(
        str(value.get("decision")),
        str(value.get("by") or ""),
        datetime.fromisoformat(at),
        str(reason) if reason else None,
    )


def settled(routing: Routing) -> bool:
    """True once the lead was accepted or disqualified: no decision changes it any more."""
    return bool(routing.get("accepted")) or routing.get("action") == "disqualify"


def refusal(routing: Routing, decision: RepDecision) -> str | None:
    """Why the decision cannot apply to this lead as it stands, or None when it can."""
    if decision == "accept" and not routing.get("owner_email"):
        return "only a lead with an owner can be accepted"
    if decision == "reassign" and not routing.get("owner"):
        return "only a lead with an owner can be reassigned"
    return None


def event(given: RepAnswer, routing: Routing) -> RepEvent:
    """The log entry of a decision, at the lead's current hop."""
    entry: RepEvent = {
        "event": given["decision"],
        "by": given["by"],
        "at": given["at"],
        "hop": routing.get("hops", 0),
    }
    if given["reason"]:
        entry["reason"] = given["reason"]
    return entry


def logged(routing: Routing, entry: RepEvent) -> list[RepEvent]:
    return [*routing.get("log", []), entry]


def accepted(routing: Routing, entry: RepEvent) -> Routing:
    """The routing once the owner accepted the lead."""
    entry["result"] = "accepted"
    return {
        **routing,
        "accepted": {"by": entry["by"], "at": entry["at"]},
        "log": logged(routing, entry),
    }


def disqualified(routing: Routing, entry: RepEvent) -> Routing:
    """The routing once the lead was judged not a fit."""
    entry["result"] = "disqualified"
    reason = entry.get("reason") or "not a fit"
    return {
        **routing,
        "previous_action": routing.get("action"),
        "previous_action_reason": routing.get("action_reason"),
        "action": "disqualify",
        "action_reason": f"not a fit, by {entry['by']}: {reason}",
        "disqualified": {
            "by": entry["by"],
            "at": entry["at"],
            "reason": reason,
        },
        "log": logged(routing, entry),
    }


def tried(routing: Routing) -> set[str]:
    """The reps who already had the lead: its owner and every earlier one."""
    names = {e.get("from") for e in routing.get("log", [])} | {routing.get("owner")}
    return {name for name in names if name}


def reassigned(
    routing: Routing, entry: RepEvent, rep: Rep, hop: int, deadline: datetime | None
) -> Routing:
    """The routing once the lead moved to `rep` at `hop`."""
    entry["result"] = "reassigned"
    moved: Routing = {
        **routing,
        "previous_owner": routing.get("owner"),
        "previous_owner_email": routing.get("owner_email"),
        "owner": rep.id,
        "owner_email": rep.email,
        "hops": hop,
        "method": "reassigned",
        "log": logged(routing, entry),
    }
    if deadline is not None:
        moved["sla_deadline"] = deadline.isoformat()
    return moved


def escalated(routing: Routing, entry: RepEvent, why: str) -> Routing:
    """The routing once a reassignment found nobody: the owner stays and the log says why."""
    entry["result"] = "escalated"
    entry["detail"] = why
    entry.setdefault("reason", why)
    return {**routing, "log": logged(routing, entry)}


def outcome(routing: Routing) -> dict[str, Any]:
    """What the last decision did, as the API reports it."""
    entry = routing.get("log", [])[-1]
    result = entry.get("result")
    if result == "accepted":
        return {"result": "accepted", "owner": routing.get("owner")}
    if result == "disqualified":
        return {"result": "disqualified"}
    if result == "reassigned":
        return {
            "result": "reassigned",
            "from": entry.get("from"),
            "to": entry.get("to"),
            "hop": routing.get("hops"),
        }
    found: dict[str, Any] = {"result": "escalated", "detail": entry.get("detail", "")}
    if "skipped" in entry:
        found["skipped"] = entry["skipped"]
    return found
