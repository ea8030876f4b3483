"""Faults on the production backends: a worker killed with leads queued behind it, Redis
stopped and started again under load, PostgreSQL out of reach for a while. Every lead completes
exactly once (one rep message, one CRM note) within a bounded time, senders are told to retry
while Redis is away, and each process says once that a backend went and once that it is back.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import sqlite3
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest
import redis

from tests.fakes.tcp_proxy import running_proxy
from tests.helpers import free_port, lead_payload, spawn, unavailable, wait_for

pytestmark = pytest.mark.slow

ADMIN_TOKEN = "faults-admin-token"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
CONCURRENCY = 4


def _env(data: Path, redis_url: str, prefix: str, postgres_url: str) -> dict[str, str]:
    """Environment for an API process and workers sharing Redis and PostgreSQL.

    Leases are short so a test need not wait long for a dead worker's lead; the sweep's
    patience with queued leads (QUEUE_REDELIVER_AFTER_MS) keeps its default, so a lead held by
    a dead worker is taken over by the stream, not found by the sweep a minute later.
    """
    return {
        "DATA_DIR": str(data),
        "REDIS_URL": redis_url,
        "REDIS_PREFIX": prefix,
        "QUEUE_URL": redis_url,
        "QUEUE_NAME": f"{prefix}queue",
        "DATABASE_URL": postgres_url,
        "LOG_LEVEL": "INFO",
        "NODE_RETRY_INITIAL_S": "0",
        "LEASE_TTL_MS": "1500",
        "RECOVERY_INTERVAL_S": "0.5",
        "WORKER_CONCURRENCY": str(CONCURRENCY),
        "ADMIN_TOKEN": ADMIN_TOKEN,
    }


@contextlib.contextmanager
def _processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Processes a test starts; each still running at the end is stopped."""
    started: list[subprocess.Popen[bytes]] = []
    try:
        yield started
    finally:
        for proc in started:
            if proc.poll() is None:
                proc.terminate()
        for proc in started:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=20)
            if proc.poll() is None:
                proc.kill()


def _serve(env: dict[str, str], log: Path, procs: list[subprocess.Popen[bytes]]) -> str:
    port = free_port()
    procs.append(spawn(["serve", "--port", str(port)], env, log))
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return httpx.get(f"{url}/health", timeout=1).status_code in (200, 503)
        except httpx.HTTPError:
            return False

    wait_for(up, timeout=60, every=0.2)
    return url


def _worker(
    env: dict[str, str], log: Path, procs: list[subprocess.Popen[bytes]], *, crash_after: str = ""
) -> subprocess.Popen[bytes]:
    program = ["-m", "tests.fakes.crash_worker"] if crash_after else None
    args = [crash_after] if crash_after else ["worker"]
    proc = spawn(args, env, log, program=program)
    procs.append(proc)
    wait_for(lambda: "worker ready" in log.read_text(errors="replace"), timeout=60, every=0.1)
    return proc


def _post(client: httpx.Client, payload: dict[str, Any]) -> httpx.Response:
    return client.post("/webhooks/lead", json=payload)


def _accepted(client: httpx.Client, payload: dict[str, Any]) -> dict[str, Any] | None:
    """The answer to a post once the lead is taken (202, or 200 for a resend), else None."""
    resp = _post(client, payload)
    if resp.status_code == 503:
        return None
    assert resp.status_code in (200, 202), resp.text
    return dict(resp.json())


def _completed(client: httpx.Client) -> set[str]:
    resp = client.get("/admin/leads", params={"status": "completed", "limit": 500})
    return {lead["lead_id"] for lead in resp.json()["leads"]} if resp.status_code == 200 else set()


def _failed(client: httpx.Client) -> list[dict[str, Any]]:
    resp = client.get("/admin/leads", params={"status": "failed", "limit": 500})
    return list(resp.json()["leads"]) if resp.status_code == 200 else []


