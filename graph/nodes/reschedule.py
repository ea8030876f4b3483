"""reschedule: the lead is out of office — move its SLA check or nurture touch to its return."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from langgraph.runtime import Runtime

from domain.records import Nurture, Routing
from domain.rep_decisions import settled
from domain.routing import working_deadline
from graph.context import Context
from graph.nodes._node import timed
from graph.nodes._reply import recorded
from graph.state import LeadState, ReplyUpdate


@timed("reschedule")
async def reschedule(state: LeadState, runtime: Runtime[Context]) -> ReplyUpdate:
    """Move the owner's SLA deadline (and its timer) to the lead's return, or the next nurture
    touch; without a return date nothing moves."""
    ctx = runtime.context
    inbound = state.get("inbound_reply") or {}
    day = inbound.get("verdict", {}).get("date")
    if not day:
        return recorded(ctx, state, "noted", "out of office without a return date I could read")
    back = date.fromisoformat(day)
    routing = state.get("routing", {})
    owner, team_id = routing.get("owner"), routing.get("team")
    team = ctx.routing.team(team_id) if team_id else None
    if (
        inbound.get("waiting")
        and owner
        and routing.get("sla_deadline")
        and not settled(routing)
        and team is not None
        and team.sla_minutes
        and not state.get("opted_out")
    ):
        rep = ctx.routing.rep(owner)
        start = datetime.combine(back, time(0), ZoneInfo(rep.timezone))
        deadline = working_deadline(rep, start, team.sla_minutes)
        hop = int(routing.get("hops", 0))
        await ctx.timers.add_timer(
            f"sla:{state['lead_id']}:{hop}:{day}",
            deadline.astimezone(UTC).timestamp(),
            {"task": "sla_check", "lead_id": state["lead_id"], "hop": hop},
        )
        moved: Routing = {**routing, "sla_deadline": deadline.isoformat()}
        update = recorded(
            ctx,
            state,
            "sla_moved",
            f"out of office until {day}: the SLA deadline moved to {deadline.isoformat()}",
        )
        update["routing"] = moved
        return update
    nurture = state.get("nurture")
    if nurture and not nurture.get("stopped"):
        touched: Nurture = {
            **nurture,
            "next_touch_at": datetime.combine(back, time(9), UTC).isoformat(),
        }
        update = recorded(
            ctx, state, "nurture_moved", f"out of office until {day}: next nurture touch moved"
        )
        update["nurture"] = touched
        return update
    return recorded(
        ctx, state, "noted", f"out of office until {day}; no SLA check or nurture touch to move"
    )
