"""The rules' reading of replies in five languages (`domain.replies`), and the dates they give."""

from __future__ import annotations

from datetime import date

import pytest

from domain.replies import ReplyAnswer, checked_answer, decide, own_words, read_reply

TODAY = date(2026, 12, 1)
SENDER = "Maria Keller <maria.keller@example-emea.test>"

# (reply text, kind, the date read from it or None)
REPLIES: list[tuple[str, str, str | None]] = [
    # interested / meeting request
    ("Sounds interesting, tell me more about how the routing works.", "interested", None),
    ("Klingt spannend! Ich bin interessiert, gerne mehr Infos.", "interested", None),
    ("Ça m'intéresse, avec plaisir pour en savoir plus.", "interested", None),
    ("Me interesa, suena bien. Con gusto.", "interested", None),
    ("Mi interessa, volentieri!", "interested", None),
    ("Can we schedule a call next Tuesday? Send me a calendar invite.", "meeting_request", None),
    ("Gerne, lassen Sie uns telefonieren – Termin vereinbaren?", "meeting_request", None),
    ("On peut fixer un rendez-vous la semaine prochaine.", "meeting_request", None),
    ("Podemos agendar una llamada el jueves, hablemos.", "meeting_request", None),
    ("Possiamo fissare una call giovedì? Sentirci sarebbe utile.", "meeting_request", None),
    # question
    ("How much does it cost for 50 reps? Does it work with Salesforce?", "question", None),
    ("Was kostet das für 20 Nutzer? Gibt es eine HubSpot-Integration?", "question", None),
    (
        "Combien ça coûte pour 30 commerciaux ? Est-ce que ça marche avec Pipedrive ?",
        "question",
        None,
    ),
    ("¿Cuánto cuesta? ¿Cómo funciona con HubSpot?", "question", None),
    ("Quanto costa la licenza? Come funziona con Salesforce?", "question", None),
    # not now, with and without a date
    ("Not right now, ping me in March.", "not_now", "2027-03-01"),
    ("Not a priority at the moment - circle back after Q2.", "not_now", "2027-07-01"),
    ("Derzeit nicht, melden Sie sich nach Ostern wieder.", "not_now", "2027-03-30"),
    ("Pas pour le moment, recontactez-moi l'année prochaine.", "not_now", "2027-01-01"),
    ("Ahora no, vuelva a contactarme en dos semanas.", "not_now", "2026-12-15"),
    ("Non adesso, ricontattami a marzo.", "not_now", "2027-03-01"),
    ("Not interested at this time, maybe later once our budget is set.", "not_now", None),
    # unsubscribe
    ("Please remove me from your list and stop emailing me.", "unsubscribe", None),
    ("Bitte keine weiteren E-Mails, ich möchte mich abmelden.", "unsubscribe", None),
    ("Merci de ne plus me contacter, désabonnez-moi.", "unsubscribe", None),
    ("Por favor, darme de baja, no me escriban más.", "unsubscribe", None),
    ("Cancellami dalla lista, non contattatemi più.", "unsubscribe", None),
    # out of office, with the return date
    (
        "I am out of the office and back on 12 January with limited access to email.",
        "out_of_office",
        "2027-01-12",
    ),
    (
        "Ich bin im Urlaub und ab dem 12.01. wieder im Büro. Automatische Antwort.",
        "out_of_office",
        "2027-01-12",
    ),
    (
        "Réponse automatique : je suis absente du bureau, de retour le 12/01.",
        "out_of_office",
        "2027-01-12",
    ),
    ("Estoy fuera de la oficina, de vuelta el 12 de enero.", "out_of_office", "2027-01-12"),
    ("Sono in ferie, rientro il 12 gennaio. Risposta automatica.", "out_of_office", "2027-01-12"),
    (
        "Auto-reply: I'm away until January 5th. For urgent matters please contact "
        "desk@example-emea.test.",
        "out_of_office",
        "2027-01-06",
    ),
    # wrong person
    (
        "I'm not the right person for this, please contact jonas.weber@example-emea.test.",
        "wrong_person",
        None,
    ),
    (
        "Ich bin nicht der richtige Ansprechpartner, wenden Sie sich an eva@example-emea.test.",
        "wrong_person",
        None,
    ),
    (
        "Je ne suis pas la bonne personne, adressez-vous à luc@example-emea.test.",
        "wrong_person",
        None,
    ),
    (
        "No soy la persona adecuada; la persona indicada es ana@example-emea.test.",
        "wrong_person",
        None,
    ),
    ("Non sono la persona giusta, rivolgetevi a paolo@example-emea.test.", "wrong_person", None),
    # spam and auto-generated junk
    ("Delivery Status Notification (Failure): address not found.", "spam", None),
    ("We are a leading agency offering SEO services and guest post backlinks.", "spam", None),
]