def _assert_each_once(data: Path, lead_ids: set[str]) -> None:
    """One rep message per lead and one CRM note per lead, nothing else."""
    with sqlite3.connect(data / "outbox.sqlite3") as conn:
        per_lead = dict(conn.execute("SELECT lead_id, count(*) FROM messages GROUP BY lead_id"))
    assert per_lead == dict.fromkeys(lead_ids, 1)
    with sqlite3.connect(data / "crm.sqlite3") as conn:
        assert conn.execute("SELECT count(*) FROM notes").fetchone()[0] == len(lead_ids)


def _log_lines(log: Path, event: str) -> list[dict[str, Any]]:
    lines = []
    for line in log.read_text(errors="replace").splitlines():
        with contextlib.suppress(ValueError):
            entry = json.loads(line)
            if isinstance(entry, dict) and entry.get("event") == event:
                lines.append(entry)
    return lines


def test_a_killed_workers_leads_are_taken_over_within_seconds(
    tmp_path: Path, redis_url: str, redis_prefix: str, postgres_url: str
) -> None:
    """A worker SIGKILLed mid-lead with 24 leads queued held no more messages than it runs at
    once; a new worker claims those and runs the rest, each lead once, in seconds."""
    env = _env(tmp_path / "data", redis_url, redis_prefix, postgres_url)
    with _processes() as procs, httpx.Client(timeout=10, headers=ADMIN) as client:
        client.base_url = httpx.URL(_serve(env, tmp_path / "api.log", procs))
        ids = {_post(client, lead_payload()).json()["lead_id"] for _ in range(24)}
        doomed = _worker(env, tmp_path / "doomed.log", procs, crash_after="crm.contact")
        assert doomed.wait(timeout=60) == -9, "the worker was not killed"
        killed_at = time.monotonic()
        stream = redis.Redis.from_url(redis_url)
        try:
            consumers = stream.xinfo_consumers(env["QUEUE_NAME"], f"{env['QUEUE_NAME']}-workers")
        finally:
            stream.close()
        assert sum(c["pending"] for c in consumers) <= CONCURRENCY, consumers

        _worker(env, tmp_path / "survivor.log", procs)
        wait_for(lambda: _completed(client) >= ids, timeout=30, every=0.2)
        took = time.monotonic() - killed_at
        assert _failed(client) == []
    _assert_each_once(tmp_path / "data", ids)
    print(f"all 24 leads completed {took:.1f} s after the kill")


