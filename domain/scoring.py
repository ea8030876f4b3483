"""Scoring: fit, intent, timing and the similar-account prior from `scoring.yaml`, or the
learned model; every point with its reason.

The total is the sum of the listed contributions (a `bounds` line keeps it within 0–100).
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from domain.config import ScoringConfig
from domain.learned_model import LearnedModel
from domain.records import Contribution, DecisionRecord, Score, ShadowScore

POSITIVE = {"won", "converted"}
NEGATIVE = {"lost"}


def points_text(total: float) -> str:
    """A score as a reader wants it: at most one decimal, cut rather than rounded, so a
    total just under a threshold never reads as the threshold ("74.9", not "75")."""
    return f"{math.floor(float(total) * 10) / 10:g}"


def checked(score: Score) -> Score:
    """The score, after checking it is within 0–100 and its contributions sum to its total."""
    if not 0 <= score["total"] <= 100:
        raise ValueError(f"score total {score['total']} is outside 0–100")
    if abs(math.fsum(c["points"] for c in score["contributions"]) - score["total"]) > 1e-6:
        raise ValueError("contributions do not sum to the total")
    return score


def _fit(state: DecisionRecord, cfg: ScoringConfig) -> list[Contribution]:
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
    match = enrichment.get("account_match")
    if fit.known_account and match:
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


def _intent(state: DecisionRecord, cfg: ScoringConfig) -> list[Contribution]:
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
    for given in (lead.get("form_id"), lead.get("source")):
        form = cfg.intent.form.get((given or "").lower())
        if form:
            out.append(
                Contribution(
                    component="intent",
                    feature=f"form:{given}",
                    points=form.points,
                    reason=form.reason,
                )
            )
            break
    return out


def _timing(state: DecisionRecord, cfg: ScoringConfig) -> list[Contribution]:
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


def _prior(state: DecisionRecord, cfg: ScoringConfig) -> list[Contribution]:
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


def score_lead(state: DecisionRecord, cfg: ScoringConfig) -> Score:
    """Score a lead with the rules of `cfg`; pure, so the same input gives the same score."""
    parts = [*_fit(state, cfg), *_intent(state, cfg), *_timing(state, cfg), *_prior(state, cfg)]
    raw = sum(c["points"] for c in parts)
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
        return float(sum(c["points"] for c in parts if c["component"] == component))

    return checked(
        Score(
            total=total,
            grade=cfg.grade(total),  # type: ignore[typeddict-item]
            fit=sub("fit"),
            intent=sub("intent"),
            timing=sub("timing"),
            prior=sub("prior"),
            learned=0.0,
            method="rules",
            contributions=parts,
            model_version=cfg.model_version,
            rules=None,
        )
    )


def score_learned(state: DecisionRecord, cfg: ScoringConfig, model: LearnedModel) -> Score:
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
    total = min(100.0, max(0.0, math.fsum(c["points"] for c in parts)))
    residual = total - math.fsum(c["points"] for c in parts)
    if residual:
        parts.append(
            Contribution(
                component="bounds",
                feature="bounds",
                points=residual,
                reason="rounding kept within 0–100",
            )
        )
    return checked(
        Score(
            total=total,
            grade=cfg.grade(total),  # type: ignore[typeddict-item]
            fit=0.0,
            intent=0.0,
            timing=0.0,
            prior=float(sum(c["points"] for c in parts if c["component"] == "prior")),
            learned=float(sum(c["points"] for c in parts if c["component"] == "learned")),
            method="learned",
            contributions=parts,
            model_version=model.version,
            rules={key: rules[key] for key in ("total", "fit", "intent", "timing", "prior")},
        )
    )


def score_live(state: DecisionRecord, cfg: ScoringConfig, model: LearnedModel | None) -> Score:
    """The learned model's score when it reads some field this lead has, else the rules'.

    A model fitted on another kind of lead (other columns) knows nothing of this one: scoring
    it as "every field blank" would sink it, so the rules score it and say why.
    """
    if model is None:
        return score_lead(state, cfg)
    row = state.get("lead", {}).get("properties") or {}
    if any(row.get(name) not in (None, "") for name in model.features):
        return score_learned(state, cfg, model)
    score = score_lead(state, cfg)
    score["learned_skipped"] = (
        f"the learned model {model.version} reads none of this lead's fields; scored by the rules"
    )
    return score


def score_shadow(state: DecisionRecord, cfg: ScoringConfig, model: LearnedModel) -> ShadowScore:
    """What `model` would score the lead, for the record beside the live score."""
    score = score_learned(state, cfg, model)
    return ShadowScore(model=model.version, total=score["total"], grade=score["grade"])
