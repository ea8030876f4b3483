"""Closed by default: without ADMIN_TOKEN the admin API and the console stay shut, outcomes and
replies need WEBHOOK_SECRET, the token is taken only as a bearer token, the start log says
what is open, and `serve` makes a token for its run rather than opening anything."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import structlog
from structlog.testing import capture_logs

import app as app_module
from app import create_app
from tests.helpers import ROOT, free_port, lead_payload, live_server, make_settings, spawn, wait_for

TOKEN = "a-long-admin-token-for-tests"


@pytest.fixture
def closed(tmp_path: Path) -> Iterator[httpx.Client]:
    """The service with its defaults: no token, no secret, nothing opened."""
    with (
        live_server(make_settings(tmp_path, ADMIN_OPEN=False)) as url,
        httpx.Client(base_url=url, timeout=10) as client,
    ):
        yield client


def test_by_default_admin_outcomes_and_replies_are_closed_and_say_how_to_open(
    closed: httpx.Client,
) -> None:
    lead = closed.post("/webhooks/lead", json=lead_payload())
    admin = closed.get("/admin/leads")
    detail = closed.get(f"/admin/leads/{lead.json()['lead_id']}")
    outcome = closed.post("/webhooks/outcome", json={"email": "who@acme.io", "outcome": "won"})
    reply = closed.post(
        "/webhooks/reply",
        json={"message_id": "m-1", "from": "who@acme.io", "email": "who@acme.io", "text": "stop"},
    )
    console = closed.get("/console/leads", follow_redirects=True)

    assert lead.status_code == 202  # forms may post leads
    assert (admin.status_code, detail.status_code) == (503, 503)
    assert "set ADMIN_TOKEN" in admin.json()["detail"]
    assert outcome.status_code == 503 and "set WEBHOOK_SECRET" in outcome.json()["detail"]
    assert reply.status_code == 503
    assert console.status_code == 200 and "/console/login" in str(console.url)
    assert "ADMIN_TOKEN is not set" in console.text
    assert "who@acme.io" not in outcome.text + reply.text


def test_the_admin_token_is_taken_only_as_a_bearer_token(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, ADMIN_OPEN=False, ADMIN_TOKEN=TOKEN)
    with live_server(settings) as url, httpx.Client(base_url=url, timeout=10) as client:
        answers = {
            header: client.get("/admin/leads", headers={"Authorization": header}).status_code
            for header in (f"Bearer {TOKEN}", f"bearer {TOKEN}", TOKEN, f"Token {TOKEN}", "")
        }
        by_query = client.get("/admin/leads", params={"token": TOKEN}).status_code
    assert answers == {
        f"Bearer {TOKEN}": 200,
        f"bearer {TOKEN}": 200,
        TOKEN: 401,
        f"Token {TOKEN}": 401,
        "": 401,
    }
    assert by_query == 401


def test_outcomes_open_to_signed_requests_once_webhook_secret_is_set(tmp_path: Path) -> None:
    import hashlib
    import hmac

    settings = make_settings(tmp_path, ADMIN_OPEN=False, WEBHOOK_SECRET="s3cret")
    body = json.dumps({"email": "nobody@acme.io", "outcome": "won"}).encode()
    stamp = str(int(time.time()))
    digest = hmac.new(b"s3cret", f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": "application/json",
        "X-Timestamp": stamp,
        "X-Signature": f"sha256={digest}",
    }
    with live_server(settings) as url, httpx.Client(base_url=url, timeout=10) as client:
        unsigned = client.post(
            "/webhooks/outcome", content=body, headers={"Content-Type": "application/json"}
        )
        signed = client.post("/webhooks/outcome", content=body, headers=headers)
    assert unsigned.status_code == 401
    assert signed.status_code == 404  # signed: now it may learn that no such lead exists


async def test_the_start_log_says_what_is_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for opened, level in ((False, "info"), (True, "warning")):
        # A logger not yet used: a cached one would write past capture_logs.
        monkeypatch.setattr(app_module, "log", structlog.get_logger("lead_router.api"))
        settings = make_settings(tmp_path / str(opened), ADMIN_OPEN=opened, LOG_LEVEL="INFO")
        app = create_app(settings)
        with capture_logs() as logs:
            async with app.router.lifespan_context(app):
                pass
        [access] = [entry for entry in logs if entry["event"] == "access"]
        assert access["log_level"] == level
        assert access["/webhooks/lead"] == "open (forms)"
        admin = access["/admin, /console"]
        assert admin.startswith("OPEN") if opened else admin == "closed: set ADMIN_TOKEN"


def test_serve_makes_a_token_for_its_run_and_says_what_is_open(tmp_path: Path) -> None:
    """`serve` with no ADMIN_TOKEN prints its address, backends and who may call what, and a
    token made for this run: the admin API takes it and nothing else."""
    port = free_port()
    log = tmp_path / "serve.log"
    proc = spawn(["serve", "--port", str(port)], {"DATA_DIR": str(tmp_path / "data")}, log)
    try:
        wait_for(lambda: "admin token for this run" in log.read_text(), timeout=60)
        text = log.read_text()
        token = re.search(r"admin token for this run: (\S+)", text)
        assert token is not None
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            without = client.get("/admin/leads").status_code
            bearer = {"Authorization": f"Bearer {token.group(1)}"}
            with_token = client.get("/admin/leads", headers=bearer).status_code
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert f"Lead Router is ready on http://127.0.0.1:{port}" in text
    assert "store           SQLite in" in text
    assert "/webhooks/outcome, /webhooks/reply" in text and "closed: set WEBHOOK_SECRET" in text
    assert (without, with_token) == (401, 200)


def test_the_compose_file_ships_no_admin_token() -> None:
    compose = (ROOT / "infra" / "docker-compose.yml").read_text()
    assert "change-me" not in compose
    assert "ADMIN_TOKEN: ${ADMIN_TOKEN:?" in compose
