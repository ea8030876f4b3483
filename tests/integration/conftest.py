"""Fixtures shared by the integration tests: the local enrichment API and recorded waits."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.enrichment_server import API_KEY, FakeEnrichment, running_enrichment_server
from tests.helpers import Waits


@pytest.fixture(scope="module")
def enrichment_server() -> Iterator[tuple[str, FakeEnrichment]]:
    """The local enrichment API, one per test module, expecting `API_KEY`: `(url, fake)`."""
    with running_enrichment_server(api_key=API_KEY) as served:
        yield served


@pytest.fixture
def enrichment_api(enrichment_server: tuple[str, FakeEnrichment]) -> Iterator[FakeEnrichment]:
    """The module's enrichment API with no companies, faults or requests, reset again after."""
    _, api = enrichment_server
    api.reset()
    yield api
    api.reset()


@pytest.fixture
def waits() -> Waits:
    """Stands in for asyncio.sleep in retries; `waits.seconds` lists what was asked."""
    return Waits()
