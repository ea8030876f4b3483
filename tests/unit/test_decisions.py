"""The deterministic decisions: rule conditions, persona, intent, spam, score, action, round-robin
skips and the draft's facts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from domain.classification import intent_for, persona_for, spam_for
from domain.config import Rule, load_routing, load_scoring
from domain.draft import compose
from domain.rep_message import lead_message
from domain.routing import choose_action
from domain.rules import evaluate, first_match
from domain.scoring import score_lead
from graph.nodes.route import assign_from_pool
from graph.state import LeadState
from tools.store_sqlite import SqliteStore

INFRA = Path(__file__).resolve().parents[2] / "infra"
SCORING = load_scoring(INFRA / "scoring.yaml")
ROUTING = load_routing(INFRA / "routing.yaml")


def _state(**parts: Any) -> LeadState:
    state: dict[str, Any] = {
        "lead_id": "L1",
        "received_at": "2026-03-02T10:00:00+00:00",
        "lead": {
            "email": "lena@northwind-freight.de",
            "first_name": "Lena",
            "title": "VP Sales",
            "domain": "northwind-freight.de",
            "message": "Can we see a demo? Our contract ends this quarter.",
            "form_id": "demo-request",
            "submitted_at": "2026-03-02T09:58:00+00:00",
        },
        "enrichment": {
            "company": {
                "name": "Northwind Freight GmbH",
                "employees": 2400,
                "industry": "logistics",
                "region": "EMEA",
            },
            "provenance": {"employees": {"confidence": 1.0}},
            "account_match": {"account_id": "ACC-1", "name": "Northwind"},
        },
        "classification": {
            "persona": {"seniority": "vp", "department": "sales"},
            "intent": "demo",
            "intent_evidence": ["message says 'demo'"],
            "spam": {"is_spam": False, "reasons": []},
        },
    }
    state.update(parts)
    return state  # type: ignore[return-value]


@pytest.mark.parametrize(
    ("cond", "value", "holds"),
    [
        ({"in": ["EMEA", "APAC"]}, "emea", True),
        ({"not_in": ["EMEA"]}, "NA", True),
        ({"gte": 1000}, 1000, True),
        ({"lt": 1000}, 1000, False),
        ({"regex": r"^vp\b"}, "VP Sales", True),
        ({"exists": True}, None, False),
        ("EMEA", "EMEA", True),
    ],
)
def test_rule_operators(cond: Any, value: Any, holds: bool) -> None:
    """Each condition operator holds exactly when it should."""
    rule = Rule.model_validate({"id": "r", "when": {"a.b": cond}, "assign": {"queue": "q"}})
    assert evaluate(rule, {"a": {"b": value}})[0] is holds


def test_missing_path_fails_a_condition_but_passes_not_in() -> None:
    """A path absent from the state does not match `in`, and does match `not_in`."""
    yes = Rule.model_validate(
        {"id": "a", "when": {"x.y": {"not_in": [1]}}, "assign": {"queue": "q"}}
    )
    no = Rule.model_validate({"id": "b", "when": {"x.y": {"in": [1]}}, "assign": {"queue": "q"}})
    assert evaluate(yes, {})[0] and not evaluate(no, {})[0]


def test_first_matching_rule_wins_and_trace_lists_the_tried_ones() -> None:
    """Rules are tried in order; the trace shows every rule up to the match."""
    rule, trace = first_match(ROUTING.rules, {**_state(), "routing": {"action": "book"}})
    assert rule and rule.id == "emea-enterprise"
    assert [t["rule"] for t in trace] == [
        "support-requests",
        "nurture-track",
        "partnerships",
        "emea-enterprise",
    ]


@pytest.mark.parametrize(
    ("title", "seniority", "department"),
    [
        ("Chief Revenue Officer", "c_level", "sales"),
        ("CEO & Co-Founder", "c_level", "executive"),
        ("SVP, Marketing", "vp", "marketing"),
        ("Head of Revenue Operations", "vp", "revops"),
        ("Geschäftsführer", "c_level", "executive"),
        ("Vertriebsleiter DACH", "director", "sales"),
        ("Directeur Commercial", "director", "sales"),
        ("Jefe de Ventas", "manager", "sales"),
        ("Direttore Vendite", "director", "sales"),
        ("Sales Development Rep", "ic", "sales"),
        ("Senior Software Engineer", "ic", "it"),
        ("", "unknown", "unknown"),
    ],
)
def test_persona_from_title(title: str, seniority: str, department: str) -> None:
    """Seniority and department come from common titles in several languages."""
    persona = persona_for(title)
    assert (persona["seniority"], persona["department"]) == (seniority, department)


@pytest.mark.parametrize(
    ("message", "form", "intent"),
    [
        ("Could we get a demo next week?", None, "demo"),
        ("What does it cost for 50 seats?", None, "pricing"),
        ("Our login is broken since this morning", None, "support"),
        ("We are an agency and want to become a reseller partner", None, "partnership"),
        ("I'd like to apply for the open SDR position", None, "job_seeker"),
        ("", "demo-request", "demo"),
        ("Hello", None, "other"),
    ],
)
def test_intent_from_message_or_form(message: str, form: str | None, intent: str) -> None:
    """Intent is read from the message first, then the form."""
    assert intent_for({"message": message, "form_id": form})[0] == intent


def test_spam_needs_strong_evidence() -> None:
    """A disposable domain is spam alone; a role address alone is not."""
    assert spam_for({"disposable": True, "domain": "mailinator.com"}, {})["is_spam"]
    role = spam_for({"role_address": True, "email": "info@acme.com"}, {})
    assert not role["is_spam"] and role["reasons"] == ["role address info@"]
    links = spam_for({"message": "SEO backlinks http://a.io http://b.io", "first_name": "Bob"}, {})
    assert links["is_spam"] and len(links["reasons"]) == 2


def test_honeypot_marks_a_bot() -> None:
    """A filled honeypot field is spam with that reason."""
    verdict = spam_for({}, {"properties": {"_hp": "x"}})
    assert verdict["is_spam"] and "honeypot" in verdict["reasons"][0]


def test_score_is_the_sum_of_its_reasons_and_deterministic() -> None:
    """Every point has a reason, the parts sum to the total, and a re-score is identical."""
    first = score_lead(_state(), SCORING)
    assert first["total"] == sum(c["points"] for c in first["contributions"])
    assert all(c["reason"] for c in first["contributions"])
    assert first == score_lead(_state(), SCORING)
    assert first["grade"] == "A" and first["total"] >= SCORING.actions.book_at


def test_score_is_clamped_with_a_visible_bounds_line() -> None:
    """Spam scores below zero are clamped to 0 by a bounds contribution."""
    state = _state(
        classification={
            "persona": {},
            "intent": "spam",
            "intent_evidence": [],
            "spam": {"is_spam": True, "reasons": ["x"]},
        },
        enrichment={"company": {}},
    )
    result = score_lead(state, SCORING)
    assert result["total"] == 0 and result["contributions"][-1]["component"] == "bounds"


def test_action_follows_spam_support_and_score() -> None:
    """Spam is disqualified, support goes to support, the rest by score thresholds."""
    spam = _state(classification={"spam": {"is_spam": True, "reasons": ["bot"]}})
    assert choose_action(spam, SCORING)[0] == "disqualify"
    support = _state(classification={"intent": "support", "spam": {"is_spam": False}})
    assert choose_action(support, SCORING)[0] == "support"
    for total, action in ((90, "book"), (50, "draft"), (10, "nurture")):
        assert choose_action(_state(score={"total": total}), SCORING)[0] == action


def test_a_learned_total_reads_with_one_decimal_in_the_action_reason() -> None:
    """A learned model's 8.27789 reads as 8.2, and 74.96 never as the threshold it misses."""
    _, why = choose_action(_state(score={"total": 8.27789}), SCORING)
    assert why.startswith("score 8.2 < ")
    below = SCORING.actions.book_at - 0.04
    _, why = choose_action(_state(score={"total": below}), SCORING)
    assert why.startswith(f"score {SCORING.actions.book_at - 0.1:g} ≥ ")


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    opened = await SqliteStore(tmp_path / "s.sqlite3", record_ttl_s=3600).open()
    yield opened
    await opened.close()


