"""Test helpers: settings in a temp dir, leads run through the graph, recorded retry waits,
a live HTTP server, polling, subprocesses."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import httpx
import pytest
import uvicorn

from service.runner import thread_config
from service.settings import Settings
from tools.ports import LeadRecord

if TYPE_CHECKING:
    from service.wiring import Services

ROOT = Path(__file__).resolve().parent.parent

# Settings a test process could inherit from the developer's environment: tests see only what
# they set (make_settings passes them as unset, spawn leaves them out of the child's environment).
ENV_SETTINGS = [
    "REDIS_URL",
    "QUEUE_URL",
    "DATABASE_URL",
    "WEBHOOK_SECRET",
    "ADMIN_TOKEN",
    "ADMIN_OPEN",
    "DATA_DIR",
    "HUBSPOT_ACCESS_TOKEN",
    "HUBSPOT_API_URL",
    "HUBSPOT_CLIENT_SECRET",
    "SLACK_BOT_TOKEN",
    "PINECONE_API_KEY",
    "EMBEDDINGS_MODEL",
    "OPENAI_API_KEY",
    "LLM_MODEL",
    "OPENAI_BASE_URL",
    "CALCOM_API_KEY",
    "CALCOM_API_URL",
    "CALCOM_WEBHOOK_SECRET",
    "PROMETHEUS_MULTIPROC_DIR",
]


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    """Settings on embedded defaults in `tmp_path`, fast retries, plus the given overrides.

    The backend settings in ENV_SETTINGS are unset unless given, whatever the environment says.
    """
    values: dict[str, Any] = {name: None for name in ENV_SETTINGS}
    values.update(
        {
            "DATA_DIR": tmp_path / "data",
            # The admin API, outcomes and replies answer without credentials, as on a machine of
            # one's own; tests of the closed default pass ADMIN_OPEN=False.
            "ADMIN_OPEN": True,
            "LOG_LEVEL": "WARNING",
            "NODE_RETRY_INITIAL_S": 0,
            "RECOVERY_INTERVAL_S": 0.5,
        }
    )
    values.update(overrides)
    return Settings(_env_file=None, **values)


def lead_payload(**fields: Any) -> dict[str, Any]:
    """A valid lead at a known sample account, with a unique event id."""
    body: dict[str, Any] = {
        "email": f"lena.{uuid.uuid4().hex[:8]}@northwind-freight.de",
        "first_name": "Lena",
        "last_name": "Brandt",
        "company": "Northwind Freight GmbH",
        "title": "VP Sales",
        "country": "Germany",
        "message": "Can we see a demo this week? Our contract ends this quarter.",
        "form_id": "demo-request",
        "event_id": f"evt-{uuid.uuid4().hex}",
    }
    body.update(fields)
    return body


async def submit(services: Services, payload: dict[str, Any], **fields: Any) -> str:
    """Store a lead as the webhook does and return its id; `fields` override the record's."""
    lead_id = str(uuid.uuid4())
    now = datetime.now(UTC).isoformat()
    values: dict[str, Any] = {
        "lead_id": lead_id,
        "key": f"test:{lead_id}",
        "payload_hash": "h",
        "payload": payload,
        "source": "test",
        "received_at": now,
        "updated_at": now,
        "email": payload["email"],
    }
    values.update(fields)
    record = LeadRecord(**values)
    assert (await services.store.claim(record)).created
    return record.lead_id


async def lead_state(services: Services, lead_id: str) -> dict[str, Any]:
    """The lead's graph state as its last checkpoint holds it."""
    snapshot = await services.graph.aget_state(thread_config(lead_id))
    return dict(snapshot.values)


async def submit_and_run(services: Services, payload: dict[str, Any]) -> dict[str, Any]:
    """Store the lead as the webhook would, run it to completion, and return its final state."""
    lead_id = await submit(services, payload)
    assert await services.runner.process(lead_id) == "completed"
    return await lead_state(services, lead_id)


class Clock:
    """A clock for `Overrides(clock=...)` that shows `now` until a test moves it."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class Waits:
    """Stands in for asyncio.sleep in an adapter's retries: records each wait, returns at once."""

    def __init__(self) -> None:
        self.seconds: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.seconds.append(seconds)


def wait_for(predicate: Callable[[], Any], timeout: float = 30.0, every: float = 0.05) -> Any:
    """Poll until `predicate()` is truthy and return it; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(every)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def live_server(settings: Settings) -> Iterator[str]:
    """Run the API under uvicorn in a thread; yield its base URL."""
    from app import create_app

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings), host="127.0.0.1", port=port, log_level="warning", lifespan="on"
        )
    )
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    wait_for(lambda: server.started or not thread.is_alive(), timeout=30)
    assert server.started, "server did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def wait_status(
    client: httpx.Client, lead_id: str, statuses: set[str], timeout: float = 30.0
) -> dict[str, Any]:
    """Poll the admin API until the lead has one of `statuses`; return its record."""

    def check() -> dict[str, Any] | None:
        resp = client.get(f"/admin/leads/{lead_id}")
        if resp.status_code == 200 and resp.json()["status"] in statuses:
            return dict(resp.json())
        return None

    return dict(wait_for(check, timeout=timeout))


def spawn(
    args: list[str], env: dict[str, str], log: Path, *, program: list[str] | None = None
) -> subprocess.Popen[bytes]:
    """Start `python cli.py <args>` (or `python <program> <args>`) with `env` added to a clean
    environment, its output appended to `log`; it runs in `log`'s folder, so a developer's
    `.env` in the checkout is not read."""
    base = {k: v for k, v in os.environ.items() if k not in ENV_SETTINGS}
    handle = log.open("ab")
    return subprocess.Popen(
        [sys.executable, *(program or [str(ROOT / "cli.py")]), *args],
        cwd=log.parent,
        # `-m tests.fakes...` programs import from the checkout, which is not the folder.
        env={
            **base,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), base.get("PYTHONPATH")])),
            **env,
        },
        stdout=handle,
        stderr=subprocess.STDOUT,
    )


def unavailable(message: str, *, hint: str) -> NoReturn:
    """Fail under CI=true (what CI needs must be there), else skip with the message and hint."""
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(f"{message} (CI=true: these tests must run)", pytrace=False)
    pytest.skip(f"{message}; {hint}")


def serve_process(env: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """`python cli.py serve` on a free port with `env`; its process and base URL once
    `/health` answers 200."""
    port = free_port()
    proc = spawn(["serve", "--port", str(port)], env, log)
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return httpx.get(f"{url}/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_for(up, timeout=60, every=0.2)
    return proc, url
