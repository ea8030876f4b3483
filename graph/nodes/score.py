"""score: fit, intent and timing from `scoring.yaml`, every point with its reason.

The total is the sum of the listed contributions (a `bounds` line keeps it within 0–100).
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any, Literal

from langgraph.runtime import Runtime
from pydantic import BaseModel, Field, model_validator

from domain.config import ScoringConfig
from domain.learned_model import LearnedModel
from graph.context import Context
from graph.nodes._node import timed
from graph.state import LeadState, ScoreUpdate

Component = Literal["fit", "intent", "timing", "prior", "learned", "bounds"]
POSITIVE = {"won", "converted"}
NEGATIVE = {"lost"}


class Contribution(BaseModel):
    component: Component
    feature: str
    points: float
    reason: str


class Score(BaseModel):
    total: float = Field(ge=0, le=100)
    grade: Literal["A", "B", "C", "D"]
    fit: float
    intent: float
    timing: float
    prior: float = 0.0
    learned: float = 0.0
    method: Literal["rules", "learned"] = "rules"
    contributions: list[Contribution]
    model_version: str
    rules: dict[str, float] | None = None  # the rules' sub-scores when a learned model scored

    @model_validator(mode="after")
    def _sums(self) -> Score:
        if abs(sum(c.points for c in self.contributions) - self.total) > 1e-6:
            raise ValueError("contributions do not sum to the total")
        return self


def _fit(state: LeadState, cfg: ScoringConfig) -> list[Contribution]:
    lead = state.get("lead", {})
    enrichment = state.get("enrichment", {})
    company = enrichment.get("company", {})
    persona = state.get("classification", {}).get("persona", {})
    fit = cfg.fit
    out: list[Contribution] = []
    employees = company.get("employees")
    if isinstance(employees, int | float):
        band = next((b for b in fit.employees if employees >= b.gte), None)
        if band:
            out.append(
                Contribution(
                    component="fit",
                    feature="employees",
                    points=band.points,
                    reason=f"{band.reason} ({int(employees):,})",
                )
            )
    industry = str(company.get("industry") or "").lower()
    targets = {t.lower() for t in cfg.icp.target_industries}
    if fit.target_industry and industry and industry in targets:
        out.append(
            Contribution(
                component="fit",
                feature="industry",
                points=fit.target_industry.points,
                reason=f"{fit.target_industry.reason}: {industry}",
            )
        )
    level = fit.seniority.get(persona.get("seniority", ""))
    if level:
        out.append(
            Contribution(
                component="fit",
                feature="seniority",
                points=level.points,
                reason=f"{level.reason} ({lead.get('title')})",
            )
        )
    department = fit.department.get(persona.get("department", ""))
    if department:
        out.append(
            Contribution(
                component="fit",
                feature="department",
                points=department.points,
                reason=department.reason,
            )
        )
    if fit.known_account and enrichment.get("account_match"):
        match = enrichment["account_match"]
        out.append(
            Contribution(
                component="fit",
                feature="known_account",
                points=fit.known_account.points,
                reason=f"{fit.known_account.reason}: {match.get('name')}",
            )
        )
    if fit.free_email and lead.get("free_mail"):
        out.append(
            Contribution(
                component="fit",
                feature="free_email",
                points=fit.free_email.points,
                reason=f"{fit.free_email.reason} ({lead.get('domain')})",
            )
        )
    return out


def _number(value: Any) -> float | None:
    """A property's numeric value ("12", 12, "1,200"), or None."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(str(value).replace(",", "").strip())
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _intent(state: LeadState, cfg: ScoringConfig) -> list[Contribution]:
    lead = state.get("lead", {})
    classification = state.get("classification", {})
    out: list[Contribution] = []
    intent = classification.get("intent", "other")
    rule = cfg.intent.message.get(intent)
    if rule and rule.points:
        evidence = "; ".join(classification.get("intent_evidence", [])[:2])
        out.append(
            Contribution(
                component="intent",
                feature=f"intent:{intent}",
                points=rule.points,
                reason=f"{rule.reason} ({evidence})" if evidence else rule.reason,
            )
        )
    properties = lead.get("properties") or {}
    seen: set[str] = set()
    for step in cfg.intent.engagement:
        value = _number(properties.get(step.property))
        if step.property in seen or value is None or value < step.gte:
            continue
        seen.add(step.property)
        out.append(
            Contribution(
                component="intent",
                feature=f"engagement:{step.property}",
                points=step.points,
                reason=f"{step.reason} ({value:g})",
            )
        )
    for key in ("form_id", "source"):
        form = cfg.intent.form.get((lead.get(key) or "").lower())
        if form:
            out.append(
                Contribution(
                    component="intent",
                    feature=f"form:{lead.get(key)}",
                    points=form.points,
                    reason=form.reason,
                )
            )
            break
    return out


