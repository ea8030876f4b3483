"""The HTTP API contract (DESIGN §5) against a live server on embedded defaults."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers import lead_payload, live_server, make_settings, wait_status


@pytest.fixture
def client(tmp_path: Path) -> Iterator[httpx.Client]:
    with live_server(make_settings(tmp_path)) as url, httpx.Client(base_url=url, timeout=10) as c:
        yield c


def test_new_lead_is_accepted_and_completes(client: httpx.Client) -> None:
    """A valid lead gets 202 queued with a lead id, and completes routed to a rep."""
    resp = client.post("/webhooks/lead", json=lead_payload())
    assert resp.status_code == 202
    body = resp.json()
    assert body["status"] == "queued" and body["duplicate"] is False
    record = wait_status(client, body["lead_id"], {"completed", "failed"})
    assert record["status"] == "completed"
    assert record["state"]["routing"]["owner"] in {"ana", "ben"}


def test_repeat_delivery_returns_200_with_the_same_lead(client: httpx.Client) -> None:
    """The same payload again is a duplicate: 200, same lead id, its current status."""
    payload = lead_payload()
    first = client.post("/webhooks/lead", json=payload).json()
    again = client.post("/webhooks/lead", json=payload)
    assert again.status_code == 200
    assert again.json()["lead_id"] == first["lead_id"]
    assert again.json()["duplicate"] is True


def test_idempotency_key_header_wins_over_event_id(client: httpx.Client) -> None:
    """Two payloads with one Idempotency-Key but different bodies: the second is 422."""
    headers = {"Idempotency-Key": "form-42-attempt-1"}
    assert client.post("/webhooks/lead", json=lead_payload(), headers=headers).status_code == 202
    resp = client.post("/webhooks/lead", json=lead_payload(), headers=headers)
    assert resp.status_code == 422
    assert "different payload" in resp.json()["detail"]


def test_without_any_key_the_same_person_form_and_day_is_one_lead(client: httpx.Client) -> None:
    """No header or event id: email + form + day is the key, so a double submit is absorbed."""
    payload = lead_payload()
    del payload["event_id"]
    first = client.post("/webhooks/lead", json=payload)
    second = client.post("/webhooks/lead", json={**payload, "email": payload["email"].upper()})
    assert first.status_code == 202 and second.status_code == 200
    assert second.json()["lead_id"] == first.json()["lead_id"]


def test_a_new_message_from_the_same_person_is_a_repeat_for_the_same_owner(
    client: httpx.Client,
) -> None:
    """No key: a second enquiry on the same form and day is a new lead, not a duplicate; it is
    marked as a repeat of the first and goes to the first one's owner."""
    payload = lead_payload(message="We would like a demo for our sales team.")
    del payload["event_id"]
    first = client.post("/webhooks/lead", json=payload)
    assert first.status_code == 202
    first_record = wait_status(client, first.json()["lead_id"], {"completed", "failed"})
    second = client.post(
        "/webhooks/lead", json={**payload, "message": "Also: does it work with HubSpot?"}
    )
    assert second.status_code == 202 and second.json()["duplicate"] is False
    assert second.json()["lead_id"] != first.json()["lead_id"]
    record = wait_status(client, second.json()["lead_id"], {"completed", "failed"})
    state = record["state"]
    assert state["lead"]["message"] == "Also: does it work with HubSpot?"
    assert state["capture"]["duplicate_of"] == first.json()["lead_id"]
    assert state["routing"]["method"] == "repeat"
    assert state["routing"]["owner"] == first_record["state"]["routing"]["owner"]


def test_invalid_fields_are_all_listed(client: httpx.Client) -> None:
    """A body with several bad fields gets 422 naming each of them."""
    resp = client.post("/webhooks/lead", json={"email": "nope", "utm": "x", "title": 5})
    assert resp.status_code == 422
    fields = {e["field"] for e in resp.json()["errors"]}
    assert fields == {"email", "utm", "title"}


