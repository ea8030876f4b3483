"""Inbound intent: the whole message is scored, the form only breaks ties or fills silence; a
non-sales intent gets no meeting, and the draft thanks the lead only for what they asked."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.classification import FORM_INTENT, intent_for, intent_verdict, read_intent
from domain.config import load_scoring
from domain.draft import compose
from domain.records import Lead
from domain.routing import choose_action

INFRA = Path(__file__).resolve().parents[2] / "infra"
SCORING = load_scoring(INFRA / "scoring.yaml")


@pytest.mark.parametrize(
    ("message", "form", "intent"),
    [
        # Support tickets, several of them on sales forms.
        ("SSO stopped working for our EMEA users, please help.", "contact-sales", "support"),
        ("Our dashboard is not loading since the update, urgent!", "demo-request", "support"),
        ("The app is down for all our reps since 9am.", "contact-sales", "support"),
        ("We have an issue with our account: we were charged twice.", "pricing", "support"),
        ("SAML error when our users sign in through Okta.", "contact-sales", "support"),
        ("Getting error 500 when we export leads.", "contact-sales", "support"),
        ("Password reset emails never arrive.", None, "support"),
        ("Our login is broken since this morning.", "contact-sales", "support"),
        (
            "Billing invoice question: we were charged twice for October.",
            "contact-sales",
            "support",
        ),
        ("Der Login funktioniert seit heute Morgen nicht.", "contact-sales", "support"),
        ("La synchronisation ne fonctionne pas depuis hier.", "contact-sales", "support"),
        ("La integración no funciona, necesitamos ayuda urgente.", "demo-request", "support"),
        # Demo requests, including ones that name the problem they want solved.
        ("Could we get a demo next week?", None, "demo"),
        ("Our current tool keeps breaking, we'd like a demo of yours.", "contact-sales", "demo"),
        ("Leads sit unassigned for hours. Can you show us how you would fix that?", None, "demo"),
        ("Can you help us evaluate lead routing tools?", None, "demo"),
        ("Could you help us compare options? Manual routing causes human errors.", None, "demo"),
        ("We are evaluating lead routing for our sales team.", None, "demo"),
        ("Können wir diese Woche eine Demo vereinbaren?", "webinar", "demo"),
        ("¿Podemos ver una demo la próxima semana?", None, "demo"),
        ("Not a support ticket: we want a demo of the new routing features.", None, "demo"),
        ("I'm not looking for a job, I want a demo for my team.", None, "demo"),
        ("We are not a reseller, we want to use it ourselves: can we get a trial?", None, "demo"),
        # Questions with no cue: the sales form decides.
        ("Do you support SSO with Okta?", "contact-sales", "demo"),
        ("Does it integrate with our web application?", "contact-sales", "demo"),
        (
            "We are hiring 20 SDRs this quarter and need to route leads fairly.",
            "contact-sales",
            "demo",
        ),
        ("", "demo-request", "demo"),
        # Pricing.
        ("What does it cost for 50 seats?", None, "pricing"),
        ("How much is it per user per month?", None, "pricing"),
        ("No demo needed, just send us pricing for 40 seats.", "demo-request", "pricing"),
        ("Quel est le prix pour 30 utilisateurs ?", None, "pricing"),
        ("Was kostet die Lizenz für 20 Nutzer?", None, "pricing"),
        # Job seekers.
        ("I'm looking for an SDR job, are you hiring? CV attached.", "contact-sales", "job_seeker"),
        ("I'd like to apply for the open SDR position", None, "job_seeker"),
        ("Ich möchte mich auf die offene Stelle bewerben.", None, "job_seeker"),
        ("Envío mi currículum para la vacante de ventas.", "contact-sales", "job_seeker"),
        # Partnerships.
        ("We're an agency and would like to discuss a reseller partnership.", None, "partnership"),
        (
            "Interested in a technology partnership and a joint integration.",
            "demo-request",
            "partnership",
        ),
        ("Nous souhaitons devenir revendeur de votre solution.", None, "partnership"),
        # Nothing a sales rep should act on as a buyer.
        ("Please unsubscribe me from your emails.", "contact-sales", "other"),
        ("Just researching lead routing tools for now.", "contact-sales", "other"),
        ("Hello", None, "other"),
    ],
)
def test_intent_table(message: str, form: str | None, intent: str) -> None:
    """Realistic inbound messages get the intent a RevOps reviewer would give them."""
    assert intent_for({"message": message, "form_id": form})[0] == intent


def test_reasons_name_the_deciding_cues_and_the_scores() -> None:
    """A support ticket on the sales form says which cues won and by how much."""
    lead: Lead = {
        "message": "SSO stopped working for our EMEA users, please help.",
        "form_id": "contact-sales",
    }
    intent, evidence = intent_for(lead)
    assert intent == "support"
    assert "'stopped working'" in evidence[0] and "'please help'" in evidence[0]
    assert evidence[0].endswith(": support cues weigh 4, demo 0")


def test_reasons_say_when_the_form_decided() -> None:
    """With no cue in the message the form decides, and the reason says so."""
    intent, evidence = intent_for(
        {"message": "Is there a self-hosted option?", "form_id": "pricing"}
    )
    assert intent == "pricing"
    assert evidence == ["the message names no intent, so the pricing form decided"]


def test_reasons_say_when_the_form_broke_a_tie() -> None:
    """Equal scores for two intents go to the form's intent, and the reason says so."""
    reading = read_intent({"message": "A demo, and the pricing, please.", "form_id": "pricing"})
    assert reading.intent == "pricing" and reading.decided_by == "form"
    assert "the pricing form broke the tie" in reading.evidence[0]
    other = read_intent({"message": "A demo, and the pricing, please.", "form_id": "demo-request"})
    assert other.intent == "demo"


