"""classify_reply: read the lead's reply — the rules, and the model when one is configured."""

from __future__ import annotations

from datetime import date

from langgraph.runtime import Runtime

from domain.records import ModelCall, ReplyReading
from domain.replies import ReplyAnswer, checked_answer, decide, own_words, read_reply, reply_block
from graph.context import Context
from graph.nodes._node import timed
from graph.nodes._reply import ask_once
from graph.state import LeadState, ReadReplyUpdate


@timed("classify_reply")
async def classify_reply(state: LeadState, runtime: Runtime[Context]) -> ReadReplyUpdate:
    """Read what the reply is; the rules decide when confident, the model otherwise."""
    ctx = runtime.context
    inbound = state["inbound_reply"] or {}
    text = inbound.get("text", "")
    received = inbound.get("received_at")
    today = date.fromisoformat(received[:10]) if received else ctx.clock().date()
    words = own_words(text)
    known = {state.get("lead", {}).get("email") or ""}
    rules, rules_verdict = read_reply(
        text, inbound.get("subject"), inbound.get("sender", ""), today, known
    )
    model: ReplyReading | None = None
    calls: list[ModelCall] = []
    if ctx.chat is not None:
        answer, call = await ask_once(
            ctx,
            ctx.chat,
            state,
            "classify_reply",
            "classify_reply",
            ReplyAnswer,
            today=today.isoformat(),
            rules_kind=rules["kind"],
            reply_block=reply_block(inbound.get("subject"), words),
        )
        calls.append(call)
        if answer is not None:
            model = checked_answer(answer, words, today)
    verdict = decide(rules, rules_verdict, model, words, today)
    verdict["calls"] = calls
    return {"inbound_reply": {**inbound, "verdict": verdict}}