def test_missing_email_is_named(client: httpx.Client) -> None:
    """A body without email gets 422 with the field named."""
    resp = client.post("/webhooks/lead", json={"first_name": "Ana"})
    assert resp.status_code == 422
    assert resp.json()["errors"] == [{"field": "email", "problem": "Field required"}]


def test_non_json_content_type_is_415(client: httpx.Client) -> None:
    """A form-encoded body is refused with 415 naming the content type."""
    resp = client.post("/webhooks/lead", data={"email": "a@b.co"})
    assert resp.status_code == 415
    assert "application/x-www-form-urlencoded" in resp.json()["detail"]


def test_malformed_json_is_422(client: httpx.Client) -> None:
    """A body that is not valid JSON gets 422 saying so."""
    resp = client.post(
        "/webhooks/lead", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert resp.status_code == 422
    assert resp.json()["detail"] == "body is not valid JSON"


def test_oversized_body_is_413(client: httpx.Client) -> None:
    """A body over MAX_BODY_BYTES gets 413 with the limit."""
    resp = client.post("/webhooks/lead", json=lead_payload(message="x" * 70_000))
    assert resp.status_code == 413
    assert "65536" in resp.json()["detail"]


def test_unknown_fields_are_kept_in_raw(client: httpx.Client) -> None:
    """Top-level fields the contract does not name survive in the state's raw payload."""
    lead_id = client.post("/webhooks/lead", json=lead_payload(hs_form_guid="abc")).json()["lead_id"]
    record = wait_status(client, lead_id, {"completed"})
    assert record["state"]["raw"]["hs_form_guid"] == "abc"


def test_admin_record_has_history_and_timings(client: httpx.Client) -> None:
    """The decision record lists each node that ran, in order, with its time."""
    lead_id = client.post("/webhooks/lead", json=lead_payload()).json()["lead_id"]
    record = wait_status(client, lead_id, {"completed"})
    nodes = [step["node"] for step in record["history"]]
    assert nodes[:5] == ["capture", "enrich", "classify", "score", "route"]
    assert nodes[-1] == "notify"
    assert all(record["timings"][n]["ms"] >= 0 for n in nodes)
    assert record["deliveries"]["rep.message"]["id"]


def test_admin_list_filters_by_status_and_owner(client: httpx.Client) -> None:
    """GET /admin/leads filters by status, owner and action, newest first."""
    ids = [client.post("/webhooks/lead", json=lead_payload()).json()["lead_id"] for _ in range(3)]
    for lead_id in ids:
        wait_status(client, lead_id, {"completed"})
    listed = client.get("/admin/leads", params={"status": "completed"}).json()["leads"]
    assert [lead["lead_id"] for lead in listed] == ids[::-1]
    owner = listed[0]["owner"]
    by_owner = client.get("/admin/leads", params={"owner": owner}).json()["leads"]
    assert by_owner and all(lead["owner"] == owner for lead in by_owner)
    assert client.get("/admin/leads", params={"action": "no-such"}).json()["leads"] == []


def test_a_queue_lead_is_listed_with_its_queue_and_no_owner(client: httpx.Client) -> None:
    """A support ticket is listed with `queue` set and `owner` null; the owner filter takes
    reps only, the queue filter queues."""
    ticket = lead_payload(message="We cannot log in since this morning, please help.")
    lead_id = client.post("/webhooks/lead", json=ticket).json()["lead_id"]
    wait_status(client, lead_id, {"completed"})

    [listed] = client.get("/admin/leads", params={"queue": "support"}).json()["leads"]

    assert (listed["lead_id"], listed["owner"], listed["queue"]) == (lead_id, None, "support")
    assert client.get("/admin/leads", params={"owner": "support"}).json()["leads"] == []


def test_unknown_lead_is_404(client: httpx.Client) -> None:
    """Admin endpoints answer 404 for a lead id they do not know."""
    assert client.get("/admin/leads/nope").status_code == 404
    assert client.post("/admin/retry/nope").status_code == 404


def test_retry_of_a_lead_that_did_not_fail_is_409(client: httpx.Client) -> None:
    """Only a failed lead can be retried."""
    lead_id = client.post("/webhooks/lead", json=lead_payload()).json()["lead_id"]
    wait_status(client, lead_id, {"completed"})
    resp = client.post(f"/admin/retry/{lead_id}")
    assert resp.status_code == 409
    assert "completed" in resp.json()["detail"]


def test_health_names_the_embedded_backends_in_use(tmp_path: Path) -> None:
    """GET /health on embedded defaults is 200 and names, to an admin, the class serving each
    concern."""
    with live_server(make_settings(tmp_path, ADMIN_TOKEN="t0ken")) as url:
        resp = httpx.get(f"{url}/health", headers={"Authorization": "Bearer t0ken"}, timeout=10)
    assert resp.status_code == 200
    checks = resp.json()["checks"]
    assert {name: check["backend"] for name, check in checks.items()} == {
        "store": "SqliteStore",
        "crm": "BuiltinCRM",
        "notifier": "Outbox",
        "checkpoints": "AsyncSqliteSaver",
        "queue": "InMemoryBroker",
        "calendar": "BuiltinCalendar",
        "vector_memory": "LocalVectorMemory",
        "embedder": "LocalEmbedder",
        "llm": None,
        "directory": "InMemoryDirectory",
    }
    assert all(check["ok"] is True for check in checks.values())
    assert checks["directory"]["accounts"] > 0


@pytest.mark.parametrize("authorization", [None, "Bearer wrong", "t0ken"])
def test_health_tells_others_only_whether_each_concern_is_ok(
    tmp_path: Path, authorization: str | None
) -> None:
    """Without the admin bearer token, /health says ok or not per concern and nothing else."""
    headers = {"Authorization": authorization} if authorization else {}
    with live_server(make_settings(tmp_path, ADMIN_TOKEN="t0ken")) as url:
        resp = httpx.get(f"{url}/health", headers=headers, timeout=10)
    assert resp.status_code == 200
    body = resp.json()
    assert body["status"] == "ok"
    assert body["checks"] and all(check == {"ok": True} for check in body["checks"].values())


def _signed(secret: str, body: bytes, ts: int) -> dict[str, str]:
    digest = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return {
        "X-Signature": f"sha256={digest}",
        "X-Timestamp": str(ts),
        "Content-Type": "application/json",
    }


def test_signature_is_required_when_a_secret_is_set(tmp_path: Path) -> None:
    """With WEBHOOK_SECRET: no, wrong or stale signatures are 401; a good one is 202."""
    settings = make_settings(tmp_path, WEBHOOK_SECRET="s3cret")
    body = json.dumps(lead_payload()).encode()
    now = int(time.time())
    with live_server(settings) as url, httpx.Client(base_url=url) as c:
        missing = c.post(
            "/webhooks/lead", content=body, headers={"Content-Type": "application/json"}
        )
        wrong = c.post("/webhooks/lead", content=body, headers=_signed("other", body, now))
        stale = c.post("/webhooks/lead", content=body, headers=_signed("s3cret", body, now - 600))
        good = c.post("/webhooks/lead", content=body, headers=_signed("s3cret", body, now))
    assert [r.status_code for r in (missing, wrong, stale, good)] == [401, 401, 401, 202]
    assert "window" in stale.json()["detail"]


def test_admin_token_is_required_when_set(tmp_path: Path) -> None:
    """With ADMIN_TOKEN: admin calls without the bearer token are 401."""
    settings = make_settings(tmp_path, ADMIN_TOKEN="t0ken")
    with live_server(settings) as url, httpx.Client(base_url=url) as c:
        assert c.get("/admin/leads").status_code == 401
        assert c.get("/admin/leads", headers={"Authorization": "Bearer wrong"}).status_code == 401
        ok = c.get("/admin/leads", headers={"Authorization": "Bearer t0ken"})
        assert ok.status_code == 200
