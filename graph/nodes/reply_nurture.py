"""reply_nurture: the lead says not now — nurture it until the day it gave, or keep its words."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from langgraph.runtime import Runtime

from domain.nurture import enrol
from domain.records import Nurture
from graph.context import Context
from graph.nodes._node import timed
from graph.nodes._reply import recorded, tell_rep, who
from graph.state import LeadState, ReplyUpdate

UNDATED_PAUSE = timedelta(days=90)


@timed("reply_nurture")
async def reply_nurture(state: LeadState, runtime: Runtime[Context]) -> ReplyUpdate:
    """Set the next nurture touch to the date the reply gives (or 90 days when none)."""
    ctx = runtime.context
    if state.get("opted_out"):
        return recorded(ctx, state, "suppressed", "the lead opted out: no nurture touch")
    verdict = (state.get("inbound_reply") or {}).get("verdict", {})
    now = ctx.clock()
    day, words = verdict.get("date"), verdict.get("date_text")
    nurture: Nurture = {**(state.get("nurture") or enrol(state, now))}
    if day:
        when = datetime.combine(datetime.fromisoformat(day).date(), time(9), UTC)
        reason = f"replied not now; next touch on {day} ({words})"
    else:
        when = now + UNDATED_PAUSE
        reason = "replied not now without a date I could read; next touch in 90 days"
        if words:
            nurture["resume_text"] = words
            reason += f" (their words: {words!r})"
    nurture["next_touch_at"] = when.isoformat()
    nurture["reason"] = reason
    told = await tell_rep(ctx, state, f"{who(state)} replied not now: {reason}.")
    update = recorded(ctx, state, "nurtured", reason, deliveries={"rep": told})
    update["nurture"] = nurture
    return update
