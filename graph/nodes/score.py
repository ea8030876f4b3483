"""score: fit, intent and timing from `scoring.yaml` (or the learned model), with reasons."""

from __future__ import annotations

from langgraph.runtime import Runtime

from domain.scoring import score_lead, score_learned
from graph.context import Context
from graph.nodes._node import timed
from graph.state import LeadState, ScoreUpdate


@timed("score")
async def score(state: LeadState, runtime: Runtime[Context]) -> ScoreUpdate:
    """Score fit, intent and timing with a reason for every point."""
    ctx = runtime.context
    if ctx.model is not None:
        return {"score": score_learned(state, ctx.scoring, ctx.model)}
    return {"score": score_lead(state, ctx.scoring)}
