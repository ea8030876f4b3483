"""The API against its own OpenAPI schema, fuzzed (schemathesis): for every operation, requests
generated from the schema — valid ones and broken ones — get no server error, and every answer
has a documented status code, content type and body shape."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from app import create_app
from tests.fakes.hubspot_server import TOKEN, running_hubspot
from tests.helpers import live_server, make_settings

# The schema as the service builds it; building the app opens no backend.
with tempfile.TemporaryDirectory() as _data:
    SCHEMA = schemathesis.openapi.from_dict(create_app(make_settings(Path(_data))).openapi())
OPERATIONS = {op.label: op for op in (result.ok() for result in SCHEMA.get_all_operations())}


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The live service on embedded defaults, opened (ADMIN_OPEN) so the fuzzer reaches the
    admin routes' parsers, with every webhook configured (HubSpot's on a local HubSpot): the
    signed ones answer 401 to the fuzzer's unsigned requests, as documented."""
    with running_hubspot() as (hubspot_url, _fake):
        settings = make_settings(
            tmp_path_factory.mktemp("fuzz"),
            HUBSPOT_ACCESS_TOKEN=TOKEN,
            HUBSPOT_API_URL=hubspot_url,
            HUBSPOT_CLIENT_SECRET="hubspot-client-secret",
            CALCOM_WEBHOOK_SECRET="calcom-webhook-secret",
            SLACK_SIGNING_SECRET="slack-signing-secret",
        )
        with live_server(settings) as url:
            yield url


@pytest.mark.parametrize("label", sorted(OPERATIONS))
def test_every_operation_answers_as_documented(label: str, base_url: str) -> None:
    operation: Any = OPERATIONS[label]

    @given(case=operation.as_strategy())
    @settings(
        max_examples=50,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def answers_as_documented(case: schemathesis.Case) -> None:
        # One key per request: a key reused with another body is refused on purpose (422),
        # which tests/integration/test_api.py covers; here each request stands alone.
        if case.headers and "Idempotency-Key" in case.headers:
            case.headers["Idempotency-Key"] = uuid.uuid4().hex
        if isinstance(case.body, dict):
            for name in {"event_id", "eventId"} & case.body.keys():
                case.body[name] = uuid.uuid4().hex
        case.call_and_validate(base_url=base_url)

    answers_as_documented()
