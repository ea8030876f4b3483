"""notify: write the CRM (company, contact, owner, note) and message the rep, each exactly once."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from langgraph.runtime import Runtime

from domain.accounts import account_key
from domain.records import Deliveries
from domain.rep_message import crm_note, lead_message, owner_notice
from graph.context import Context
from graph.nodes._node import once, timed
from graph.nodes._rep import contact_id
from graph.similar_accounts import remember
from graph.state import LeadState, NotifyUpdate


async def schedule_sla(ctx: Context, state: LeadState) -> None:
    """Schedule the SLA check of the lead's current owner, if its team has an SLA (none once
    the lead opted out)."""
    routing = state.get("routing", {})
    if routing.get("owner") and routing.get("sla_deadline") and not state.get("opted_out"):
        hop = int(routing.get("hops", 0))
        due = datetime.fromisoformat(routing["sla_deadline"]).astimezone(UTC).timestamp()
        await ctx.timers.add_timer(
            f"sla:{state['lead_id']}:{hop}",
            due,
            {"task": "sla_check", "lead_id": state["lead_id"], "hop": hop},
        )


async def _tell_new_owner(ctx: Context, state: LeadState, hop: int) -> Deliveries:
    """After a reassignment: the CRM owner and the new owner's message, once each per hop."""
    lead_id = state["lead_id"]
    routing = state["routing"]
    deliveries: dict[str, Any] = dict(state.get("deliveries") or {})
    stored = await ctx.receipts.get_receipts(lead_id)
    contact = await contact_id(ctx, state)
    owner_email = routing.get("owner_email")
    if contact and owner_email:
        deliveries[f"crm.owner.hop{hop}"] = await once(
            ctx.receipts,
            lead_id,
            f"crm.owner.hop{hop}",
            lambda: ctx.crm.assign_owner(contact, owner_email),
            stored,
        )
    message = lead_message(state, ctx.routing, base_url=ctx.settings.public_url)
    if state.get("opted_out"):
        deliveries["rep.message"] = {"skipped": "the lead opted out: no further touches"}
    elif message:
        deliveries["rep.message"] = await once(
            ctx.receipts,
            lead_id,
            f"rep.message.hop{hop}",
            lambda: ctx.notifier.send(f"{lead_id}:rep:hop{hop}", message),
            stored,
        )
        await schedule_sla(ctx, state)
    return deliveries


@timed("notify")
async def notify(state: LeadState, runtime: Runtime[Context]) -> NotifyUpdate:
    """Upsert company and contact, set the owner, add a note and message the rep — once each.
    After a reassignment, set the new owner and message them."""
    ctx = runtime.context
    hop = state.get("routing", {}).get("hops", 0)
    if hop:
        return {"deliveries": await _tell_new_owner(ctx, state, hop), "status": "completed"}
    lead_id = state["lead_id"]
    lead = state.get("lead", {})
    routing = state.get("routing", {})
    enrichment = state["enrichment"]
    company = enrichment["company"]
    score = state.get("score", {})
    receipts: dict[str, Any] = {}
    stored = await ctx.receipts.get_receipts(lead_id)

    if company.get("domain") and not lead.get("free_mail"):
        props = {k: company.get(k) for k in ("name", "industry", "employees", "country", "city")}
        receipts["crm.company"] = await once(
            ctx.receipts,
            lead_id,
            "crm.company",
            lambda: ctx.crm.upsert_company(company["domain"], props),
            stored,
        )
    email = lead.get("email")
    if email:
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
            ctx.receipts,
            lead_id,
            "crm.contact",
            lambda: ctx.crm.upsert_contact(email, props),
            stored,
        )
        receipts["crm.contact"] = contact
        owner_email = routing.get("owner_email")
        if owner_email:
            receipts["crm.owner"] = await once(
                ctx.receipts,
                lead_id,
                "crm.owner",
                lambda: ctx.crm.assign_owner(contact["id"], owner_email),
                stored,
            )
        receipts["crm.note"] = await once(
            ctx.receipts,
            lead_id,
            "crm.note",
            lambda: ctx.crm.add_note(contact["id"], f"{lead_id}:note", crm_note(state)),
            stored,
        )
    key = account_key(enrichment)
    if key and ctx.vectors is not None and ctx.embedder is not None:
        vectors, embedder = ctx.vectors, ctx.embedder
        receipts["memory.account"] = await once(
            ctx.receipts,
            lead_id,
            "memory.account",
            lambda: remember(vectors, embedder, key, company, lead_id=lead_id),
            stored,
        )
    message = lead_message(state, ctx.routing, base_url=ctx.settings.public_url)
    if message:
        receipts["rep.message"] = await once(
            ctx.receipts,
            lead_id,
            "rep.message",
            lambda: ctx.notifier.send(f"{lead_id}:rep", message),
            stored,
        )
        await schedule_sla(ctx, state)
    else:
        receipts["rep.message"] = {"skipped": "disqualified or no recipient"}
    told = owner_notice(state, ctx.routing, base_url=ctx.settings.public_url)
    if told:
        receipts["owner.notice"] = await once(
            ctx.receipts,
            lead_id,
            "owner.notice",
            lambda: ctx.notifier.send(f"{lead_id}:owner", told),
            stored,
        )
    now = ctx.clock()
    received = state.get("received_at")
    receipts["notified_at"] = now.isoformat()
    if received:
        receipts["ms_to_notify"] = round(
            (now - datetime.fromisoformat(received)).total_seconds() * 1000, 1
        )
    return {"deliveries": receipts, "status": "completed"}
