"""wait_for_rep: the lead waits, as a checkpointed interrupt, for its rep's decision."""

from __future__ import annotations

from langgraph.runtime import Runtime
from langgraph.types import interrupt

from domain.calcom import inbound
from domain.rep_decisions import DECISIONS, parse_answer
from domain.replies import parse_inbound
from graph.context import Context
from graph.state import LeadState, WaitUpdate


async def wait_for_rep(state: LeadState, runtime: Runtime[Context]) -> WaitUpdate:
    """Wait for a Slack click, a console button or the SLA timer, resumed with
    `Command(resume=answer)` (`domain.rep_decisions.RepAnswer`) — or for the lead's reply,
    resumed with `Command(resume={"reply": ...})`, or for a change to its meeting, resumed with
    `Command(resume={"booking": ...})`."""
    routing = state["routing"]
    given = interrupt(
        {
            "lead_id": state["lead_id"],
            "owner": routing.get("owner"),
            "queue": routing.get("queue"),
            "hop": routing.get("hops", 0),
            "decisions": list(DECISIONS),
        }
    )
    if isinstance(given, dict) and "booking" in given:
        return {"inbound_booking": inbound(given["booking"], waiting=True)}
    if isinstance(given, dict) and "reply" in given:
        return {"inbound_reply": parse_inbound(given["reply"], waiting=True)}
    return {"rep_decision": parse_answer(given)}
