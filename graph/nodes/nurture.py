"""nurture: enrol a lead that is not ready for a rep in a track, with its first message."""

from __future__ import annotations

from langgraph.runtime import Runtime

from domain.nurture import enrol
from graph.context import Context
from graph.nodes._node import timed
from graph.state import LeadState, NurtureUpdate


@timed("nurture")
async def nurture(state: LeadState, runtime: Runtime[Context]) -> NurtureUpdate:
    """Enrol the lead in a nurture track and write its first message."""
    return {"nurture": enrol(state, runtime.context.clock())}
