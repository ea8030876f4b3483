"""The console's sessions over HTTP: what a cookie must be to open a page."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import httpx

from api.console_auth import COOKIE
from tests.helpers import live_server, make_settings


@contextlib.contextmanager
def console(tmp_path: Path, token: str, **cookies: str) -> Iterator[httpx.Client]:
    """A client of a live service whose ADMIN_TOKEN is `token`."""
    with (
        live_server(make_settings(tmp_path, ADMIN_TOKEN=token)) as url,
        httpx.Client(base_url=url, cookies=cookies) as client,
    ):
        yield client


def _signed_in(client: httpx.Client, token: str) -> str:
    resp = client.post("/console/login", data={"token": token})
    assert resp.status_code == 303
    return resp.cookies[COOKIE]


def test_a_tampered_session_cookie_is_sent_to_the_login(tmp_path: Path) -> None:
    """A cookie whose signature does not match is no session."""
    with console(tmp_path, "t-one") as client:
        cookie = _signed_in(client, "t-one")
        assert client.get("/console/leads").status_code == 200
        client.cookies.set(COOKIE, cookie[:-2] + "xx", path="/console")
        resp = client.get("/console/leads")
    assert resp.status_code == 303
    assert resp.headers["location"].startswith("/console/login")


def test_changing_the_admin_token_ends_every_session(tmp_path: Path) -> None:
    """A session signed under the old token opens nothing once the token has changed."""
    with console(tmp_path, "old-token") as client:
        cookie = _signed_in(client, "old-token")
    with console(tmp_path, "old-token", **{COOKIE: cookie}) as client:
        assert client.get("/console/dashboard").status_code == 200  # the cookie alone opens it
    with console(tmp_path, "new-token", **{COOKIE: cookie}) as client:
        resp = client.get("/console/dashboard")
    assert resp.status_code == 303
    assert resp.headers["location"].startswith("/console/login")


def test_the_login_only_sends_you_on_inside_the_console(tmp_path: Path) -> None:
    """A `next` pointing at another site lands on the lead list instead."""
    with console(tmp_path, "t") as client:
        resp = client.post("/console/login", data={"token": "t", "next": "https://example.com/x"})
    assert resp.status_code == 303 and resp.headers["location"] == "/console/leads"


def test_the_console_is_not_part_of_the_api_schema(tmp_path: Path) -> None:
    """The console's HTML routes stay out of the OpenAPI schema."""
    with console(tmp_path, "t") as client:
        paths = client.get("/openapi.json").json()["paths"]
    assert not [path for path in paths if path.startswith("/console")]