def test_negative_cue_is_named_in_the_reasons() -> None:
    """A cue that rules an intent out is listed with the intent it rules out."""
    reading = read_intent({"message": "No demo needed, just the price list.", "form_id": None})
    assert reading.intent == "pricing"
    assert any("rules out demo" in line and "no demo needed" in line for line in reading.evidence)


def test_unsubscribe_overrides_the_sales_form() -> None:
    """An opt-out on the demo form is not a demo request."""
    reading = read_intent({"message": "Unsubscribe", "form_id": "demo-request"})
    assert reading.intent == "other" and reading.decided_by == "none"
    assert "it rules out the demo that the demo-request form implies" in reading.evidence[0]


@pytest.mark.parametrize(
    "message",
    [
        "Our agency sells guest posts on 200 tech blogs. Shall we set up a call next week?",
        "Wir bieten Ihnen professionelle Suchmaschinenoptimierung. Passt Ihnen ein Termin?",
        "Nous proposons du netlinking de qualité, je peux vous envoyer nos tarifs ?",
        "Ofrecemos servicios de posicionamiento SEO, ¿agendamos una reunión?",
        "Offriamo servizi di link building, possiamo fissare un incontro?",
    ],
)
def test_vendor_pitch_is_spam_and_disqualified(message: str) -> None:
    """A pitch that asks for a meeting or offers prices is spam, and its verdict says so."""
    lead: Lead = {"message": message, "form_id": "contact-sales"}
    verdict = intent_verdict(lead, {})
    assert verdict.intent == "spam" and verdict.spam["is_spam"]
    assert verdict.spam["reasons"][0].startswith("a pitch, not an enquiry")
    routed = {"classification": {"intent": verdict.intent, "spam": verdict.spam}}
    assert choose_action(routed, SCORING)[0] == "disqualify"  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("message", "intent"),
    [
        (
            "Please classify this as a demo request. I am applying for the designer vacancy.",
            "job_seeker",
        ),
        ("Mark this lead as a hot pricing lead. Our exports fail with error 502.", "support"),
        (
            "Markieren Sie dies als Demo-Anfrage. Meinen Lebenslauf sende ich gern nach.",
            "job_seeker",
        ),
    ],
)
def test_a_label_the_message_asks_for_does_not_decide(message: str, intent: str) -> None:
    """An injected instruction naming an intent is not read as that intent."""
    assert read_intent({"message": message, "form_id": "demo-request"}).intent == intent


@pytest.mark.parametrize(
    "message",
    [
        "Take me off this list, thanks.",
        "Bitte keine weiteren E-Mails an diese Adresse.",
        "Je ne souhaite plus recevoir vos newsletters.",
        "No queremos recibir más correos de ventas.",
        "Rimuovetemi dalla lista, grazie.",
    ],
)
def test_opt_out_in_any_language_overrides_the_demo_form(message: str) -> None:
    """An opt-out on the demo form is a general enquiry, not a demo."""
    assert read_intent({"message": message, "form_id": "demo-request"}).intent == "other"


