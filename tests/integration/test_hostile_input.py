"""What a hostile sender tries at the door: replays, oversized and deeply nested bodies,
numbers that are not numbers, invisible characters, headers with 400 digits. Each gets a 4xx
naming the problem; nothing becomes a second lead or a 500."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app import create_app
from tests.helpers import lead_payload, live_server, make_settings

SECRET = "s3cret"
SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


def signed(body: bytes, ts: int | str | None = None) -> dict[str, str]:
    stamp = str(int(time.time()) if ts is None else ts)
    digest = hmac.new(SECRET.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return {
        "X-Signature": f"sha256={digest}",
        "X-Timestamp": stamp,
        "Content-Type": "application/json",
    }


@pytest.fixture
def client(tmp_path: Path) -> Iterator[httpx.Client]:
    with live_server(make_settings(tmp_path)) as url, httpx.Client(base_url=url, timeout=10) as c:
        yield c


@pytest.fixture
def signed_client(tmp_path: Path) -> Iterator[httpx.Client]:
    settings = make_settings(tmp_path, WEBHOOK_SECRET=SECRET, SLACK_SIGNING_SECRET=SLACK_SECRET)
    with live_server(settings) as url, httpx.Client(base_url=url, timeout=10) as c:
        yield c


def test_a_captured_signed_request_replayed_under_new_keys_stays_one_lead(
    signed_client: httpx.Client,
) -> None:
    """The signature covers the body, not `Idempotency-Key`: six replays of one signed request,
    each with a fresh key, are one lead and five duplicates."""
    body = json.dumps(lead_payload()).encode()
    headers = signed(body)
    answers = [
        signed_client.post(
            "/webhooks/lead", content=body, headers={**headers, "Idempotency-Key": f"replay-{n}"}
        )
        for n in range(6)
    ]
    assert [a.status_code for a in answers] == [202, 200, 200, 200, 200, 200]
    assert len({a.json()["lead_id"] for a in answers}) == 1
    leads = signed_client.get("/admin/leads").json()["leads"]
    assert len(leads) == 1


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("1e20", "is not a time"),
        ("-1e15", "is not a time"),
        ("1e400", "is not a time"),  # parses as infinity
        ("NaN", "NaN is not a JSON value"),
        ("Infinity", "Infinity is not a JSON value"),
    ],
)
def test_a_submitted_at_that_is_no_time_is_422(
    client: httpx.Client, value: str, problem: str
) -> None:
    payload = json.dumps(lead_payload())[:-1] + f', "submitted_at": {value}}}'
    answer = client.post(
        "/webhooks/lead", content=payload, headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 422, answer.text
    assert problem in answer.text


def test_deep_nesting_is_refused_at_the_door(client: httpx.Client) -> None:
    for depth in (40, 450, 5000):
        body = '{"email": "deep@nest.io", "properties": ' + "[" * depth + "]" * depth + "}"
        answer = client.post(
            "/webhooks/lead", content=body, headers={"Content-Type": "application/json"}
        )
        assert answer.status_code == 422, (depth, answer.text)
        assert f"nests {depth + 1} levels deep; the limit is 32" in answer.json()["detail"]
    assert client.get("/admin/leads").json()["leads"] == []


def test_brackets_inside_strings_do_not_count_as_nesting(client: httpx.Client) -> None:
    payload = lead_payload(message="[[[[{{{{" * 20 + '\\" ]]] still text')
    answer = client.post("/webhooks/lead", json=payload)
    assert answer.status_code == 202, answer.text


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("email", "\u202eadmin@acme.com"),
        ("email", "ad\u200bmin@acme.com"),
        ("first_name", "Ana\u202e"),
        ("company", "Acme\ufeff GmbH"),
        ("title", "C\u2066EO"),
    ],
)
def test_invisible_and_direction_changing_characters_are_refused(
    client: httpx.Client, field: str, value: str
) -> None:
    answer = client.post("/webhooks/lead", json={**lead_payload(), field: value})
    assert answer.status_code == 422
    [error] = answer.json()["errors"]
    assert error["field"] == field
    assert "invisible or direction-changing characters (U+" in error["problem"]


def test_joiners_some_scripts_need_in_names_are_kept(client: httpx.Client) -> None:
    answer = client.post("/webhooks/lead", json={**lead_payload(), "last_name": "می\u200cخواهم"})
    assert answer.status_code == 202


def test_timestamps_of_400_digits_are_refused_as_401(signed_client: httpx.Client) -> None:
    body = json.dumps(lead_payload()).encode()
    lead = signed_client.post("/webhooks/lead", content=body, headers=signed(body, "9" * 400))
    slack = signed_client.post(
        "/slack/interactions",
        content=b"payload=%7B%7D",
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": "9" * 400,
            "X-Slack-Signature": "v0=00",
        },
    )
    assert (lead.status_code, slack.status_code) == (401, 401)
    assert "X-Timestamp is not Unix seconds" in lead.json()["detail"]
    assert "X-Slack-Request-Timestamp is not Unix seconds" in slack.json()["detail"]


def test_an_offset_past_any_lead_is_422(client: httpx.Client) -> None:
    answer = client.get("/admin/leads", params={"offset": "9223372036854775808"})
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == "query.offset"


@pytest.mark.parametrize("value", ["Infinity", "1e308", "-1"])
def test_an_outcome_value_that_is_no_amount_is_422(client: httpx.Client, value: str) -> None:
    body = f'{{"email": "a@b.io", "outcome": "won", "value": {value}}}'
    answer = client.post(
        "/webhooks/outcome", content=body, headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 422, answer.text


async def post_endless_body(app: Any, path: str, content_type: bytes) -> tuple[int, int]:
    """POST a chunked body that never ends, straight to the ASGI app: the status answered,
    and how many 16 KiB chunks the app pulled before answering."""
    pulled = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        pulled += 1
        return {"type": "http.request", "body": b"x" * 16384, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"testserver"),
            (b"content-type", content_type),
            (b"transfer-encoding", b"chunked"),
            (b"x-slack-request-timestamp", str(int(time.time())).encode()),
            (b"x-slack-signature", b"v0=00"),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "app": app,
    }
    await app(scope, receive, send)
    return next(m["status"] for m in sent if m["type"] == "http.response.start"), pulled


async def test_an_oversized_chunked_body_is_refused_while_it_streams(tmp_path: Path) -> None:
    """A chunked body with no length is read only until it passes MAX_BODY_BYTES, then 413:
    the rest is never asked for (a 500 MB upload is never held in memory)."""
    app = create_app(make_settings(tmp_path, MAX_BODY_BYTES=65536))
    async with app.router.lifespan_context(app):
        for path, content_type in (
            ("/webhooks/lead", b"application/json"),
            ("/slack/interactions", b"application/x-www-form-urlencoded"),
            ("/console/login", b"application/x-www-form-urlencoded"),
        ):
            status, pulled = await post_endless_body(app, path, content_type)
            assert (path, status) == (path, 413)
            assert pulled <= 65536 // 16384 + 1