def _timing(state: LeadState, cfg: ScoringConfig) -> list[Contribution]:
    lead = state.get("lead", {})
    out: list[Contribution] = []
    urgency = cfg.timing.urgency
    message = (lead.get("message") or "").lower()
    if urgency:
        said = [w for w in urgency.words if w.lower() in message]
        if said:
            out.append(
                Contribution(
                    component="timing",
                    feature="urgency",
                    points=urgency.points,
                    reason=f"{urgency.reason}: '{said[0]}'",
                )
            )
    submitted, received = lead.get("submitted_at"), state.get("received_at")
    if received:
        # Age when it reached us, so a replay scores exactly as the live lead did.
        age = datetime.fromisoformat(received) - datetime.fromisoformat(submitted or received)
        age_min = max(0.0, age.total_seconds() / 60)
        band = next((r for r in cfg.timing.recency if age_min <= r.within_minutes), None)
        if band:
            out.append(
                Contribution(
                    component="timing", feature="recency", points=band.points, reason=band.reason
                )
            )
    return out


def _prior(state: LeadState, cfg: ScoringConfig) -> list[Contribution]:
    """Points from the outcomes of the most similar known accounts."""
    similar = [
        s
        for s in state.get("enrichment", {}).get("similar_accounts", [])
        if s.get("score", 0) >= cfg.prior.min_similarity
        and (s.get("outcome") in POSITIVE or s.get("outcome") in NEGATIVE)
    ]
    if len(similar) < cfg.prior.min_similar or not cfg.prior.max_points:
        return []
    won = [s for s in similar if s["outcome"] in POSITIVE]
    rate = len(won) / len(similar)
    names = ", ".join(str(s.get("name") or s.get("id")) for s in similar[:3])
    return [
        Contribution(
            component="prior",
            feature="similar_accounts",
            points=round(cfg.prior.max_points * (2 * rate - 1), 2),
            reason=f"{len(won)} of {len(similar)} similar accounts won ({names})",
        )
    ]


def score_lead(state: LeadState, cfg: ScoringConfig) -> Score:
    """Score a lead with the rules of `cfg`; pure, so the same input gives the same score."""
    parts = [*_fit(state, cfg), *_intent(state, cfg), *_timing(state, cfg), *_prior(state, cfg)]
    raw = sum(c.points for c in parts)
    total = min(100.0, max(0.0, raw))
    if total != raw:
        parts.append(
            Contribution(
                component="bounds",
                feature="bounds",
                points=total - raw,
                reason=f"total kept within 0–100 (raw {raw:g})",
            )
        )

    def sub(component: str) -> float:
        return sum(c.points for c in parts if c.component == component)

    return Score(
        total=total,
        grade=cfg.grade(total),  # type: ignore[arg-type]
        fit=sub("fit"),
        intent=sub("intent"),
        timing=sub("timing"),
        prior=sub("prior"),
        contributions=parts,
        model_version=cfg.model_version,
    )


def score_learned(state: LeadState, cfg: ScoringConfig, model: LearnedModel) -> Score:
    """Score with the learned model: 100 × its probability, explained column by column."""
    rules = score_lead(state, cfg)
    row = state.get("lead", {}).get("properties") or {}
    _, explained, _ = model.explain(row)
    parts = [
        Contribution(
            component="prior" if c["feature"] == "base" else "learned",
            feature=str(c["feature"]),
            points=float(c["points"]),
            reason=str(c["reason"]),
        )
        for c in explained
    ]
    total = min(100.0, max(0.0, math.fsum(c.points for c in parts)))
    residual = total - math.fsum(c.points for c in parts)
    if residual:
        parts.append(
            Contribution(
                component="bounds",
                feature="bounds",
                points=residual,
                reason="rounding kept within 0–100",
            )
        )
    return Score(
        total=total,
        grade=cfg.grade(total),  # type: ignore[arg-type]
        fit=0.0,
        intent=0.0,
        timing=0.0,
        prior=sum(c.points for c in parts if c.component == "prior"),
        learned=sum(c.points for c in parts if c.component == "learned"),
        method="learned",
        contributions=parts,
        model_version=model.version,
        rules={
            "total": rules.total,
            "fit": rules.fit,
            "intent": rules.intent,
            "timing": rules.timing,
            "prior": rules.prior,
        },
    )


@timed("score")
async def score(state: LeadState, runtime: Runtime[Context]) -> ScoreUpdate:
    """Score fit, intent and timing with a reason for every point."""
    ctx = runtime.context
    scored = (
        score_learned(state, ctx.scoring, ctx.model)
        if ctx.model is not None
        else score_lead(state, ctx.scoring)
    )
    result: dict[str, Any] = scored.model_dump()
    return {"score": result}
