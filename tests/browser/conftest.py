"""A live service with real leads in it, and Debian's Chromium driven by Playwright.

The data directory is filled the way production fills it: a lead whose rep message could not
be sent (the notifier was down) is left failed, then the service starts on the same directory
and the sample leads are posted to its webhook. Chromium is the system one
(`CHROMIUM_PATH`, default /usr/bin/chromium; `make browser` installs it): without it these
tests fail under CI=true and are skipped elsewhere.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.wiring import Overrides, open_services
from tests.helpers import ROOT, lead_payload, live_server, make_settings, submit, unavailable
from tools.ports import Notifier

TOKEN = "console-test-token"
CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
SCREENSHOTS = Path(os.environ.get("SCREENSHOT_DIR", ROOT / "data" / "screenshots"))
SAMPLES = ROOT / "infra" / "sample_leads.jsonl"
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


class DownNotifier:
    """A notifier whose sends fail, as when Slack is unreachable (it wraps the real outbox)."""

    def __init__(self, real: Notifier) -> None:
        self.real = real

    async def ping(self) -> None:
        await self.real.ping()

    async def send(self, key: str, message: Any) -> dict[str, Any]:
        raise ConnectionError("rep notifier unreachable")

    async def update(self, receipt: dict[str, Any], text: str, blocks: Any) -> dict[str, Any]:
        raise ConnectionError("rep notifier unreachable")


@dataclass(frozen=True)
class Console:
    """The running service: its URL, the failed lead's id and the sample leads' ids."""

    url: str
    failed_lead: str
    failed_email: str
    leads: list[str]
    admin: httpx.Client


async def _leave_a_failed_lead(settings: Any) -> tuple[str, str]:
    payload = lead_payload(
        email="maria.keller@northwind-freight.de",
        first_name="Maria",
        last_name="Keller",
        title="Head of Revenue Operations",
        message="We route 2,000 inbound leads a month by hand. Can we see a demo next week?",
    )
    async with open_services(settings, Overrides(wrap_notifier=DownNotifier)) as services:
        lead_id = await submit(services, payload, source="website")
        assert await services.runner.process(lead_id) == "failed"
    return lead_id, payload["email"]


def _post_samples(client: httpx.Client, count: int) -> list[str]:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    ids = []
    for line in SAMPLES.read_text(encoding="utf-8").splitlines()[:count]:
        body = {k: v for k, v in json.loads(line).items() if k != "_expect"}
        body.setdefault("submitted_at", stamp)
        resp = client.post("/webhooks/lead", json=body)
        if resp.status_code == 202:
            ids.append(resp.json()["lead_id"])
        time.sleep(0.05)  # 20 a second, as `make demo` posts them
    return ids


def _settle(client: httpx.Client, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        leads = client.get("/admin/leads", params={"limit": 500}).json()["leads"]
        if not any(lead["status"] in {"queued", "processing"} for lead in leads):
            return
        time.sleep(0.1)
    raise AssertionError("sample leads still running")


@pytest.fixture(scope="package")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    """The service on embedded defaults with ADMIN_TOKEN set, one failed lead and the first
    60 sample leads routed."""
    settings = make_settings(
        tmp_path_factory.mktemp("console"), ADMIN_TOKEN=TOKEN, NODE_MAX_ATTEMPTS=1
    )
    # In a thread of its own: Playwright's sync API keeps an event loop on this one.
    with ThreadPoolExecutor(1) as thread:
        failed, email = thread.submit(asyncio.run, _leave_a_failed_lead(settings)).result()
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with (
        live_server(settings) as url,
        httpx.Client(base_url=url, timeout=10, headers=headers) as admin,
    ):
        leads = _post_samples(admin, 60)
        _settle(admin)
        yield Console(url, failed, email, leads, admin)


@pytest.fixture(scope="package")
def chromium() -> Iterator[Any]:
    """Chromium from the system's packages, headless, with a fresh profile (Playwright's
    `launch` gives each browser its own temporary user data directory). Package-scoped:
    Playwright's sync API runs an event loop on this thread until it stops, which the async
    tests after this package must not find running."""
    if not CHROMIUM.is_file():
        unavailable(f"Chromium is not installed at {CHROMIUM}", hint="run `make browser`")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("the playwright package is not installed", hint="run `make install`")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="package", autouse=True)
def _chromium_first(chromium: Any) -> Any:
    """Find Chromium before starting the service, so a missing browser is reported at once."""
    return chromium


@pytest.fixture
def page(chromium: Any) -> Iterator[Any]:
    """A new browser context (no cookies) and page, laptop-sized."""
    context = chromium.new_context(viewport={"width": 1440, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()


def sign_in(page: Any, url: str, token: str = TOKEN) -> None:
    """Sign in through the login form."""
    page.goto(f"{url}/console/login")
    page.get_by_label("Admin token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/console/leads")
