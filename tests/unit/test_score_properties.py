"""Properties of scoring: for arbitrary lead payloads the score stays in 0–100, contributions
sum to the total, the grade follows the configured bands, and nothing raises.

Each payload goes the way a lead goes: `normalize_lead`, then classify's pure functions (as the
classify node combines them), then `score_lead` with the shipped infra/scoring.yaml, or
`score_learned` with a small model fitted here.
"""

from __future__ import annotations

import math
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.classification import classify_lead
from domain.config import ScoringConfig, load_scoring
from domain.learned_model import LearnedModel
from domain.normalize import normalize_lead
from domain.records import Score
from domain.scoring import score_lead, score_learned
from tests.helpers import ROOT
from tests.strategies import PAYLOAD_FIELDS

CONFIG = load_scoring(ROOT / "infra" / "scoring.yaml")
RECEIVED_AT = "2026-03-02T09:30:00+00:00"

PLAUSIBLE: dict[str, list[Any]] = {
    "email": ["lena@northwind-freight.de", "sam@gmail.com", "x@mailinator.com", "info@acme.io"],
    "title": ["VP Sales", "Chief Revenue Officer", "RevOps Manager", "Intern", "Head of IT"],
    "company": ["Northwind Freight GmbH", "Acme", "  ", "Bluefjord Analytics AB"],
    "country": ["Germany", "US", "United Kingdom", "Narnia", "DE"],
    "phone": ["+44 20 7946 0958", "555-0100", "+1 (415) 555-0199", "12"],
    "website": ["https://www.acme.io/pricing", "acme", "http://", "www.bluefjord.se"],
    "message": [
        "Can we see a demo this week? Our contract ends this quarter.",
        "What does it cost for 40 seats? ASAP please",
        "Buy backlinks http://a.example http://b.example casino",
        "I am applying for the open role",
        "login broken, support ticket",
    ],
    "form_id": ["demo-request", "contact-sales", "pricing", "webinar", "content", "DEMO-REQUEST"],
    "source": ["pricing", "webinar", "ads"],
    "submitted_at": [
        "2026-03-02T09:00:00Z",
        "2026-03-02T09:45:00+00:00",
        1772443800,
        1772443800000,
        "yesterday",
        "1999-01-01",
    ],
}

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=60),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)


engagement = st.fixed_dictionaries(
    {},
    optional={
        step.property: st.one_of(
            st.integers(min_value=-5, max_value=50),
            st.sampled_from(["3", " 12 ", "1e400", "many", "nan", ""]),
            values,
        )
        for step in CONFIG.intent.engagement
    },
)


def field_value(name: str) -> st.SearchStrategy[Any]:
    """A plausible value of the field (when there are examples of one) or anything at all."""
    if name == "properties":
        return st.one_of(engagement, values)
    plausible = PLAUSIBLE.get(name)
    return st.one_of(st.sampled_from(plausible), values) if plausible else values


payloads = st.fixed_dictionaries(
    {},
    optional={name: field_value(name) for name in PAYLOAD_FIELDS},
).flatmap(
    lambda known: st.dictionaries(st.text(max_size=20), values, max_size=4).map(
        lambda extra: {**extra, **known}
    )
)
similar_accounts = st.lists(
    st.fixed_dictionaries(
        {
            "id": st.text(min_size=1, max_size=12),
            "score": st.floats(min_value=-1, max_value=1),
            "name": st.one_of(st.none(), st.text(max_size=20)),
            "outcome": st.sampled_from([None, "won", "lost", "converted", "open"]),
        }
    ),
    max_size=6,
)
enrichments = st.fixed_dictionaries(
    {
        "employees": st.one_of(st.none(), st.integers(min_value=-10, max_value=10**7)),
        "industry": st.one_of(st.none(), st.sampled_from(["software", "logistics", "media"])),
        "confidence": st.floats(min_value=0, max_value=1),
        "known_account": st.booleans(),
        "similar_accounts": similar_accounts,
    }
)


