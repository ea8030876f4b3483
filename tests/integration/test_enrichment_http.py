"""The generic HTTP enrichment provider against a local enrichment API.

The API (`tests/fakes/enrichment_server.py`) answers lookups by domain, checks the key and
plays the failures a real provider has: 429 with Retry-After, 5xx, slow answers, broken JSON.
Waits between attempts are recorded instead of slept, so the suite runs in well under a second
apart from the one deliberate client timeout.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import SecretStr
from tenacity import wait_none

from tests.fakes.enrichment_server import API_KEY, FakeEnrichment, running_enrichment_server
from tests.helpers import Waits
from tools.enrichment_http import (
    FieldValue,
    HttpEnrichmentProvider,
    ProviderAuthError,
    ProviderError,
    ProviderUnavailable,
)

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
SOURCE = "http:127.0.0.1"

CLEARBIT_LIKE = {
    "name": "Acme Robotics GmbH",
    "domain": "acme-robotics.de",
    "category": {"industry": "Industrial Automation", "sector": "Industrials"},
    "metrics": {"employees": "1,200", "raised": None},
    "geo": {"countryCode": None, "country": "Germany", "state": "Bavaria", "city": "Munich"},
    "foundedYear": 1998,
    "description": "Robots  for\nwarehouses.",
    "linkedin": {"handle": "company/acme-robotics"},
    "tags": ["B2B", "Robotics", " "],
}


@pytest.fixture
async def make_provider(
    enrichment_server: tuple[str, FakeEnrichment], waits: Waits
) -> AsyncIterator[Any]:
    url, _ = enrichment_server
    opened: list[HttpEnrichmentProvider] = []

    def make(api_key: str = API_KEY, **options: Any) -> HttpEnrichmentProvider:
        defaults: dict[str, Any] = {"timeout_s": 1.0, "wait": wait_none(), "sleep": waits}
        provider = HttpEnrichmentProvider(
            url, SecretStr(api_key), clock=lambda: NOW, **(defaults | options)
        )
        opened.append(provider)
        return provider

    yield make
    for provider in opened:
        await provider.close()


async def test_found_company_has_coerced_fields_with_source_confidence_and_time(
    enrichment_api: FakeEnrichment, make_provider: Any
) -> None:
    """A known domain gives every mapped field, coerced, stamped with source, confidence, time."""
    enrichment_api.add_company("acme-robotics.de", CLEARBIT_LIKE)

    result = await make_provider().lookup("Acme-Robotics.de")

    assert result is not None
    assert result.values() == {
        "name": "Acme Robotics GmbH",
        "domain": "acme-robotics.de",
        "industry": "Industrial Automation",
        "employees": 1200,
        "country": "DE",
        "state": "Bavaria",
        "city": "Munich",
        "founded_year": 1998,
        "description": "Robots for warehouses.",
        "linkedin_url": "https://www.linkedin.com/company/acme-robotics",
        "tags": ["B2B", "Robotics"],
    }
    assert result.fields["employees"] == FieldValue(1200, SOURCE, 0.8, "2026-03-02T09:30:00+00:00")
    assert {(f.source, f.confidence, f.fetched_at) for f in result.fields.values()} == {
        (SOURCE, 0.8, "2026-03-02T09:30:00+00:00")
    }
    assert (result.raw_status, result.attempts, result.problems) == (200, 1, [])


async def test_unknown_domain_is_none(enrichment_api: FakeEnrichment, make_provider: Any) -> None:
    """A 404 from the provider means an unknown company: None, not an error."""
    assert await make_provider().lookup("nobody-here.example") is None
    assert enrichment_api.count() == 1


async def test_wrong_api_key_raises_auth_error_without_retry(
    enrichment_api: FakeEnrichment, make_provider: Any
) -> None:
    """A rejected key fails at once with an error that says to check the key, never showing it."""
    enrichment_api.add_company("acme-robotics.de", CLEARBIT_LIKE)

    with pytest.raises(ProviderAuthError, match="401: check the API key") as raised:
        await make_provider(api_key="not-the-key").lookup("acme-robotics.de")

    assert "not-the-key" not in str(raised.value)
    assert enrichment_api.count() == 1


async def test_429_waits_what_retry_after_asks_then_succeeds(
    enrichment_api: FakeEnrichment, make_provider: Any, waits: Waits
) -> None:
    """A 429 with Retry-After is retried after that many seconds and the lookup succeeds."""
    enrichment_api.add_company("acme-robotics.de", CLEARBIT_LIKE)
    enrichment_api.fail_next(429, times=1, retry_after=2)

    result = await make_provider().lookup("acme-robotics.de")

    assert result is not None and result.attempts == 2
    assert result.values()["name"] == "Acme Robotics GmbH"
    assert waits.seconds == [2.0]


async def test_retry_after_is_capped(
    enrichment_api: FakeEnrichment, make_provider: Any, waits: Waits
) -> None:
    """A Retry-After longer than the cap is waited only up to the cap."""
    enrichment_api.add_company("acme-robotics.de", CLEARBIT_LIKE)
    enrichment_api.fail_next(429, times=1, retry_after=3600)

    result = await make_provider(max_retry_after_s=5.0).lookup("acme-robotics.de")

    assert result is not None and result.attempts == 2
    assert waits.seconds == [5.0]


async def test_503_twice_then_succeeds_on_third_attempt(
    enrichment_api: FakeEnrichment, make_provider: Any
) -> None:
    """Two 503s in a row are retried and the third attempt returns the company."""
    enrichment_api.add_company("acme-robotics.de", CLEARBIT_LIKE)
    enrichment_api.fail_next(503, times=2)

    result = await make_provider().lookup("acme-robotics.de")

    assert result is not None and result.attempts == 3
    assert enrichment_api.count() == 3


async def test_timeout_then_success(enrichment_api: FakeEnrichment, make_provider: Any) -> None:
    """An attempt that outlives the timeout is abandoned and the next one succeeds."""
    enrichment_api.add_company("acme-robotics.de", CLEARBIT_LIKE)
    enrichment_api.delay_next(1.0, times=1)

    result = await make_provider(timeout_s=0.2).lookup("acme-robotics.de")

    assert result is not None and result.attempts == 2
    assert result.values()["employees"] == 1200


async def test_a_trickling_answer_is_cut_at_the_whole_deadline(
    enrichment_api: FakeEnrichment, make_provider: Any
) -> None:
    """A byte every 0.1 s never trips a per-read timeout of 0.3 s; the deadline of 0.3 s for
    the whole answer does, on every attempt, and the lookup gives up in about 3 × 0.3 s."""
    enrichment_api.add_company("acme-robotics.de", CLEARBIT_LIKE)
    enrichment_api.trickle_next(0.1, times=3)
    provider = make_provider(timeout_s=0.3, max_attempts=3)

    started = time.monotonic()
    with pytest.raises(ProviderUnavailable, match=r"no whole answer within 0\.3 s") as raised:
        await provider.lookup("acme-robotics.de")

    assert raised.value.attempts == 3
    assert time.monotonic() - started < 3.0  # a whole trickled body takes over 4 s a try


async def test_an_answer_over_the_size_cap_is_dropped_without_retry(
    enrichment_api: FakeEnrichment, make_provider: Any
) -> None:
    enrichment_api.huge_next(5_000_000)
    provider = make_provider(timeout_s=5.0, max_body_bytes=200_000)

    with pytest.raises(ProviderError, match="sent more than 200000 bytes"):
        await provider.lookup("acme-robotics.de")
    assert enrichment_api.count() == 1


async def test_persistent_500_raises_after_max_attempts(
    enrichment_api: FakeEnrichment, make_provider: Any
) -> None:
    """A provider that keeps failing raises ProviderUnavailable once max_attempts are spent."""
    enrichment_api.fail_next(500, times=100)

    with pytest.raises(ProviderUnavailable, match="failed after 4 attempts") as raised:
        await make_provider(max_attempts=4).lookup("acme-robotics.de")

    assert (raised.value.status, raised.value.attempts) == (500, 4)
    assert enrichment_api.count() == 4


async def test_other_4xx_raises_without_retry(
    enrichment_api: FakeEnrichment, make_provider: Any
) -> None:
    """A 4xx other than 429 (here 422) is an error the provider would repeat: no retry."""
    enrichment_api.fail_next(422, times=3)

    with pytest.raises(ProviderError, match="422") as raised:
        await make_provider().lookup("acme-robotics.de")

    assert not isinstance(raised.value, ProviderUnavailable)
    assert enrichment_api.count() == 1


async def test_malformed_json_raises_provider_error_without_retry(
    enrichment_api: FakeEnrichment, make_provider: Any
) -> None:
    """A 200 whose body is not valid JSON raises ProviderError naming the problem, once."""
    enrichment_api.add_company("acme-robotics.de", CLEARBIT_LIKE)
    enrichment_api.malformed_next(times=3)

    with pytest.raises(ProviderError, match="not valid JSON"):
        await make_provider().lookup("acme-robotics.de")

    assert enrichment_api.count() == 1


async def test_body_of_wrong_shape_raises_provider_error(
    enrichment_api: FakeEnrichment, make_provider: Any
) -> None:
    """A field of the wrong JSON type raises ProviderError naming the field and its path."""
    enrichment_api.add_company("acme-robotics.de", {"name": {"legal": "Acme"}, "employees": 10})

    with pytest.raises(ProviderError, match=r"name at 'name': expected a string, got an object"):
        await make_provider().lookup("acme-robotics.de")


async def test_custom_field_map_reads_nested_paths(
    enrichment_api: FakeEnrichment, make_provider: Any
) -> None:
    """A custom field_map reads our fields from nested paths and replaces the default map."""
    enrichment_api.add_company(
        "umbrella.co.uk",
        {
            "industry": "ignored: not in the custom map",
            "data": {
                "org": {"display_name": "Umbrella Ltd"},
                "size": {"headcount": 5400.0},
                "hq": {"country": "United Kingdom", "town": "London"},
            },
        },
    )
    provider = make_provider(
        field_map={
            "name": "data.org.display_name",
            "employees": ["data.size.exact", "data.size.headcount"],
            "country": "data.hq.country",
            "city": "data.hq.town",
        },
        confidence=0.65,
    )

    result = await provider.lookup("umbrella.co.uk")

    assert result is not None
    assert result.values() == {
        "name": "Umbrella Ltd",
        "employees": 5400,
        "country": "GB",
        "city": "London",
    }
    assert result.fields["country"].confidence == 0.65


async def test_custom_path_and_key_header_reach_a_self_hosted_api(waits: Waits) -> None:
    """Path template, auth header and scheme are configuration: an X-Api-Key API works too."""
    with running_enrichment_server(
        api_key="k-123", auth_header="X-Api-Key", auth_scheme="", path="/companies/lookup"
    ) as (url, api):
        api.add_company("corvex.com", {"company_name": "Corvex", "employee_count": 75})
        async with HttpEnrichmentProvider(
            url + "/",
            SecretStr("k-123"),
            path_template="/companies/lookup?domain={domain}",
            auth_header="X-Api-Key",
            auth_scheme="",
            wait=wait_none(),
            sleep=waits,
        ) as provider:
            result = await provider.lookup("corvex.com")

    assert result is not None
    assert result.values() == {"name": "Corvex", "employees": 75}
