"""No lost and no doubled lead: concurrent duplicates, separate worker processes over Redis,
and a worker killed in the middle of a lead."""

from __future__ import annotations

import asyncio
import sqlite3
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers import (
    lead_payload,
    live_server,
    make_settings,
    serve_process,
    spawn,
    wait_status,
)

pytestmark = pytest.mark.slow

ADMIN_TOKEN = "delivery-admin-token"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def _count(db: Path, sql: str, *args: Any) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute(sql, args).fetchone()[0])


def test_twenty_concurrent_deliveries_make_one_lead(tmp_path: Path) -> None:
    """The same payload posted 20 times at once: one 202, 19 duplicates, one contact,
    one rep message."""
    settings = make_settings(tmp_path)
    payload = lead_payload()

    async def burst(url: str) -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            return list(
                await asyncio.gather(
                    *(client.post("/webhooks/lead", json=payload) for _ in range(20))
                )
            )

    with live_server(settings) as url:
        responses = asyncio.run(burst(url))
        codes = sorted(r.status_code for r in responses)
        assert codes == [200] * 19 + [202]
        assert len({r.json()["lead_id"] for r in responses}) == 1
        with httpx.Client(base_url=url) as client:
            wait_status(client, responses[0].json()["lead_id"], {"completed"})
    data = settings.data_dir
    assert (
        _count(
            data / "crm.sqlite3", "SELECT count(*) FROM contacts WHERE email = ?", payload["email"]
        )
        == 1
    )
    assert _count(data / "outbox.sqlite3", "SELECT count(*) FROM messages") == 1


@pytest.fixture
def distributed(
    tmp_path: Path, redis_url: str, redis_prefix: str, postgres_url: str
) -> Iterator[dict[str, str]]:
    """Environment for an API process and worker processes sharing Redis and PostgreSQL."""
    env = {
        "DATA_DIR": str(tmp_path / "data"),
        "REDIS_URL": redis_url,
        "REDIS_PREFIX": redis_prefix,
        "QUEUE_URL": redis_url,
        "QUEUE_NAME": f"{redis_prefix}queue",
        "DATABASE_URL": postgres_url,
        "LOG_LEVEL": "WARNING",
        "NODE_RETRY_INITIAL_S": "0",
        "LEASE_TTL_MS": "1500",
        "RECOVERY_INTERVAL_S": "0.5",
        "QUEUE_REDELIVER_AFTER_MS": "1500",
        "ADMIN_TOKEN": ADMIN_TOKEN,
    }
    yield env


def _serve(env: dict[str, str], tmp_path: Path) -> tuple[Any, str]:
    return serve_process(env, tmp_path / "api.log")


def test_api_and_separate_workers_process_leads_over_redis(
    distributed: dict[str, str], tmp_path: Path
) -> None:
    """Leads posted to the API process are run by two worker processes via the Redis stream."""
    api, url = _serve(distributed, tmp_path)
    workers = [
        spawn(["worker", "--concurrency", "4"], distributed, tmp_path / f"w{i}.log")
        for i in range(2)
    ]
    try:
        with httpx.Client(base_url=url, timeout=10, headers=ADMIN) as client:
            checks = client.get("/health").json()["checks"]
            assert checks["store"]["backend"] == "RedisStore"
            assert checks["queue"]["backend"] == "LeadStream"
            assert checks["checkpoints"]["backend"] == "AsyncPostgresSaver"
            ids = [
                client.post("/webhooks/lead", json=lead_payload()).json()["lead_id"]
                for _ in range(12)
            ]
            for lead_id in ids:
                assert (
                    wait_status(client, lead_id, {"completed", "failed"}, 60)["status"]
                    == "completed"
                )
        outbox = Path(distributed["DATA_DIR"]) / "outbox.sqlite3"
        assert _count(outbox, "SELECT count(*) FROM messages") == 12
    finally:
        for proc in [api, *workers]:
            proc.terminate()
        for proc in [api, *workers]:
            proc.wait(timeout=30)


def test_a_worker_killed_mid_lead_leaves_a_lead_that_completes_once(
    distributed: dict[str, str], tmp_path: Path
) -> None:
    """SIGKILL after the CRM contact is written: a restarted worker finishes the lead with one
    contact, one note and one rep message."""
    api, url = _serve(distributed, tmp_path)
    doomed = spawn(
        ["crm.contact"],
        distributed,
        tmp_path / "doomed.log",
        program=["-m", "tests.fakes.crash_worker"],
    )
    survivor = None
    try:
        payload = lead_payload(email=f"kill.{uuid.uuid4().hex[:6]}@northwind-freight.de")
        with httpx.Client(base_url=url, timeout=10, headers=ADMIN) as client:
            lead_id = client.post("/webhooks/lead", json=payload).json()["lead_id"]
            assert doomed.wait(timeout=60) == -9, "the worker was not killed"
            record = client.get(f"/admin/leads/{lead_id}").json()
            assert record["status"] == "processing"
            assert record["next"] == ["notify"], {
                k: record[k] for k in ("history", "timings", "next")
            }
            survivor = spawn(["worker"], distributed, tmp_path / "survivor.log")
            final = wait_status(client, lead_id, {"completed", "failed"}, 60)
        assert final["status"] == "completed"
        assert final["deliveries"]["crm.contact"]["replayed"] is True
        data = Path(distributed["DATA_DIR"])
        assert (
            _count(
                data / "crm.sqlite3",
                "SELECT count(*) FROM contacts WHERE email = ?",
                payload["email"],
            )
            == 1
        )
        assert _count(data / "crm.sqlite3", "SELECT count(*) FROM notes") == 1
        assert _count(data / "outbox.sqlite3", "SELECT count(*) FROM messages") == 1
    finally:
        for proc in [api, doomed, survivor]:
            if proc and proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=30)


def test_a_worker_told_to_stop_leaves_within_its_deadline(
    distributed: dict[str, str], tmp_path: Path
) -> None:
    """A worker whose lead is stuck on a call that ignores cancellation still leaves after
    SIGTERM, within `EXIT_DEADLINE_S`, saying so; the lead stays queued for another worker."""
    from cli import EXIT_DEADLINE_S

    api, url = _serve(distributed, tmp_path)
    log = tmp_path / "stuck.log"
    stuck = spawn([], distributed, log, program=["-m", "tests.fakes.stuck_worker"])
    try:
        with httpx.Client(base_url=url, timeout=10, headers=ADMIN) as client:
            client.post("/webhooks/lead", json=lead_payload()).raise_for_status()
        deadline = time.monotonic() + 60
        while b"for ever" not in log.read_bytes():
            assert time.monotonic() < deadline, log.read_text()[-2000:]
            assert stuck.poll() is None, log.read_text()[-2000:]
            time.sleep(0.1)
        stuck.terminate()
        started = time.monotonic()
        assert stuck.wait(timeout=EXIT_DEADLINE_S + 15) == 1
        assert time.monotonic() - started >= EXIT_DEADLINE_S - 1
        assert f"still stopping after {EXIT_DEADLINE_S:g} s; leaving now" in log.read_text()
    finally:
        for proc in [api, stuck]:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)