def lead_state(payload: dict[str, Any], found: dict[str, Any], cfg: ScoringConfig) -> Any:
    """The state the score node sees: normalized lead, enrichment, classification."""
    lead, _ = normalize_lead(payload)
    company = {
        "name": lead.get("company"),
        "domain": lead.get("domain"),
        "country": lead.get("country"),
        "employees": found["employees"],
        "industry": found["industry"],
    }
    company = {k: v for k, v in company.items() if v is not None}
    provenance = {
        k: {"source": "test", "confidence": found["confidence"], "fetched_at": RECEIVED_AT}
        for k in company
    }
    enrichment = {
        "company": company,
        "provenance": provenance,
        "account_match": {"account_id": "ACC-1", "name": "Acme"}
        if found["known_account"]
        else None,
        "similar_accounts": found["similar_accounts"],
    }
    classification = classify_lead(lead, payload, company, provenance, cfg)
    return {
        "lead_id": "lead-1",
        "received_at": RECEIVED_AT,
        "raw": payload,
        "lead": lead,
        "enrichment": enrichment,
        "classification": classification,
    }


def expected_grade(total: float, cfg: ScoringConfig) -> str:
    bands = sorted(cfg.grades.items(), key=lambda kv: kv[1], reverse=True)
    return next((grade for grade, floor in bands if total >= floor), "D")


def assert_well_formed(score: Score, cfg: ScoringConfig) -> None:
    assert 0 <= score["total"] <= 100
    assert math.isclose(
        math.fsum(c["points"] for c in score["contributions"]), score["total"], abs_tol=1e-6
    )
    assert score["grade"] == expected_grade(score["total"], cfg)


@settings(max_examples=200, deadline=None)
@given(payload=payloads, found=enrichments)
def test_rule_score_is_bounded_additive_graded_and_repeatable(
    payload: dict[str, Any], found: dict[str, Any]
) -> None:
    """Any payload scores 0–100, with points summing to the total, the right grade, twice alike."""
    state = lead_state(payload, found, CONFIG)
    score = score_lead(state, CONFIG)
    assert_well_formed(score, CONFIG)
    assert score["method"] == "rules" and score["model_version"] == CONFIG.model_version
    assert score_lead(lead_state(payload, found, CONFIG), CONFIG) == score


@pytest.fixture(scope="module")
def model() -> LearnedModel:
    """A small learned model: conversion depends on "Minutes On Site", with a categorical column."""
    rng = random.Random(3)
    rows, labels = [], []
    for _ in range(120):
        minutes = rng.randint(0, 2000)
        rows.append(
            {
                "Minutes On Site": minutes,
                "Signup Channel": rng.choice(["Webinar", "Direct", "Referral"]),
                "Opted Out": rng.choice(["Yes", "No"]),
            }
        )
        labels.append(int(minutes + rng.gauss(0, 300) > 1000))
    return LearnedModel.fit(rows, labels, version="learned-test", trained_at=RECEIVED_AT)


learned_properties = st.fixed_dictionaries(
    {},
    optional={
        "Minutes On Site": st.one_of(
            st.integers(), st.floats(), st.sampled_from(["1,200", "1e400", "nan", " 42 ", ""])
        ),
        "Signup Channel": st.one_of(
            st.sampled_from(["Webinar", "webinar ", "Select", "Fax"]), values
        ),
        "Opted Out": st.one_of(st.sampled_from(["Yes", "no", "TRUE", True, False]), values),
    },
).flatmap(
    lambda known: st.dictionaries(st.text(max_size=20), values, max_size=3).map(
        lambda extra: {**extra, **known}
    )
)


@settings(max_examples=200, deadline=None)
@given(payload=payloads, properties=learned_properties, found=enrichments)
def test_learned_score_is_bounded_additive_graded_and_repeatable(
    model: LearnedModel, payload: dict[str, Any], properties: dict[str, Any], found: dict[str, Any]
) -> None:
    """Any lead properties score 0–100 with the learned model, points summing to the total."""
    state = lead_state({**payload, "properties": properties}, found, CONFIG)
    score = score_learned(state, CONFIG, model)
    assert_well_formed(score, CONFIG)
    assert score["method"] == "learned" and score["model_version"] == "learned-test"
    assert math.isclose(score["total"], 100 * model.predict_proba([properties])[0], abs_tol=1e-6)
    assert score["rules"] is not None and 0 <= score["rules"]["total"] <= 100
    assert (
        score_learned(
            lead_state({**payload, "properties": properties}, found, CONFIG), CONFIG, model
        )
        == score
    )
