"""What the settings open: settings without an adapter stop the start, /health names the
classes actually in use, and the Slack pacing setting reaches the notifier."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from service.settings import UnsupportedSetting, refuse_unsupported
from service.wiring import open_services
from tests.helpers import ENV_SETTINGS, ROOT, live_server, make_settings
from tools.slack import SlackNotifier

HUBSPOT = "HubSpot adapter"
CALCOM = "Cal.com adapter"
LLM = "chat-model (LLM) adapter"


@pytest.mark.parametrize(
    ("setting", "value", "missing"),
    [
        ("HUBSPOT_ACCESS_TOKEN", "pat-na1-0000", HUBSPOT),
        ("HUBSPOT_API_URL", "http://127.0.0.1:9", HUBSPOT),
        ("CALCOM_API_KEY", "cal_live_0000", CALCOM),
        ("CALCOM_API_URL", "http://127.0.0.1:9", CALCOM),
        ("LLM_MODEL", "gpt-4o-mini", LLM),
    ],
)
def test_a_setting_without_an_adapter_is_refused_naming_it(
    tmp_path: Path, setting: str, value: str, missing: str
) -> None:
    """Each reserved setting is refused with its name, what is missing and to unset it."""
    with pytest.raises(UnsupportedSetting) as refused:
        refuse_unsupported(make_settings(tmp_path, **{setting: value}))
    message = str(refused.value)
    assert setting in message and missing in message and "unset it" in message


def test_every_refused_setting_is_named_in_one_line(tmp_path: Path) -> None:
    """Several reserved settings are refused together, each named, on one line."""
    settings = make_settings(
        tmp_path, HUBSPOT_ACCESS_TOKEN="pat", HUBSPOT_API_URL="http://h", LLM_MODEL="m"
    )
    with pytest.raises(UnsupportedSetting) as refused:
        refuse_unsupported(settings)
    message = str(refused.value)
    assert "HUBSPOT_ACCESS_TOKEN and HUBSPOT_API_URL are set" in message
    assert "LLM_MODEL is set" in message
    assert "\n" not in message


def test_openai_settings_for_embeddings_are_not_refused(tmp_path: Path) -> None:
    """OPENAI_API_KEY and OPENAI_BASE_URL serve EMBEDDINGS_MODEL, so they alone start."""
    settings = make_settings(
        tmp_path,
        EMBEDDINGS_MODEL="text-embedding-3-small",
        OPENAI_API_KEY="sk-local",
        OPENAI_BASE_URL="http://127.0.0.1:9/v1",
    )
    refuse_unsupported(settings)


async def test_services_do_not_open_with_a_hubspot_token(tmp_path: Path) -> None:
    """open_services refuses HUBSPOT_ACCESS_TOKEN before opening any backend."""
    settings = make_settings(tmp_path, HUBSPOT_ACCESS_TOKEN="pat-na1-0000")
    with pytest.raises(UnsupportedSetting, match="HUBSPOT_ACCESS_TOKEN"):
        async with open_services(settings):
            pass
    assert not (settings.data_dir / "crm.sqlite3").exists()


def test_serve_with_a_hubspot_token_exits_with_one_line_naming_it(tmp_path: Path) -> None:
    """`cli.py serve` with HUBSPOT_ACCESS_TOKEN set exits 2 with one line saying to unset it."""
    env = {
        **{k: v for k, v in os.environ.items() if k not in ENV_SETTINGS},
        "DATA_DIR": str(tmp_path / "data"),
        "HUBSPOT_ACCESS_TOKEN": "pat-na1-0000",
    }
    done = subprocess.run(
        [sys.executable, str(ROOT / "cli.py"), "serve", "--port", "9"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == [
        "serve: HUBSPOT_ACCESS_TOKEN is set, but this release has no HubSpot adapter: "
        "unset it to use the built-in CRM"
    ]


def test_health_names_the_redis_store_when_redis_url_is_set(
    tmp_path: Path, redis_url: str, redis_prefix: str
) -> None:
    """With REDIS_URL, /health names RedisStore; the concerns it does not move stay embedded."""
    settings = make_settings(tmp_path, REDIS_URL=redis_url, REDIS_PREFIX=redis_prefix)
    with live_server(settings) as url:
        resp = httpx.get(f"{url}/health", timeout=10)
    assert resp.status_code == 200
    checks = resp.json()["checks"]
    assert checks["store"] == {"backend": "RedisStore", "ok": True}
    assert checks["queue"]["backend"] == "InMemoryBroker"
    assert checks["checkpoints"]["backend"] == "AsyncSqliteSaver"
    assert checks["crm"]["backend"] == "BuiltinCRM"


async def test_slack_pacing_comes_from_its_setting(tmp_path: Path) -> None:
    """SLACK_MIN_POST_INTERVAL_S sets the Slack notifier's per-channel pacing (default 1 s)."""
    slack = {"SLACK_BOT_TOKEN": "xoxb-test", "SLACK_API_URL": "http://127.0.0.1:9/api/"}
    assert make_settings(tmp_path, **slack).slack_min_post_interval_s == 1.0
    settings = make_settings(tmp_path, SLACK_MIN_POST_INTERVAL_S=0.25, **slack)
    async with open_services(settings) as services:
        notifier = services.context.notifier
        assert isinstance(notifier, SlackNotifier)
        assert notifier.min_interval_s == 0.25
