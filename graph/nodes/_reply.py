"""What the reply steps share: the reply's record, one model call per reply and task, and a
note to the rep — each side effect once per reply."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from domain.records import ModelCall, ReplyRecord
from domain.rep_message import RepMessage, lead_message, notice
from graph.context import Context
from graph.nodes._node import ask_once as ask_model_once
from graph.nodes._node import once
from graph.nodes._rep import who as who
from graph.state import LeadState, ReplyUpdate
from tools.ports import Answer, ChatModel


def effect(state: LeadState, name: str) -> str:
    """The receipt name of a side effect of the reply being handled."""
    return f"reply.{(state.get('inbound_reply') or {}).get('message_id')}.{name}"


async def once_per_reply(
    ctx: Context, state: LeadState, name: str, write: Callable[[], Awaitable[dict[str, Any]]]
) -> dict[str, Any]:
    """Run `write` once for this reply (a rerun of the step returns the stored receipt)."""
    return await once(ctx.receipts, state["lead_id"], effect(state, name), write)


async def ask_once(
    ctx: Context,
    model: ChatModel,
    state: LeadState,
    task: str,
    prompt: str,
    schema: type[Answer],
    **variables: Any,
) -> tuple[Answer | None, ModelCall]:
    """One model call per (reply, task), kept as a receipt: a rerun reuses the answer."""
    return await ask_model_once(
        ctx.receipts,
        model,
        state["lead_id"],
        effect(state, f"model.{task}"),
        prompt,
        schema,
        **variables,
    )


async def tell_rep(
    ctx: Context, state: LeadState, text: str, draft: dict[str, str] | None = None
) -> dict[str, Any]:
    """Tell the lead's owner (or queue) about the reply, once; a receipt saying why not when
    nobody is to be told."""
    addressed = lead_message(state, ctx.routing, base_url=ctx.settings.public_url)
    if addressed is None:
        return {"skipped": "nobody to tell (disqualified or no recipient)"}
    lead_id = state["lead_id"]
    message: RepMessage = notice(lead_id, addressed["channel"], addressed["recipient"], text)
    if draft:
        message["draft"] = {"subject": draft["subject"], "body": draft["body"]}
    mid = (state.get("inbound_reply") or {}).get("message_id")
    return await once_per_reply(
        ctx, state, "rep", lambda: ctx.notifier.send(f"{lead_id}:reply:{mid}", message)
    )


def recorded(ctx: Context, state: LeadState, action: str, reason: str, **extra: Any) -> ReplyUpdate:
    """The update that closes the reply: its record appended (with the action and the reason)
    and the inbound reply cleared."""
    inbound = state.get("inbound_reply") or {}
    verdict = inbound.get("verdict", {})
    entry: ReplyRecord = {
        "message_id": inbound.get("message_id", ""),
        "sender": inbound.get("sender", ""),
        "subject": inbound.get("subject"),
        "received_at": inbound.get("received_at", ""),
        "kind": verdict.get("kind", "other"),
        "evidence": verdict.get("evidence", []),
        "action": action,
        "reason": reason,
        "at": ctx.clock().isoformat(),
        "waiting": bool(inbound.get("waiting")),
        "verdict": verdict,
    }
    entry.update(extra)  # type: ignore[typeddict-item]
    return {"replies": [*(state.get("replies") or []), entry], "inbound_reply": None}
