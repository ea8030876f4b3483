"""assist: after the rep was told, ask the language model to read the lead and write the draft;
what passes its checks updates the record, the CRM note and the rep's message, once each.

Each model answer is stored as a receipt before it is used, so a node that runs again does
not ask again; the message edit and the note are receipts too.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from langgraph.runtime import Runtime

from domain.assist import (
    DraftAnswer,
    IntentVerdict,
    checked_verdict,
    claim_problems,
    fact_sheet,
    lead_block,
)
from domain.records import Assist, Draft, ModelCall
from domain.rep_message import assist_note, lead_message
from graph.context import Context
from graph.nodes._node import ask_once, once, timed
from graph.nodes._rep import contact_id
from graph.state import AssistUpdate, LeadState
from tools.ports import ChatModel

DRAFTED = ("book", "draft")
TEAM = "Lead Router"


@timed("assist")
async def assist(state: LeadState, runtime: Runtime[Context]) -> AssistUpdate:
    """Read the lead with the model, then write its draft or nurture email; keep what passes
    the checks, within the per-lead call budget."""
    ctx = runtime.context
    if ctx.chat is None:
        return {"assist": {"calls": [], "summary": "no language model configured"}}
    record: Assist = {"calls": []}
    update: AssistUpdate = {"assist": record}
    routing = state["routing"]
    budget = ctx.settings.llm_calls_per_lead
    if budget >= 1:
        await _read(ctx, ctx.chat, state, record)
    owner = routing.get("owner")
    if routing.get("action") in DRAFTED and owner and len(record["calls"]) < budget:
        facts = fact_sheet(state, ctx.routing.rep(owner).name)
        written = await _write(ctx, ctx.chat, state, record, "draft", "draft_reply", facts)
        if written is not None:
            update["draft"] = _model_draft(state, *written)
    enrolled = state.get("nurture")
    if routing.get("action") == "nurture" and enrolled and len(record["calls"]) < budget:
        resource = enrolled["first_message"]["body"]
        facts = {**fact_sheet(state, "our team"), "team": TEAM, "resource": resource}
        written = await _write(ctx, ctx.chat, state, record, "nurture", "nurture_copy", facts)
        if written is not None:
            answer, call = written
            update["nurture"] = {
                **enrolled,
                "first_message": {"subject": answer.subject, "body": answer.body},
                "method": "model",
                "prompt": call["prompt"],
            }
    record["summary"] = _summary(record)
    if "classification" in record or "draft" in update or "nurture" in update:
        update["deliveries"] = await _tell(ctx, {**state, **update}, state["lead_id"])
        record["message_updated"] = "rep.message.assist" in update["deliveries"]
    return update


async def _read(ctx: Context, model: ChatModel, state: LeadState, record: Assist) -> None:
    """The model's reading of the lead, checked, with the score it would suggest."""
    score = float(state.get("score", {}).get("total", 0))
    rules_intent = state.get("classification", {}).get("intent", "other")
    verdict, call = await ask_once(
        ctx.receipts,
        model,
        state["lead_id"],
        "model.classify",
        "classify",
        IntentVerdict,
        max_adjustment=f"{ctx.settings.llm_max_adjustment:g}",
        rules_intent=rules_intent,
        score=f"{score:g}",
        lead_block=lead_block(state),
    )
    record["calls"].append(call)
    if verdict is None:
        return
    checked = checked_verdict(verdict, state, ctx.settings.llm_max_adjustment)
    record["classification"] = checked
    record["agrees"] = checked["intent"] == rules_intent
    record["score_before"] = score
    record["score_after"] = min(100.0, max(0.0, score + checked["adjustment"]))


async def _write(
    ctx: Context,
    model: ChatModel,
    state: LeadState,
    record: Assist,
    task: Literal["draft", "nurture"],
    prompt: str,
    facts: dict[str, Any],
) -> tuple[DraftAnswer, ModelCall] | None:
    """An email written by the model from `facts`; None unless it passes the claim checks."""
    answer, call = await ask_once(
        ctx.receipts,
        model,
        state["lead_id"],
        f"model.{task}",
        prompt,
        DraftAnswer,
        facts=json.dumps(facts, ensure_ascii=False, default=str),
        lead_block=lead_block(state),
    )
    record["calls"].append(call)
    if answer is None:
        return None
    problems = claim_problems(answer, facts)
    record[task] = {
        "language": answer.language,
        "subject": answer.subject,
        "body": answer.body,
        "problems": problems,
        "used": not problems,
    }
    return None if problems else (answer, call)


def _model_draft(state: LeadState, answer: DraftAnswer, call: ModelCall) -> Draft:
    template = state.get("draft")
    return {
        "subject": answer.subject,
        "body": answer.body,
        "facts_used": template["facts_used"] if template else {},
        "checks": {"claims_in_fact_sheet": True},
        "checks_passed": True,
        "method": "model",
        "composed_at": template["composed_at"] if template else "",
        "prompt": call["prompt"],
    }


def _summary(record: Assist) -> str:
    outcomes = ", ".join(f"{c['task']} {c['outcome']}" for c in record["calls"]) or "no calls"
    used = []
    if "classification" in record:
        used.append("the model's reading (score and owner unchanged)")
    if record.get("draft", {}).get("used"):
        used.append("the model's draft")
    elif "draft" in record:
        used.append("the template draft (the model's failed its checks)")
    if record.get("nurture", {}).get("used"):
        used.append("the model's nurture email")
    elif "nurture" in record:
        used.append("the template nurture email (the model's failed its checks)")
    return f"{outcomes}; kept: {', '.join(used) if used else 'rules and template only'}"


async def _tell(ctx: Context, state: LeadState, lead_id: str) -> dict[str, Any]:
    """Edit the rep's message and add the CRM note, each once."""
    deliveries: dict[str, Any] = dict(state.get("deliveries") or {})
    receipt = deliveries.get("rep.message")
    message = lead_message(state, ctx.routing, base_url=ctx.settings.public_url)
    if receipt and receipt.get("id") and message:
        deliveries["rep.message.assist"] = await once(
            ctx.receipts,
            lead_id,
            "rep.message.assist",
            lambda: ctx.notifier.update(receipt, message),
        )
    contact = await contact_id(ctx, state)
    if contact:
        note = assist_note(state)
        deliveries["crm.note.assist"] = await once(
            ctx.receipts,
            lead_id,
            "crm.note.assist",
            lambda: ctx.crm.add_note(contact, f"{lead_id}:assist", note),
        )
    return deliveries
