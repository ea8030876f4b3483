"""note_reply: spam or auto-generated junk changes nothing; an unclear reply goes to the rep."""

from __future__ import annotations

from langgraph.runtime import Runtime

from graph.context import Context
from graph.nodes._node import timed
from graph.nodes._reply import recorded, tell_rep, who
from graph.state import LeadState, ReplyUpdate


@timed("note_reply")
async def note_reply(state: LeadState, runtime: Runtime[Context]) -> ReplyUpdate:
    """Record junk without acting; hand a reply nobody could read with confidence to the rep."""
    ctx = runtime.context
    kind = (state.get("inbound_reply") or {}).get("verdict", {}).get("kind")
    if kind == "spam":
        return recorded(ctx, state, "ignored", "spam or auto-generated: nothing done")
    told = await tell_rep(ctx, state, f"{who(state)} replied; please read it.")
    return recorded(
        ctx,
        state,
        "told_rep",
        "neither the rules nor the model could say what the reply is; the rep reads it",
        deliveries={"rep": told},
    )
