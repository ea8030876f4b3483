"""notify: write the CRM (company, contact, owner, note) and message the rep, each exactly once."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from langgraph.runtime import Runtime

from domain.accounts import account_key
from graph.context import Context
from graph.nodes._node import once, timed
from graph.similar_accounts import remember
from graph.state import LeadState, NotifyUpdate


def _reasons(state: LeadState, limit: int = 5) -> list[str]:
    contributions = state.get("score", {}).get("contributions", [])
    ranked = sorted(contributions, key=lambda c: abs(c["points"]), reverse=True)
    return [f"{c['points']:+g} {c['reason']}" for c in ranked[:limit]]


def build_message(state: LeadState, ctx: Context) -> dict[str, Any] | None:
    """The rep (or queue) message with Block Kit blocks, or None when nobody is to be told."""
    routing = state.get("routing", {})
    lead = state.get("lead", {})
    score = state.get("score", {})
    company = state.get("enrichment", {}).get("company", {})
    if routing.get("action") == "disqualify":
        return None
    if routing.get("owner"):
        rep = ctx.routing.rep(routing["owner"])
        team = ctx.routing.team(routing["team"]) if routing.get("team") else None
        # A DM by Slack id, else the team's channel (naming the rep), else the rep's outbox.
        channel = rep.slack_id or (team.slack_channel if team else None) or f"dm:{rep.id}"
        recipient = rep.id
    elif routing.get("queue"):
        queue = ctx.routing.queue(routing["queue"])
        channel, recipient = (queue.slack_channel or f"queue:{queue.id}"), queue.id
    else:
        return None
    who = lead.get("full_name") or lead.get("email")
    name = company.get("name") or lead.get("company") or lead.get("domain") or "unknown company"
    headline = (
        f"New {routing.get('action')} lead: {who} at {name} — "
        f"score {score.get('total', 0):g} ({score.get('grade', '?')})"
    )
    facts = [
        f"*Email:* {lead.get('email')}",
        f"*Title:* {lead.get('title') or '—'}",
        f"*Company:* {name} ({company.get('employees') or '?'} employees, "
        f"{company.get('country') or '?'})",
        f"*Routed by:* {routing.get('method')}"
        + (f" (rule `{routing['rule']}`)" if routing.get("rule") else ""),
    ]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": headline[:150]}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(facts)}},
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": "*Why this score*\n" + "\n".join(_reasons(state))},
        },
    ]
    if lead.get("message"):
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": f"*Message*\n> {lead['message'][:500]}"},
            }
        )
    draft = state.get("draft", {})
    if draft.get("body"):
        blocks.append(
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": f"*Draft: {draft.get('subject')}*\n{draft['body'][:1500]}",
                },
            }
        )
    booking = state.get("booking", {})
    if booking.get("status") == "confirmed":
        blocks.append(
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": f"*Meeting held:* {booking.get('start')} — {booking.get('link')}",
                },
            }
        )
    if routing.get("owner"):
        lead_id = state["lead_id"]
        blocks.append(
            {
                "type": "actions",
                "block_id": f"lead:{lead_id}",
                "elements": [
                    {
                        "type": "button",
                        "action_id": "accept",
                        "style": "primary",
                        "value": lead_id,
                        "text": {"type": "plain_text", "text": "Accept"},
                    },
                    {
                        "type": "button",
                        "action_id": "reassign",
                        "value": lead_id,
                        "text": {"type": "plain_text", "text": "Reassign"},
                    },
                    {
                        "type": "button",
                        "action_id": "not_a_fit",
                        "style": "danger",
                        "value": lead_id,
                        "text": {"type": "plain_text", "text": "Not a fit"},
                    },
                ],
            }
        )
    return {
        "channel": channel,
        "recipient": recipient,
        "text": headline,
        "blocks": blocks,
        "lead_id": state["lead_id"],
    }


def _note(state: LeadState) -> str:
    routing = state.get("routing", {})
    score = state.get("score", {})
    lines = [
        f"Lead {state['lead_id']} via {state.get('source')}: action {routing.get('action')}, "
        f"owner {routing.get('owner') or routing.get('queue') or '—'} ({routing.get('method')}).",
        f"Score {score.get('total', 0):g} ({score.get('grade')}, {score.get('model_version')}):",
        *(f"  {r}" for r in _reasons(state, limit=10)),
    ]
    if state.get("lead", {}).get("message"):
        lines.append(f"Message: {state['lead']['message'][:1000]}")
    return "\n".join(lines)


async def schedule_sla(ctx: Context, state: LeadState) -> None:
    """Schedule the SLA check of the lead's current owner, if its team has an SLA."""
    routing = state.get("routing", {})
    if routing.get("owner") and routing.get("sla_deadline"):
        hop = int(routing.get("hops", 0))
        due = datetime.fromisoformat(routing["sla_deadline"]).astimezone(UTC).timestamp()
        await ctx.store.add_timer(
            f"sla:{state['lead_id']}:{hop}",
            due,
            {"task": "sla_check", "lead_id": state["lead_id"], "hop": hop},
        )