@pytest.mark.parametrize(("text", "kind", "day"), REPLIES, ids=[r[0][:40] for r in REPLIES])
def test_the_rules_read_each_kind_and_its_date(text: str, kind: str, day: str | None) -> None:
    """Each realistic reply is read as its kind, confidently, with its date."""
    reading, verdict = read_reply(text, None, SENDER, TODAY)
    assert (reading["kind"], reading["confident"]) == (kind, True), reading["scores"]
    assert verdict["date"] == day
    assert all(quote in text or quote == "?" for quote in reading["evidence"])


def test_negative_cues_turn_interest_around() -> None:
    """ "Not interested" is no interest: the reply is not read as interested."""
    reading, _ = read_reply("Thanks, but we are not interested.", None, SENDER, TODAY)
    assert reading["kind"] == "not_now" and reading["scores"]["interested"] < 0


def test_an_unsubscribe_link_in_a_footer_is_no_opt_out() -> None:
    """A marketing footer's unsubscribe link counts as junk, not as the lead opting out."""
    text = "Big sale on SEO services! Click here to unsubscribe."
    reading, _ = read_reply(text, None, SENDER, TODAY)
    assert reading["kind"] == "spam"


def test_a_not_now_without_a_date_keeps_its_words() -> None:
    """When no date can be read, the words that say when are kept instead."""
    reading, verdict = read_reply(
        "Not right now. Let's talk again after our reorganisation settles.", None, SENDER, TODAY
    )
    assert reading["kind"] == "not_now" and verdict["date"] is None
    assert verdict["date_text"] == "Let's talk again after our reorganisation settles"


def test_the_referred_address_is_read_and_the_senders_is_not() -> None:
    _, verdict = read_reply(
        "Wrong person - I have left the company. Try jonas.weber@example-emea.test instead.",
        None,
        "maria.keller@example-emea.test",
        TODAY,
    )
    assert verdict["referred_email"] == "jonas.weber@example-emea.test"


def test_the_quoted_mail_below_the_reply_is_not_read() -> None:
    """The rep's earlier mail quoted below the reply does not count as the lead's words."""
    text = (
        "Please remove me from your list.\n\nOn Tue, 1 Dec 2026, Ana wrote:\n"
        "> Are you interested in a demo? Let's schedule a call."
    )
    assert own_words(text) == "Please remove me from your list."
    assert read_reply(text, None, SENDER, TODAY)[0]["kind"] == "unsubscribe"


def test_an_ambiguous_reply_leaves_the_rules_unsure() -> None:
    reading, _ = read_reply("Thanks for reaching out. Let me think about it.", None, SENDER, TODAY)
    assert reading["confident"] is False


def test_the_model_decides_when_the_rules_are_unsure_and_its_quotes_are_checked() -> None:
    text = "Thanks for reaching out. Let me think about it - loop in my colleague in spring."
    rules, rules_verdict = read_reply(text, None, SENDER, TODAY)
    answer = ReplyAnswer(
        kind="not_now",
        evidence=["Let me think about it", "we will buy next year"],
        date="2027-04-01",
        referred_email=None,
    )
    model = checked_answer(answer, text, TODAY)
    verdict = decide(rules, rules_verdict, model, text, TODAY)
    assert (verdict["kind"], verdict["decided_by"]) == ("not_now", "model")
    assert model["evidence"] == ["Let me think about it"] and model["dropped_quotes"] == 1
    assert verdict["date"] == "2027-04-01"
    assert verdict["rules"]["kind"] == rules["kind"] and verdict["model"] == model


def test_confident_rules_decide_even_when_the_model_disagrees() -> None:
    text = "Please remove me from your list."
    rules, rules_verdict = read_reply(text, None, SENDER, TODAY)
    answer = ReplyAnswer(kind="interested", evidence=["your list"], date=None, referred_email=None)
    verdict = decide(rules, rules_verdict, checked_answer(answer, text, TODAY), text, TODAY)
    assert (verdict["kind"], verdict["decided_by"]) == ("unsubscribe", "rules")
    assert verdict["model"]["kind"] == "interested"


def test_a_model_that_quotes_nothing_from_the_reply_is_not_followed() -> None:
    text = "Thanks for reaching out. Let me think about it."
    rules, rules_verdict = read_reply(text, None, SENDER, TODAY)
    answer = ReplyAnswer(
        kind="meeting_request", evidence=["book a demo"], date=None, referred_email=None
    )
    verdict = decide(rules, rules_verdict, checked_answer(answer, text, TODAY), text, TODAY)
    assert verdict["decided_by"] == "rules" and "quoted nothing" in verdict["why"]
