"""capture: normalize the raw payload and flag a person who submitted again within the window."""

from __future__ import annotations

from langgraph.runtime import Runtime

from domain.normalize import normalize_lead
from graph.context import Context
from graph.nodes._node import timed
from graph.state import CaptureUpdate, LeadState


@timed("capture")
async def capture(state: LeadState, runtime: Runtime[Context]) -> CaptureUpdate:
    """Normalize the lead and mark a repeat submission by the same person."""
    ctx = runtime.context
    lead, problems = normalize_lead(state.get("raw", {}))
    lead_id = state["lead_id"]
    duplicate_of = None
    window_s = ctx.settings.dedupe_window_minutes * 60
    if lead.get("email") and window_s:
        first = await ctx.cache.cache_set_if_absent(f"person:{lead['email']}", lead_id, window_s)
        duplicate_of = first if first != lead_id else None
    return {
        "lead": lead,
        "capture": {
            "problems": problems,
            "duplicate_of": duplicate_of,
            "dedupe_window_minutes": ctx.settings.dedupe_window_minutes,
        },
    }
