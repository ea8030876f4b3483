"""Errors are problem details (RFC 9457) and every route's errors are in the OpenAPI schema."""

from __future__ import annotations

from collections.abc import Iterator
from http import HTTPStatus
from pathlib import Path
from typing import Any

import httpx
import pytest

from app import create_app
from tests.helpers import lead_payload, live_server, make_settings

PROBLEM_JSON = "application/problem+json"


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    settings = make_settings(tmp_path_factory.mktemp("problems"))
    with live_server(settings) as url, httpx.Client(base_url=url, timeout=10) as c:
        yield c


def problem(resp: httpx.Response, status: int) -> dict[str, Any]:
    """The response's problem details, once its status, media type and members are checked."""
    assert resp.status_code == status
    assert resp.headers["content-type"] == PROBLEM_JSON
    body: dict[str, Any] = resp.json()
    assert body["type"] == "about:blank"
    assert body["title"] == HTTPStatus(status).phrase
    assert body["status"] == status
    assert isinstance(body["detail"], str) and body["detail"]
    return body


def test_invalid_fields_are_a_problem_listing_each(client: httpx.Client) -> None:
    """A lead with bad fields is a 422 problem with type, title, status, detail and errors."""
    resp = client.post("/webhooks/lead", json={"email": "nope", "utm": "x"})

    body = problem(resp, 422)
    assert body["detail"] == "invalid lead"
    assert {e["field"] for e in body["errors"]} == {"email", "utm"}
    assert all(set(e) == {"field", "problem"} for e in body["errors"])


def test_a_bad_query_parameter_is_a_problem(client: httpx.Client) -> None:
    """GET /admin/leads?limit=0 is a 422 problem naming the parameter, not FastAPI's shape."""
    resp = client.get("/admin/leads", params={"limit": 0})

    body = problem(resp, 422)
    assert [e["field"] for e in body["errors"]] == ["query.limit"]
    assert "greater than or equal to 1" in body["errors"][0]["problem"]


def test_an_unknown_lead_is_a_problem(client: httpx.Client) -> None:
    """The decision record of a lead nobody submitted is a 404 problem naming the id."""
    body = problem(client.get("/admin/leads/no-such-lead"), 404)
    assert body["detail"] == "no lead no-such-lead"
    assert "errors" not in body


def test_an_unknown_path_is_a_problem(client: httpx.Client) -> None:
    """A path no route serves is a 404 problem too."""
    problem(client.get("/no/such/path"), 404)


def test_a_reused_key_names_the_lead(client: httpx.Client) -> None:
    """A key reused with another payload is a 422 problem carrying the lead id it names."""
    headers = {"Idempotency-Key": "problems-reused-key"}
    first = client.post("/webhooks/lead", json=lead_payload(), headers=headers)
    assert first.status_code == 202

    body = problem(client.post("/webhooks/lead", json=lead_payload(), headers=headers), 422)
    assert body["lead_id"] == first.json()["lead_id"]
    assert "different payload" in body["detail"]


def test_a_wrong_content_type_is_a_problem(client: httpx.Client) -> None:
    """A form-encoded lead is a 415 problem naming the content type it got."""
    body = problem(client.post("/webhooks/lead", data={"email": "a@b.co"}), 415)
    assert "application/x-www-form-urlencoded" in body["detail"]


def test_openapi_lists_the_lead_webhook_errors_and_body(tmp_path: Path) -> None:
    """The schema lists 401/413/415/422 as problems for POST /webhooks/lead, and its body."""
    schema = create_app(make_settings(tmp_path)).openapi()
    operation = schema["paths"]["/webhooks/lead"]["post"]

    for status in ("401", "413", "415", "422"):
        content = operation["responses"][status]["content"]
        assert content[PROBLEM_JSON]["schema"] == {"$ref": "#/components/schemas/Problem"}
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    assert body["required"] == ["email"]
    assert {"email", "company", "utm", "properties"} <= set(body["properties"])
    problem_schema = schema["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "detail", "errors"} <= set(problem_schema["properties"])


def test_openapi_documents_every_error_as_a_problem(tmp_path: Path) -> None:
    """Every documented 4xx (and 503 but the health report's) is a problem, FastAPI's 422s too."""
    schema = create_app(make_settings(tmp_path)).openapi()

    assert "HTTPValidationError" not in schema["components"]["schemas"]
    for path, operations in schema["paths"].items():
        for operation in operations.values():
            for status, response in operation["responses"].items():
                if status.startswith("4") or (status == "503" and path != "/health"):
                    assert PROBLEM_JSON in response["content"], (path, status)