class OwnRedis:
    """A redis-server of the test's own on a free port, stopped and started at will; its
    append-only file (fsync on every write) keeps the data across a restart."""

    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            unavailable("redis-server is not installed", hint="install Redis (apt redis-server)")
        self.binary = binary
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.dir),
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
            ],
            stdout=(self.dir / "redis.log").open("ab"),
            stderr=subprocess.STDOUT,
        )
        client = redis.Redis.from_url(self.url)
        try:

            def answers() -> bool:
                with contextlib.suppress(redis.RedisError):
                    return bool(client.ping())
                return False

            wait_for(answers, timeout=20, every=0.05)
        finally:
            client.close()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=20)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    server = OwnRedis(tmp_path / "redis")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_redis_stopped_and_started_under_load_loses_and_doubles_nothing(
    tmp_path: Path, own_redis: OwnRedis, postgres_url: str
) -> None:
    """Redis stops with leads running and a worker is SIGKILLed meanwhile: posts get 503 with
    Retry-After naming Redis, /health says only what is down, each process logs the outage
    once and no traceback; once Redis is back every lead, resent ones too, completes once."""
    prefix = f"faults:{uuid.uuid4().hex[:8]}:"
    env = _env(tmp_path / "data", own_redis.url, prefix, postgres_url)
    with _processes() as procs, httpx.Client(timeout=30, headers=ADMIN) as client:
        client.base_url = httpx.URL(_serve(env, tmp_path / "api.log", procs))
        doomed = _worker(env, tmp_path / "doomed.log", procs)
        _worker(env, tmp_path / "worker.log", procs)
        ids = {_post(client, lead_payload()).json()["lead_id"] for _ in range(12)}

        own_redis.stop()
        doomed.kill()
        doomed.wait(timeout=20)
        refused = [lead_payload() for _ in range(5)]
        for payload in refused:
            resp = _post(client, payload)
            assert resp.status_code == 503, resp.text
            assert resp.headers["content-type"] == "application/problem+json"
            assert int(resp.headers["retry-after"]) > 0
            assert resp.json()["backend"] == "redis"
        health = httpx.get(f"{client.base_url}/health", timeout=10)
        assert health.status_code == 503
        assert health.json()["checks"]["store"] == {"ok": False}
        wait_for(
            lambda: _log_lines(
                tmp_path / "worker.log", "backend unreachable; retrying with backoff"
            ),
            timeout=20,
        )
        time.sleep(2)  # a few seconds of outage, for the worker to try and back off

        own_redis.start()
        for payload in refused:  # as the sender does, until it is taken
            taken = wait_for(lambda p=payload: _accepted(client, p), timeout=20, every=0.5)
            ids.add(taken["lead_id"])
        wait_for(lambda: _completed(client) >= ids, timeout=45, every=0.2)
        assert _failed(client) == []
    _assert_each_once(tmp_path / "data", ids)
    for log in ("api.log", "worker.log"):
        text = (tmp_path / log).read_text(errors="replace")
        assert "Traceback" not in text, log
    went = _log_lines(tmp_path / "worker.log", "backend unreachable; retrying with backoff")
    back = _log_lines(tmp_path / "worker.log", "backend reachable again")
    assert 1 <= len(went) <= 3 and {e["concern"] for e in went} == {e["concern"] for e in back}


def test_postgres_out_of_reach_for_a_while_fails_no_lead(
    tmp_path: Path, redis_url: str, redis_prefix: str, postgres_url: str
) -> None:
    """With the worker's PostgreSQL connections cut and refused mid-run, leads wait and resume
    from their checkpoints once it answers: none fails, each completes once."""
    target = urlparse(postgres_url)
    env = _env(tmp_path / "data", redis_url, redis_prefix, postgres_url)
    with (
        running_proxy(target.hostname or "127.0.0.1", target.port or 5432) as proxy,
        _processes() as procs,
        httpx.Client(timeout=10, headers=ADMIN) as client,
    ):
        through_proxy = target._replace(netloc=f"{target.username}@127.0.0.1:{proxy.port}")
        worker_env = {**env, "DATABASE_URL": through_proxy.geturl()}
        client.base_url = httpx.URL(_serve(env, tmp_path / "api.log", procs))
        _worker(worker_env, tmp_path / "worker.log", procs)
        ids = {_post(client, lead_payload()).json()["lead_id"] for _ in range(4)}
        wait_for(lambda: _completed(client) >= ids, timeout=30, every=0.1)

        running = {_post(client, lead_payload()).json()["lead_id"] for _ in range(6)}
        proxy.cut()  # those may be mid-run now
        waiting = {_post(client, lead_payload()).json()["lead_id"] for _ in range(6)}
        wait_for(
            lambda: _log_lines(
                tmp_path / "worker.log", "backend unreachable; retrying with backoff"
            ),
            timeout=20,
        )
        time.sleep(3)  # a few seconds of outage, for the leads to retry and back off
        assert not _completed(client) & waiting, "leads ran without PostgreSQL"
        proxy.restore()
        ids |= running | waiting
        wait_for(lambda: _completed(client) >= ids, timeout=45, every=0.2)
        assert _failed(client) == []
    _assert_each_once(tmp_path / "data", ids)
    assert "Traceback" not in (tmp_path / "worker.log").read_text(errors="replace")