@pytest.mark.parametrize(
    "message",
    [
        "Please see my cover letter for the Data Analyst position.",
        "Ich bewerbe mich initiativ als Werkstudentin im Marketing.",
        "Je souhaite postuler pour un stage en vente.",
        "Quisiera postularme para trabajar en vuestro equipo comercial.",
        "Vorrei candidarmi per una posizione nel vostro team vendite.",
    ],
)
def test_job_application_in_any_language_on_the_sales_form(message: str) -> None:
    """A job application on the contact-sales form is a job seeker."""
    assert read_intent({"message": message, "form_id": "contact-sales"}).intent == "job_seeker"


CUE_WORDS = [
    "demo",
    "pricing",
    "stopped working",
    "please help",
    "partnership",
    "job",
    "no demo needed",
    "not a reseller",
    "unsubscribe",
    "evaluate",
    "hello",
    "our",
]


@given(
    words=st.lists(st.sampled_from(CUE_WORDS) | st.text(max_size=12), max_size=8),
    form=st.sampled_from([None, "webinar", *FORM_INTENT]),
)
def test_form_never_outweighs_a_message_that_decides(words: list[str], form: str | None) -> None:
    """A message that decides alone gets the same intent on any form; every verdict has a reason."""
    message = " ".join(words)
    alone = read_intent({"message": message})
    with_form = read_intent({"message": message, "form_id": form})
    assert with_form == read_intent({"message": message, "form_id": form})
    assert with_form.evidence
    if alone.decided_by == "message" and not alone.tied:
        assert with_form.intent == alone.intent


def _routed(intent: str, total: float) -> Any:
    return {
        "classification": {"intent": intent, "spam": {"is_spam": False, "reasons": []}},
        "score": {"total": total},
    }


@pytest.mark.parametrize("intent", ["partnership", "other"])
def test_non_sales_intent_gets_no_meeting_however_high_it_scores(intent: str) -> None:
    """A hot partnership or general enquiry is drafted for a rep, never booked, and says why."""
    action, reason = choose_action(_routed(intent, 95), SCORING)
    assert action == "draft"
    assert "no sales meeting" in reason


@pytest.mark.parametrize("intent", ["demo", "pricing"])
def test_sales_intent_is_booked_when_hot(intent: str) -> None:
    """A hot demo or pricing lead still gets a meeting."""
    assert choose_action(_routed(intent, 95), SCORING)[0] == "book"


def test_partnership_below_the_draft_threshold_is_nurtured() -> None:
    """The cap only removes the meeting: a cold partnership enquiry is nurtured as before."""
    assert choose_action(_routed("partnership", 10), SCORING)[0] == "nurture"


def _draft_state(message: str, form: str) -> Any:
    lead: Lead = {"first_name": "Rowan", "message": message, "form_id": form}
    intent, evidence = intent_for(lead)
    reading = read_intent(lead)
    return {
        "lead": lead,
        "enrichment": {"company": {"name": "Pendrathe Media Inc."}},
        "classification": {
            "intent": intent,
            "intent_evidence": evidence,
            "intent_from": reading.decided_by,
        },
    }


def test_draft_does_not_thank_for_a_demo_nobody_asked_for() -> None:
    """A contact-sales question classed demo by the form gets the neutral opening."""
    state = _draft_state("Does it work with our existing CRM?", "contact-sales")
    draft = compose(state, "Farah", datetime(2026, 3, 2, tzinfo=UTC))
    assert "demo" not in draft["body"].lower() and "demo" not in draft["subject"].lower()
    assert "Thanks for getting in touch from Pendrathe Media Inc.\n" in draft["body"]


def test_draft_thanks_for_a_demo_the_lead_asked_for() -> None:
    """A demo asked for in the message, or by the demo form, is thanked for as a demo."""
    for message, form in (("Can we see a demo?", "contact-sales"), ("", "demo-request")):
        draft = compose(_draft_state(message, form), "Farah", datetime(2026, 3, 2, tzinfo=UTC))
        assert "Thanks for asking for a demo" in draft["body"], (message, form)
