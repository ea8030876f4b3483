"""classify: persona, ICP segment, inbound intent and a spam/bot verdict, by the rules."""

from __future__ import annotations

from langgraph.runtime import Runtime

from domain.classification import classify_lead
from graph.context import Context
from graph.nodes._node import timed
from graph.state import ClassifyUpdate, LeadState


@timed("classify")
async def classify(state: LeadState, runtime: Runtime[Context]) -> ClassifyUpdate:
    """Classify persona, segment, intent and spam from the lead and its enrichment."""
    enrichment = state["enrichment"]
    return {
        "classification": classify_lead(
            state["lead"],
            state.get("raw", {}),
            enrichment["company"],
            enrichment["provenance"],
            runtime.context.scoring,
        )
    }