@timed("notify")
async def notify(state: LeadState, runtime: Runtime[Context]) -> NotifyUpdate:
    """Upsert company and contact, set the owner, add a note and message the rep — once each."""
    ctx = runtime.context
    lead_id = state["lead_id"]
    lead = state.get("lead", {})
    routing = state.get("routing", {})
    enrichment = state.get("enrichment", {})
    company = enrichment.get("company", {})
    score = state.get("score", {})
    fault = ctx.settings.fault_after_effect
    receipts: dict[str, Any] = {}

    if company.get("domain") and not lead.get("free_mail"):
        props = {k: company.get(k) for k in ("name", "industry", "employees", "country", "city")}
        receipts["crm.company"] = await once(
            ctx.store,
            lead_id,
            "crm.company",
            lambda: ctx.crm.upsert_company(company["domain"], props),
            fault_after=fault,
        )
    if lead.get("email"):
        props = {
            "first_name": lead.get("first_name"),
            "last_name": lead.get("last_name"),
            "job_title": lead.get("title"),
            "phone": lead.get("phone"),
            "country": lead.get("country"),
            "company": company.get("name") or lead.get("company"),
            "company_domain": company.get("domain"),
            "lead_id": lead_id,
            "lead_score": score.get("total"),
            "lead_grade": score.get("grade"),
            "lead_action": routing.get("action"),
            "lead_source": state.get("source"),
        }
        contact = await once(
            ctx.store,
            lead_id,
            "crm.contact",
            lambda: ctx.crm.upsert_contact(lead["email"], props),
            fault_after=fault,
        )
        receipts["crm.contact"] = contact
        if routing.get("owner_email"):
            receipts["crm.owner"] = await once(
                ctx.store,
                lead_id,
                "crm.owner",
                lambda: ctx.crm.assign_owner(contact["id"], routing["owner_email"]),
                fault_after=fault,
            )
        receipts["crm.note"] = await once(
            ctx.store,
            lead_id,
            "crm.note",
            lambda: ctx.crm.add_note(contact["id"], f"{lead_id}:note", _note(state)),
            fault_after=fault,
        )
    key = account_key(enrichment)
    if key and ctx.vectors is not None and ctx.embedder is not None:
        vectors, embedder = ctx.vectors, ctx.embedder
        receipts["memory.account"] = await once(
            ctx.store,
            lead_id,
            "memory.account",
            lambda: remember(vectors, embedder, key, company, lead_id=lead_id),
            fault_after=fault,
        )
    message = build_message(state, ctx)
    if message:
        receipts["rep.message"] = await once(
            ctx.store,
            lead_id,
            "rep.message",
            lambda: ctx.notifier.send(f"{lead_id}:rep", message),
            fault_after=fault,
        )
        await schedule_sla(ctx, state)
    else:
        receipts["rep.message"] = {"skipped": "disqualified or no recipient"}
    now = ctx.clock()
    received = state.get("received_at")
    receipts["notified_at"] = now.isoformat()
    if received:
        receipts["ms_to_notify"] = round(
            (now - datetime.fromisoformat(received)).total_seconds() * 1000, 1
        )
    return {"deliveries": receipts, "status": "completed"}