async def _picks(store: SqliteStore, day: datetime, count: int) -> list[dict[str, Any]]:
    team = ROUTING.team("emea-enterprise")
    return [await assign_from_pool(team, ROUTING, store, day, f"L{i}") for i in range(count)]


async def test_round_robin_skips_out_of_office_reps_with_reason(store: SqliteStore) -> None:
    """On Ana's out-of-office day every lead goes to Ben and the skip says why."""
    picks = await _picks(store, datetime(2026, 12, 28, 10, tzinfo=UTC), 3)
    assert [p["rep"] for p in picks] == ["ben", "ben", "ben"]
    assert picks[0]["skipped"] == [{"rep": "ana", "reason": "out of office on 2026-12-28"}]


async def test_round_robin_follows_weights(store: SqliteStore) -> None:
    """Ana (weight 2) gets two of every three leads when both are available."""
    picks = await _picks(store, datetime(2026, 3, 2, 10, tzinfo=UTC), 9)
    reps = [p["rep"] for p in picks]
    assert reps.count("ana") == 6 and reps.count("ben") == 3
    assert [p["round_robin"]["sequence"] for p in picks] == list(range(1, 10))


def test_draft_states_only_known_facts() -> None:
    """The draft names the company and booking it was given and leaves no placeholder."""
    booking = {
        "status": "confirmed",
        "start": "2026-03-03T09:00:00+00:00",
        "rep_local_start": "2026-03-03T10:00:00+01:00",
        "timezone": "Europe/Berlin",
        "link": "https://leads.example.com/bookings/b1",
    }
    draft = compose(_state(booking=booking), "Ben", datetime(2026, 3, 2, tzinfo=UTC))
    assert draft["checks_passed"], draft["checks"]
    assert "Northwind Freight GmbH" in draft["subject"]
    assert "\nhttps://leads.example.com/bookings/b1\n" in draft["body"]
    assert "Tuesday 3 March at 10:00 Berlin time (09:00 UTC)" in draft["body"]
    assert set(draft["facts_used"]) <= {
        "first_name",
        "company",
        "industry",
        "title",
        "intent",
        "meeting",
    }


