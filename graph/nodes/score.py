"""score: fit, intent and timing from `scoring.yaml` (or the learned model), with reasons."""

from __future__ import annotations

from langgraph.runtime import Runtime

from domain.scoring import score_live, score_shadow
from graph.context import Context
from graph.nodes._node import timed
from graph.state import LeadState, ScoreUpdate


@timed("score")
async def score(state: LeadState, runtime: Runtime[Context]) -> ScoreUpdate:
    """Score fit, intent and timing with a reason for every point (and the shadow model's)."""
    ctx = runtime.context
    score = score_live(state, ctx.scoring, ctx.model)
    if ctx.shadow_model is not None:
        score["shadow"] = score_shadow(state, ctx.scoring, ctx.shadow_model)
    return {"score": score}
