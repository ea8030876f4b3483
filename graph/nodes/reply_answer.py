"""reply_answer: the lead asked a question — draft the rep's answer and tell the rep, once."""

from __future__ import annotations

import json

from langgraph.runtime import Runtime

from domain.assist import DraftAnswer, claim_problems, fact_sheet
from domain.replies import answer_template, own_words, reply_block
from graph.context import Context
from graph.nodes._node import timed
from graph.nodes._reply import ask_once, recorded, tell_rep, who
from graph.state import LeadState, ReplyUpdate


@timed("reply_answer")
async def reply_answer(state: LeadState, runtime: Runtime[Context]) -> ReplyUpdate:
    """Write the answer from the template, or the model's when it passes the fact-sheet checks."""
    ctx = runtime.context
    inbound = state.get("inbound_reply") or {}
    words = own_words(inbound.get("text", ""))
    owner = state.get("routing", {}).get("owner")
    rep_name = ctx.routing.rep(owner).name if owner else "The team"
    subject = f"Re: {inbound.get('subject') or 'your question'}"
    template = answer_template(state.get("lead", {}).get("first_name"), rep_name, words)
    draft = {"subject": subject, "body": template["body"], "method": "template"}
    reason = "the reply asks a question; the template answer is drafted for the rep"
    extra: dict[str, object] = {}
    if ctx.chat is not None:
        facts = {**fact_sheet(state, rep_name), "reply_text": words}
        answer, call = await ask_once(
            ctx,
            ctx.chat,
            state,
            "answer_reply",
            "answer_reply",
            DraftAnswer,
            facts=json.dumps(facts, ensure_ascii=False, default=str),
            reply_block=reply_block(inbound.get("subject"), words),
        )
        extra["calls"] = [call]
        if answer is not None:
            problems = claim_problems(answer, facts)
            extra["model_draft"] = {"body": answer.body, "problems": problems}
            if not problems:
                draft = {"subject": answer.subject, "body": answer.body, "method": "model"}
                reason = "the reply asks a question; the model's answer passed its checks"
            else:
                reason = "the reply asks a question; the model's answer failed its checks " + (
                    f"({'; '.join(problems)}), so the template is drafted"
                )
    told = await tell_rep(
        ctx, state, f"{who(state)} asked a question; a draft answer is ready.", draft
    )
    return recorded(
        ctx, state, "drafted", reason, draft={**draft, **extra}, deliveries={"rep": told}
    )
