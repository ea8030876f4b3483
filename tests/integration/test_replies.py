"""`POST /webhooks/reply` against a live server on embedded defaults: the door's answers, and
one reply of each kind applied through the queue to the lead's record."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.wiring import Services
from tests.fakes.openai_server import API_KEY, MODEL, ApiError, FakeOpenAI, running_openai
from tests.helpers import (
    lead_payload,
    lead_state,
    live_server,
    make_settings,
    submit,
    wait_for,
    wait_status,
)
from tests.integration.test_sla import MONDAY, fire_due, messages, routing_of, services
from tests.integration.test_sla import routed_lead as sla_routed_lead

__all__ = ["services"]  # the fixture of test_sla the service-level tests use


@pytest.fixture
def client(tmp_path: Path) -> Iterator[httpx.Client]:
    with live_server(make_settings(tmp_path)) as url, httpx.Client(base_url=url, timeout=10) as c:
        yield c


def routed_lead(client: httpx.Client, **fields: Any) -> dict[str, Any]:
    """A lead submitted and completed (routed, waiting for its rep)."""
    payload = lead_payload(**fields)
    lead_id = client.post("/webhooks/lead", json=payload).json()["lead_id"]
    record = wait_status(client, lead_id, {"completed", "failed"})
    assert record["status"] == "completed"
    return record


def reply(lead_id: str | None, text: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "message_id": f"<{uuid.uuid4().hex}@mail.northwind-freight.de>",
        "from": "Lena Brandt <lena@northwind-freight.de>",
        "subject": "Re: Your demo request",
        "text": text,
        **extra,
    }
    if lead_id:
        body["lead_id"] = lead_id
    return body


def applied(client: httpx.Client, lead_id: str, message_id: str) -> dict[str, Any]:
    """Wait until the reply is in the lead's record; return that entry."""

    def check() -> dict[str, Any] | None:
        state = client.get(f"/admin/leads/{lead_id}").json()["state"]
        found = [r for r in state.get("replies") or [] if r["message_id"] == message_id]
        return found[0] if found else None

    return dict(wait_for(check, timeout=30))