def test_draft_without_company_does_not_invent_one() -> None:
    """A lead with no company gets a draft that names none."""
    state = _state(enrichment={"company": {}}, lead={"first_name": "Sam"})
    draft = compose(state, "Ben", datetime(2026, 3, 2, tzinfo=UTC))
    assert draft["checks_passed"], draft["checks"]
    assert draft["body"].splitlines()[2] == "Thanks for asking for a demo."
    assert "company" not in draft["facts_used"] and draft["subject"] == "Your demo request"


def test_engagement_properties_add_intent_points() -> None:
    """Pricing-page views in the lead's properties add the configured intent points once."""
    base = _state()
    engaged = _state()
    engaged["lead"] = {**base["lead"], "properties": {"pricing_page_views": "3", "page_views": 2}}
    added = [
        c
        for c in score_lead(engaged, SCORING)["contributions"]
        if c["feature"].startswith("engagement:")
    ]
    assert [(c["feature"], c["points"]) for c in added] == [("engagement:pricing_page_views", 6)]
    assert "(3)" in added[0]["reason"]


def test_rep_without_slack_id_is_told_in_the_team_channel() -> None:
    """An owner with a Slack id gets a DM; one without gets the team's channel."""
    state = _state(
        routing={"action": "draft", "owner": "farah", "team": "inside-sales"},
        score={"total": 60, "grade": "B", "contributions": []},
    )
    message = lead_message(state, ROUTING)
    assert message and message["channel"] == "#inside-sales" and message["recipient"] == "farah"
    state["routing"] = {"action": "draft", "owner": "ana", "team": "emea-enterprise"}
    message = lead_message(state, ROUTING)
    assert message and message["channel"] == "U012ANA"
