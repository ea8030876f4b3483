"""The steps a lead went through, read from its checkpoint history, and kept when that history
is compacted.

Each checkpoint names the nodes due next; the one after it is when they finished, and the
difference between the two states is what the step decided. A compacted lead keeps only its
latest checkpoint: its earlier steps were written to its record (`LeadRecord.steps`) first,
and the steps since are read from the checkpoints written after it.
"""

from __future__ import annotations

import itertools
from typing import Any

from langgraph.graph.state import CompiledStateGraph

from service.runner import thread_config


def changed(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    skip = {"timings", "status"}
    return [k for k, v in after.items() if k not in skip and before.get(k) != v]


def _ms(value: Any) -> str:
    return f"{float(value):,.1f} ms"


def step_lines(node: str, before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """What a step decided, in a few lines, read from the state it left."""
    lead = after.get("lead") or {}
    routing = after.get("routing") or {}
    if node == "capture":
        flags = [
            name
            for name, on in (
                ("free mail", lead.get("free_mail")),
                ("disposable", lead.get("disposable")),
                ("role address", lead.get("role_address")),
            )
            if on
        ]
        capture = after.get("capture") or {}
        lines = [
            f"{lead.get('email') or '—'} at {lead.get('domain') or 'no company domain'}"
            + (f" ({', '.join(flags)})" if flags else ""),
            f"country {lead.get('country') or 'unknown'}"
            + (f" from the {lead['country_source']}" if lead.get("country_source") else "")
            + (f", region {lead['region']}" if lead.get("region") else ""),
        ]
        lines += [f"problem: {p['field']}: {p['problem']}" for p in capture.get("problems", [])]
        if capture.get("duplicate_of"):
            lines.append(f"repeat of lead {capture['duplicate_of']}")
        return lines
    if node == "enrich":
        enrichment = after.get("enrichment") or {}
        match = enrichment.get("account_match")
        company = enrichment.get("company") or {}
        lines = [
            (
                f"account {match.get('account_id')} {match.get('name') or ''} by "
                f"{match.get('method')} ({float(match.get('confidence', 0)):.2f})"
            )
            if match
            else "no account matched"
        ]
        contact = enrichment.get("contact_match")
        if contact:
            lines.append(f"existing contact, owner {contact.get('owner_email') or 'none'}")
        facts = [
            str(company[k]) for k in ("industry", "country", "region") if company.get(k) is not None
        ]
        if company.get("employees") is not None:
            facts.insert(1, f"{int(company['employees']):,} employees")
        if facts:
            lines.append(" · ".join(facts))
        used = [
            f"{w['provider']} {w['status']}"
            for w in enrichment.get("waterfall", [])
            if w.get("status") != "skipped"
        ]
        if used:
            lines.append("waterfall: " + ", ".join(used))
        return lines
    if node == "classify":
        c = after.get("classification") or {}
        persona = c.get("persona") or {}
        segment = c.get("segment") or {}
        spam = c.get("spam") or {}
        lines = [
            f"intent {c.get('intent')}"
            + (f": {'; '.join(c.get('intent_evidence', []))}" if c.get("intent_evidence") else ""),
            f"persona {persona.get('seniority')} · {persona.get('department')}",
            "segment: abstained"
            if segment.get("abstained")
            else f"segment {segment.get('id')} ({segment.get('reason')})",
        ]
        if spam.get("is_spam"):
            lines.append("spam: " + "; ".join(spam.get("reasons", [])))
        return lines
    if node == "score":
        s = after.get("score") or {}
        return [
            f"{float(s.get('total', 0)):.0f} points, grade {s.get('grade')} "
            f"({s.get('method')}, {s.get('model_version')})",
            f"fit {float(s.get('fit', 0)):.0f} · intent {float(s.get('intent', 0)):.0f} · "
            f"timing {float(s.get('timing', 0)):.0f} · prior {float(s.get('prior', 0)):.0f}",
        ]
    if node == "route":
        target = routing.get("owner") or f"queue {routing.get('queue')}"
        lines = [
            f"{routing.get('action')}: {routing.get('action_reason') or ''}".rstrip(": "),
            f"{target} by {routing.get('method')}"
            + (f", rule {routing['rule']}" if routing.get("rule") else "")
            + (f", team {routing['team']}" if routing.get("team") else ""),
        ]
        lines += [f"skipped {s['rep']}: {s['reason']}" for s in routing.get("skipped", [])]
        return lines
    if node == "book":
        b = after.get("booking") or {}
        if b.get("status") == "confirmed":
            return [f"meeting {b.get('start')} with {b.get('rep_id')} ({b.get('provider')})"]
        return [f"{b.get('status')}: {b.get('reason') or ''}".rstrip(": ")]
    if node == "draft":
        d = after.get("draft") or {}
        passed = "checks passed" if d.get("checks_passed") else "checks failed"
        return [f"“{d.get('subject')}” ({d.get('method')}, {passed})"]
    if node == "nurture":
        n = after.get("nurture") or {}
        return [
            f"track {n.get('track')}: {n.get('reason')}",
            f"next touch {n.get('next_touch_at')}",
        ]
    if node == "notify":
        old = before.get("deliveries") or {}
        new = after.get("deliveries") or {}
        written = [k for k in new if k not in {"notified_at", "ms_to_notify"} and k not in old]
        lines = ["wrote " + ", ".join(written)] if written else ["nothing new to write"]
        if new.get("ms_to_notify") is not None and old.get("ms_to_notify") is None:
            lines.append(f"rep told {_ms(new['ms_to_notify'])} after the webhook")
        return lines
    if node == "wait_for_rep":
        answer = after.get("rep_decision")
        if answer and answer != before.get("rep_decision"):
            return [f"{answer['decision']} by {answer['by']}"]
        return ["waited for the rep"]
    if node in {"reassign", "accept", "not_a_fit"} and routing.get("log"):
        event = routing["log"][-1]
        moved = f" {event['from']} → {event['to']}" if event.get("to") else ""
        return [f"{event.get('event')} by {event.get('by')}:{moved} {event.get('result', '')}"]
    written = changed(before, after)
    return ["wrote " + ", ".join(written)] if written else []


async def history_steps(
    graph: CompiledStateGraph[Any, Any, Any, Any], lead_id: str
) -> list[dict[str, Any]]:
    """The steps the lead's checkpoints show, oldest first: `checkpoint_id` (of the checkpoint
    the step ended at), `step` (the graph's), `node`,
    `finished_at`, `ms` (the node's time when this pass recorded one), `lines` (what it
    decided) and `wrote` (the keys it changed)."""
    history = [s async for s in graph.aget_state_history(thread_config(lead_id))]
    history.reverse()
    steps = []
    for before, after in itertools.pairwise(history):
        old, new = dict(before.values or {}), dict(after.values or {})
        timings = new.get("timings") or {}
        for node in before.next:
            if node.startswith("__"):
                continue
            timing = timings.get(node)
            fresh = timing is not None and timing != (old.get("timings") or {}).get(node)
            steps.append(
                {
                    "checkpoint_id": after.config["configurable"]["checkpoint_id"],
                    "step": after.metadata.get("step") if after.metadata else None,
                    "node": node,
                    "finished_at": after.created_at,
                    "ms": timing["ms"] if fresh and timing else None,
                    "lines": step_lines(node, old, new),
                    "wrote": changed(old, new),
                }
            )
    return steps


async def lead_steps(
    graph: CompiledStateGraph[Any, Any, Any, Any],
    lead_id: str,
    kept: list[dict[str, Any]] | None,
) -> list[dict[str, Any]]:
    """Every step of the lead, oldest first: those `kept` when its history was compacted, then
    those of the checkpoints written after the last of them (checkpoint ids sort by time)."""
    kept = kept or []
    after = kept[-1].get("checkpoint_id") if kept else None
    since = [
        step
        for step in await history_steps(graph, lead_id)
        if after is None or step["checkpoint_id"] > after
    ]
    return [*kept, *since]


def kept_steps(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Steps as a record keeps them: only the last names its checkpoint (where the steps still
    in the history begin)."""
    return [
        step if n == len(steps) - 1 else {k: v for k, v in step.items() if k != "checkpoint_id"}
        for n, step in enumerate(steps)
    ]