def test_a_signature_is_required_when_webhook_secret_is_set(tmp_path: Path) -> None:
    """Unsigned: 401. Signed like the lead webhook: taken (here 404, the lead is unknown)."""
    settings = make_settings(tmp_path, WEBHOOK_SECRET="s3cret")
    with live_server(settings) as url, httpx.Client(base_url=url, timeout=10) as c:
        body = json.dumps(reply(str(uuid.uuid4()), "Sounds good")).encode()
        headers = {"Content-Type": "application/json"}
        assert c.post("/webhooks/reply", content=body, headers=headers).status_code == 401
        ts = str(int(time.time()))
        sig = hmac.new(b"s3cret", f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
        signed = {**headers, "X-Timestamp": ts, "X-Signature": f"sha256={sig}"}
        assert c.post("/webhooks/reply", content=body, headers=signed).status_code == 404


def test_invalid_fields_are_all_listed(client: httpx.Client) -> None:
    resp = client.post("/webhooks/reply", json={"from": "x", "text": "", "subject": 5})
    assert resp.status_code == 422
    assert {e["field"] for e in resp.json()["errors"]} == {"message_id", "from", "text", "subject"}


def test_a_reply_that_names_no_lead_is_422_naming_the_fields(client: httpx.Client) -> None:
    resp = client.post("/webhooks/reply", json=reply(None, "Hi", email="lena@northwind-freight.de"))
    assert resp.status_code == 422
    assert {e["field"] for e in resp.json()["errors"]} == {"lead_id", "thread_id"}


def test_an_unknown_lead_is_404(client: httpx.Client) -> None:
    resp = client.post("/webhooks/reply", json=reply(str(uuid.uuid4()), "Sounds good"))
    assert resp.status_code == 404
    assert resp.headers["content-type"].startswith("application/problem+json")


def test_a_redelivered_message_is_a_duplicate_and_changes_nothing(client: httpx.Client) -> None:
    lead_id = routed_lead(client)["lead_id"]
    body = reply(lead_id, "Sounds interesting, tell me more.")
    first = client.post("/webhooks/reply", json=body)
    assert first.status_code == 202 and first.json()["status"] == "queued"
    applied(client, lead_id, body["message_id"])

    again = client.post("/webhooks/reply", json=body)
    assert again.status_code == 200
    assert again.json() == {
        "lead_id": lead_id,
        "message_id": body["message_id"],
        "status": "duplicate",
        "duplicate": True,
    }
    state = client.get(f"/admin/leads/{lead_id}").json()["state"]
    assert len(state["replies"]) == 1


def test_every_kind_is_applied_through_the_queue(client: httpx.Client) -> None:
    """One lead, one reply of each kind in turn: each is a step in the lead's history, with the
    action and reason in its record; the referral becomes a routed lead of its own."""
    record = routed_lead(
        client, message="We are looking at lead routing tools.", form_id="contact-us"
    )
    assert "booking" not in record["state"], record["state"]["routing"]["action"]
    lead_id = record["lead_id"]
    email = record["state"]["lead"]["email"]
    expected = [
        ("Sounds interesting, tell me more.", "interested", "booked"),
        ("How much does it cost for 20 reps?", "question", "drafted"),
        ("Derzeit nicht, melden Sie sich nach Ostern wieder.", "not_now", "nurtured"),
        ("Ich bin im Urlaub, ab dem 12.01. wieder im Büro.", "out_of_office", "sla_moved"),
        (
            "Ich bin nicht der richtige Ansprechpartner, bitte wenden Sie sich an "
            "jonas.weber@northwind-freight.de.",
            "wrong_person",
            "referred",
        ),
        ("Delivery Status Notification (Failure): address not found.", "spam", "ignored"),
        ("Bitte keine weiteren E-Mails, ich möchte mich abmelden.", "unsubscribe", "opted_out"),
    ]
    thread = f"thread-{uuid.uuid4().hex[:8]}"
    for n, (text, kind, action) in enumerate(expected):
        # The first reply names the lead and its thread; later ones only the email and thread.
        body = reply(lead_id if n == 0 else None, text, thread_id=thread, email=email)
        resp = client.post("/webhooks/reply", json=body)
        assert resp.status_code == 202 and resp.json()["lead_id"] == lead_id
        entry = applied(client, lead_id, body["message_id"])
        assert (entry["kind"], entry["action"]) == (kind, action), entry
        assert entry["reason"] and entry["at"]

    lead = client.get(f"/admin/leads/{lead_id}").json()
    nodes = [step["node"] for step in lead["history"]]
    assert nodes.count("classify_reply") == len(expected)
    for step in ("reply_book", "reply_answer", "reply_nurture", "reschedule", "refer", "opt_out"):
        assert step in nodes
    assert lead["state"]["opted_out"]["message_id"]
    referral = lead["state"]["replies"][4]["referral_lead_id"]
    new = wait_status(client, referral, {"completed", "failed"})
    assert new["state"]["lead"]["email"] == "jonas.weber@northwind-freight.de"
    assert new["state"]["lead"]["properties"]["referred_by_lead_id"] == lead_id
    routing = new["state"]["routing"]
    assert routing["rule"] and (routing["owner"] or routing["queue"])
    assert new["state"]["raw"]["source"] == "referral"


def test_a_reply_to_an_accepted_lead_is_applied_to_its_ended_thread(client: httpx.Client) -> None:
    lead_id = routed_lead(client)["lead_id"]
    owner = client.get(f"/admin/leads/{lead_id}").json()["state"]["routing"]["owner"]
    resp = client.post(f"/admin/leads/{lead_id}/actions", json={"action": "accept", "actor": owner})
    assert resp.status_code == 200
    body = reply(lead_id, "Please remove me from your list.")
    assert client.post("/webhooks/reply", json=body).status_code == 202
    entry = applied(client, lead_id, body["message_id"])
    assert (entry["kind"], entry["action"], entry["waiting"]) == ("unsubscribe", "opted_out", False)
    assert client.get(f"/admin/leads/{lead_id}").json()["next"] == []


def _answers(reply_answer: Any) -> Any:
    """A responder: valid answers for the lead's assist calls, `reply_answer` for a reply."""

    def respond(body: dict[str, Any]) -> Any:
        schema = json.dumps(body.get("response_format") or body.get("tools"))
        if "ReplyAnswer" in schema:
            return reply_answer
        if "DraftAnswer" in schema:
            return {"language": "en", "subject": "Demo", "body": "Hi Lena,\n\nBest"}
        return {
            "intent": "demo",
            "is_spam": False,
            "spam_reason": None,
            "signals": [],
            "injection": False,
            "injection_quote": None,
            "score_adjustment": 0,
            "adjustment_reason": "",
        }

    return respond


@pytest.fixture
def model_server() -> Iterator[tuple[str, FakeOpenAI]]:
    with running_openai() as served:
        yield served


def model_client(tmp_path: Path, base_url: str) -> Any:
    settings = make_settings(
        tmp_path, LLM_MODEL=MODEL, OPENAI_API_KEY=API_KEY, OPENAI_BASE_URL=base_url
    )
    return live_server(settings)


def test_the_model_reads_a_reply_the_rules_find_ambiguous(
    tmp_path: Path, model_server: tuple[str, FakeOpenAI]
) -> None:
    base_url, fake = model_server
    fake.responder = _answers(
        {
            "kind": "meeting_request",
            "evidence": ["Thursday afternoon could work"],
            "date": None,
            "referred_email": None,
        }
    )
    with model_client(tmp_path, base_url) as url, httpx.Client(base_url=url, timeout=10) as c:
        lead_id = routed_lead(
            c, message="We are looking at lead routing tools.", form_id="contact-us"
        )["lead_id"]
        body = reply(lead_id, "Thanks. Thursday afternoon could work for us.")
        assert c.post("/webhooks/reply", json=body).status_code == 202
        entry = applied(c, lead_id, body["message_id"])

    verdict = entry["verdict"]
    assert (entry["kind"], entry["action"]) == ("meeting_request", "booked")
    assert verdict["decided_by"] == "model" and verdict["rules"]["confident"] is False
    assert verdict["model"]["evidence"] == ["Thursday afternoon could work"]
    assert verdict["calls"][0]["outcome"] == "ok"
    assert verdict["calls"][0]["prompt"].startswith("classify_reply@")


def test_when_the_model_fails_the_rules_decide(
    tmp_path: Path, model_server: tuple[str, FakeOpenAI]
) -> None:
    base_url, fake = model_server
    fake.responder = _answers(ApiError(400, message="bad request"))
    with model_client(tmp_path, base_url) as url, httpx.Client(base_url=url, timeout=10) as c:
        lead_id = routed_lead(c)["lead_id"]
        body = reply(lead_id, "Bitte keine weiteren E-Mails, ich möchte mich abmelden.")
        assert c.post("/webhooks/reply", json=body).status_code == 202
        entry = applied(c, lead_id, body["message_id"])

    verdict = entry["verdict"]
    assert (entry["kind"], verdict["decided_by"]) == ("unsubscribe", "rules")
    assert "model" not in verdict and verdict["calls"][0]["outcome"] == "error"


def reply_payload(text: str) -> dict[str, Any]:
    """A reply as the queue carries it."""
    return {
        "message_id": f"<{uuid.uuid4().hex}@mail.northwind-freight.de>",
        "sender": "lena@northwind-freight.de",
        "subject": None,
        "text": text,
        "received_at": MONDAY.isoformat(),
    }


async def test_an_opted_out_lead_gets_no_sla_reassignment(services: Services) -> None:
    """After an unsubscribe the SLA timer fires and changes nothing: no new rep, no message."""
    lead_id = await sla_routed_lead(services)
    result = await services.apply_reply(lead_id, reply_payload("Please unsubscribe me."))
    assert result["action"] == "opted_out"

    assert await fire_due(services, MONDAY + timedelta(minutes=16)) == 1

    assert (await routing_of(services, lead_id))["hops"] == 0
    assert set(await messages(services, lead_id)) == {"rep"}


async def test_out_of_office_moves_the_sla_reassignment_to_the_return(services: Services) -> None:
    """The first SLA check finds its deadline moved and does nothing; the one at the return
    date reassigns."""
    lead_id = await sla_routed_lead(services)
    result = await services.apply_reply(
        lead_id, reply_payload("Out of office, back on Wednesday 4 March.")
    )
    assert result["action"] == "sla_moved"
    deadline = datetime.fromisoformat((await routing_of(services, lead_id))["sla_deadline"])
    assert deadline.date().isoformat() == "2026-03-04"

    assert await fire_due(services, MONDAY + timedelta(minutes=16)) == 1
    assert (await routing_of(services, lead_id))["hops"] == 0

    assert await fire_due(services, deadline + timedelta(minutes=1)) == 1
    assert (await routing_of(services, lead_id))["hops"] == 1


async def test_a_reply_before_the_lead_ran_waits_for_it_and_is_then_applied(
    services: Services,
) -> None:
    lead_id = await submit(services, lead_payload())
    given = reply_payload("Please unsubscribe me.")
    assert (await services.apply_reply(lead_id, given))["result"] == "deferred"

    assert await services.runner.process(lead_id) == "completed"
    assert await fire_due(services, MONDAY + timedelta(minutes=5)) == 1

    state = await lead_state(services, lead_id)
    assert [r["message_id"] for r in state["replies"]] == [given["message_id"]]
    assert state["opted_out"]
