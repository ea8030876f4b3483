"""Durable execution: checkpoints on SQLite and PostgreSQL, resume after a failed node,
and side effects written once however often a node runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from service.wiring import Overrides, open_services
from tests.helpers import lead_payload, lead_state, make_settings, submit
from tools.ports import Notifier


class FlakyNotifier:
    """A notifier that fails its first `failures` sends, then delegates to the real one
    (`Overrides(wrap_notifier=flaky.around)` puts it in front of the outbox)."""

    def __init__(self, failures: int) -> None:
        self.real: Any = None
        self.failures = failures
        self.calls = 0

    def around(self, real: Notifier) -> Notifier:
        self.real = real
        return self

    async def ping(self) -> None:
        await self.real.ping()

    async def send(self, key: str, message: dict[str, Any]) -> dict[str, Any]:
        self.calls += 1
        if self.calls <= self.failures:
            raise ConnectionError("notifier unavailable")
        result: dict[str, Any] = await self.real.send(key, message)
        return result

    async def update(
        self, receipt: dict[str, Any], text: str, blocks: list[dict[str, Any]]
    ) -> dict[str, Any]:
        result: dict[str, Any] = await self.real.update(receipt, text, blocks)
        return result


@pytest.fixture(params=["sqlite", "postgres"])
def checkpoint_settings(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    if request.param == "postgres":
        return {"DATABASE_URL": request.getfixturevalue("postgres_url")}
    return {}


async def test_a_lead_runs_end_to_end(checkpoint_settings: dict[str, Any], tmp_path: Path) -> None:
    """The graph runs every node and routes the lead with either checkpointer."""
    settings = make_settings(tmp_path, **checkpoint_settings)
    async with open_services(settings) as services:
        lead_id = await submit(services, lead_payload())
        assert await services.runner.process(lead_id) == "completed"
        state = await lead_state(services, lead_id)
        assert set(state["timings"]) >= {
            "capture",
            "enrich",
            "classify",
            "score",
            "route",
            "notify",
        }
        assert state["enrichment"]["account_match"]["account_id"]
        record = await services.store.get_lead(lead_id)
        assert record and record.status == "completed" and record.owner in {"ana", "ben"}


async def test_failed_node_resumes_alone_without_duplicate_writes(
    checkpoint_settings: dict[str, Any], tmp_path: Path
) -> None:
    """A lead whose notify fails is marked failed at notify; the retry runs only notify and
    writes one contact, one note and one rep message."""
    settings = make_settings(tmp_path, NODE_MAX_ATTEMPTS=2, **checkpoint_settings)
    flaky = FlakyNotifier(failures=2)
    async with open_services(settings, Overrides(wrap_notifier=flaky.around)) as services:
        payload = lead_payload()
        lead_id = await submit(services, payload)
        assert await services.runner.process(lead_id) == "failed"
        record = await services.store.get_lead(lead_id)
        assert record and record.status == "failed"
        assert record.error and record.error["node"] == "notify"
        assert "notifier unavailable" in record.error["message"]
        before = (await lead_state(services, lead_id))["timings"]

        assert await services.runner.process(lead_id) == "completed"
        after = (await lead_state(services, lead_id))["timings"]
        assert after["route"] == before["route"], "route ran again"
        assert flaky.calls == 3
        assert services.crm and (await services.crm.find_contact(payload["email"]))
        counts = await services.crm.counts()
        assert counts["contacts"] == 1 and counts["notes"] == 1
        assert services.outbox and len(await services.outbox.list(lead_id=lead_id)) == 1


async def test_a_completed_lead_is_not_run_again(tmp_path: Path) -> None:
    """A second delivery of a completed lead does nothing."""
    async with open_services(make_settings(tmp_path)) as services:
        lead_id = await submit(services, lead_payload())
        assert await services.runner.process(lead_id) == "completed"
        assert await services.runner.process(lead_id) == "done"
        assert services.outbox and len(await services.outbox.list(lead_id=lead_id)) == 1


async def test_a_lead_held_by_another_worker_is_dropped(tmp_path: Path) -> None:
    """While another worker holds the lease, a second delivery drops instead of running."""
    async with open_services(make_settings(tmp_path)) as services:
        lead_id = await submit(services, lead_payload())
        assert await services.store.acquire_lease(f"lead:{lead_id}", "other", 30_000)
        assert await services.runner.process(lead_id) == "busy"
        record = await services.store.get_lead(lead_id)
        assert record and record.status == "queued"


async def test_recovery_requeues_a_stranded_lead(tmp_path: Path) -> None:
    """A lead left processing with no live lease is found and completed by recovery."""
    async with open_services(make_settings(tmp_path)) as services:
        await services.broker.startup()
        lead_id = await submit(services, lead_payload())
        await services.store.update_lead(lead_id, status="processing")
        assert await services.recover() == [lead_id]
        await services.broker.wait_all()  # type: ignore[attr-defined]
        record = await services.store.get_lead(lead_id)
        assert record and record.status == "completed"
        await services.broker.shutdown()
