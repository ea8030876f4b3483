"""What the settings open: settings without an adapter stop the start, /health names the
classes actually in use, the Slack pacing and Cal.com settings reach their adapters, and a
messy accounts file costs its bad rows, not the start."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import httpx
import pytest
import structlog
from structlog.testing import capture_logs

from service import wiring
from service.settings import UnsupportedSetting, refuse_unsupported
from service.wiring import Overrides, open_services
from tests.helpers import ENV_SETTINGS, ROOT, live_server, make_settings
from tools.accounts_read_file import kept_path
from tools.aside import Aside, start_aside
from tools.calendar_calcom import CalcomCalendar
from tools.slack import SlackNotifier

MESSY_ACCOUNTS = (
    "account_id,name,domain,website,owner_email,employees,country\n"
    "A-1,Acme Robotics,acme.com,,ana@example.com,1200,US\n"
    "A-2,Hollow Tree Partners,,https://www.htp,,lots,US\n"
    "ACC-00313,Brightwater Analytics,,,ben@example.com,,GB\n"
    "A-1,Acme Again,acme-again.com,,,,US\n"
)


@pytest.mark.parametrize(
    ("given", "needed"),
    [
        ({"HUBSPOT_API_URL": "http://127.0.0.1:9"}, "HUBSPOT_ACCESS_TOKEN"),
        ({"CALCOM_API_URL": "http://127.0.0.1:9"}, "CALCOM_API_KEY"),
        ({"CALCOM_APP_URL": "http://127.0.0.1:9"}, "CALCOM_API_KEY"),
        ({"LLM_MODEL": "gpt-4o-mini"}, "OPENAI_API_KEY"),
    ],
)
def test_a_setting_that_needs_another_is_refused_naming_both(
    tmp_path: Path, given: dict[str, str], needed: str
) -> None:
    """An address or model without its key is refused, naming both and what to do."""
    with pytest.raises(UnsupportedSetting) as refused:
        refuse_unsupported(make_settings(tmp_path, **given))
    message = str(refused.value)
    assert next(iter(given)) in message and f"{needed} is not" in message


def test_every_refused_setting_is_named_in_one_line(tmp_path: Path) -> None:
    """Several reserved settings are refused together, each named, on one line."""
    settings = make_settings(tmp_path, HUBSPOT_API_URL="http://h", LLM_MODEL="m")
    with pytest.raises(UnsupportedSetting) as refused:
        refuse_unsupported(settings)
    message = str(refused.value)
    assert "HUBSPOT_API_URL is set but HUBSPOT_ACCESS_TOKEN is not" in message
    assert "LLM_MODEL is set" in message
    assert "\n" not in message


def test_a_language_model_without_a_key_is_refused_saying_what_to_set(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedSetting) as refused:
        refuse_unsupported(make_settings(tmp_path, LLM_MODEL="gpt-4o-mini"))
    assert "OPENAI_API_KEY is not" in str(refused.value)
    refuse_unsupported(make_settings(tmp_path, LLM_MODEL="gpt-4o-mini", OPENAI_API_KEY="x"))


def test_openai_settings_for_embeddings_are_not_refused(tmp_path: Path) -> None:
    """OPENAI_API_KEY and OPENAI_BASE_URL serve EMBEDDINGS_MODEL, so they alone start."""
    settings = make_settings(
        tmp_path,
        EMBEDDINGS_MODEL="text-embedding-3-small",
        OPENAI_API_KEY="sk-local",
        OPENAI_BASE_URL="http://127.0.0.1:9/v1",
    )
    refuse_unsupported(settings)


async def test_services_do_not_open_with_a_hubspot_url_but_no_token(tmp_path: Path) -> None:
    """open_services refuses HUBSPOT_API_URL without a token before opening any backend."""
    settings = make_settings(tmp_path, HUBSPOT_API_URL="http://127.0.0.1:9")
    with pytest.raises(UnsupportedSetting, match="HUBSPOT_ACCESS_TOKEN is not"):
        async with open_services(settings):
            pass
    assert not (settings.data_dir / "crm.sqlite3").exists()


def test_serve_with_a_hubspot_url_but_no_token_exits_with_one_line(tmp_path: Path) -> None:
    """`cli.py serve` with HUBSPOT_API_URL and no token exits 2 with one line saying why."""
    env = {
        **{k: v for k, v in os.environ.items() if k not in ENV_SETTINGS},
        "DATA_DIR": str(tmp_path / "data"),
        "HUBSPOT_API_URL": "http://127.0.0.1:9",
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
        "serve: HUBSPOT_API_URL is set but HUBSPOT_ACCESS_TOKEN is not: set the private "
        "app's token or unset HUBSPOT_API_URL to use the built-in CRM"
    ]


def test_health_names_the_redis_store_when_redis_url_is_set(
    tmp_path: Path, redis_url: str, redis_prefix: str
) -> None:
    """With REDIS_URL, /health names RedisStore; the concerns it does not move stay embedded."""
    settings = make_settings(
        tmp_path, REDIS_URL=redis_url, REDIS_PREFIX=redis_prefix, ADMIN_TOKEN="t0ken"
    )
    with live_server(settings) as url:
        resp = httpx.get(f"{url}/health", headers={"Authorization": "Bearer t0ken"}, timeout=10)
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


def test_a_cal_com_url_without_its_key_is_refused_saying_what_to_set(tmp_path: Path) -> None:
    """CALCOM_API_URL alone is refused naming CALCOM_API_KEY; with the key both start."""
    with pytest.raises(UnsupportedSetting) as refused:
        refuse_unsupported(make_settings(tmp_path, CALCOM_API_URL="http://127.0.0.1:9"))
    assert "CALCOM_API_KEY is not" in str(refused.value)
    refuse_unsupported(
        make_settings(tmp_path, CALCOM_API_KEY="cal_live_0000", CALCOM_API_URL="http://127.0.0.1:9")
    )


@pytest.mark.parametrize("shadow", [False, True])
async def test_a_cal_com_key_selects_the_cal_com_calendar(tmp_path: Path, shadow: bool) -> None:
    """CALCOM_API_KEY opens CalcomCalendar on CALCOM_API_URL, dry-run under SHADOW_MODE."""
    settings = make_settings(
        tmp_path,
        CALCOM_API_KEY="cal_live_0000",
        CALCOM_API_URL="http://127.0.0.1:9",
        SHADOW_MODE=shadow,
    )
    async with open_services(settings) as services:
        calendar = services.context.calendar
        health = await services.health()
    assert isinstance(calendar, CalcomCalendar)
    assert calendar.base_url == "http://127.0.0.1:9" and calendar.dry_run is shadow
    assert health["calendar"] == {"backend": "CalcomCalendar", "ok": True}


async def test_services_start_on_a_messy_accounts_file_and_log_one_summary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unusable account rows are skipped, bad values dropped, and one warning line sums it up."""
    accounts = tmp_path / "accounts.csv"
    accounts.write_text(MESSY_ACCOUNTS, encoding="utf-8")
    settings = make_settings(tmp_path, ACCOUNTS_CSV=accounts)
    # A logger not yet used: an earlier test's cached one would write past capture_logs.
    monkeypatch.setattr(wiring, "log", structlog.get_logger("lead_router.services"))

    with capture_logs() as logs:
        async with open_services(settings, Overrides()) as services:
            match = services.context.matcher.match(company_name="Brightwater Analytics")
            crm = await services.context.crm.find_company_by_domain("acme.com")

    assert match is not None and match.account_id == "ACC-00313"
    assert crm is not None and crm["id"] == "A-1"
    summaries = [entry for entry in logs if entry["event"] == "accounts"]
    assert len(summaries) == 1
    summary = summaries[0]
    assert summary["log_level"] == "warning"
    assert (summary["loaded"], summary["skipped"], summary["warnings"]) == (3, 1, 3)
    assert summary["warnings_by_kind"] == {"bad_employees": 1, "bad_website": 1, "no_domain": 1}
    assert summary["first"][0] == (
        f"{accounts}:5: skipped: duplicate account_id 'A-1' (first on line 2)"
    )


async def test_strict_accounts_stop_the_start_at_the_first_bad_row(tmp_path: Path) -> None:
    """ACCOUNTS_STRICT=true refuses the same file at its first bad row, with file:line."""
    accounts = tmp_path / "accounts.csv"
    accounts.write_text(MESSY_ACCOUNTS, encoding="utf-8")
    settings = make_settings(tmp_path, ACCOUNTS_CSV=accounts, ACCOUNTS_STRICT=True)

    with pytest.raises(ValueError) as refused:
        async with open_services(settings, Overrides()):
            pass
    assert (
        str(refused.value) == f"{accounts}:3: website 'https://www.htp' has no registrable domain"
    )


async def test_a_start_with_work_aside_opens_the_same_crm_index_and_kept_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """From ASIDE_MIN_ROWS accounts a forked child seeds the CRM and keeps the read; what the
    start opens is what a start doing it all itself opens, and a restart reads it back."""
    accounts = tmp_path / "accounts.csv"
    accounts.write_text(MESSY_ACCOUNTS, encoding="utf-8")
    started: list[Aside] = []

    def start_and_note(what: str, jobs: Sequence[Callable[[], object]]) -> Aside:
        started.append(start_aside(what, jobs))
        return started[-1]

    monkeypatch.setattr(wiring, "start_aside", start_and_note)
    opened = {}
    for how, least in (("here", 10**9), ("aside", 1)):
        monkeypatch.setattr(wiring, "ASIDE_MIN_ROWS", least)
        settings = make_settings(tmp_path / how, ACCOUNTS_CSV=accounts)
        async with open_services(settings, Overrides()) as services:
            crm = services.context.crm
            matcher = services.context.matcher
            opened[how] = (
                [await crm.find_company_by_domain(d) for d in ("acme.com", "acme-again.com")],
                matcher.match(company_name="Brightwater Analytics"),
                sorted(path.name for path in settings.data_dir.iterdir()),
            )
            companies = await crm.counts()
        assert companies["companies"] == 3

    (here_crm, here_match, here_files), (aside_crm, aside_match, aside_files) = (
        opened["here"],
        opened["aside"],
    )
    assert [c and (c["id"], c["name"], c["properties"]) for c in aside_crm] == [
        c and (c["id"], c["name"], c["properties"]) for c in here_crm
    ]
    assert aside_match == here_match and aside_match is not None
    assert aside_files == here_files
    assert any(name.startswith("accounts_read.") for name in aside_files)
    assert len(started) == 1 and started[0].pid not in (None, os.getpid())
    assert await started[0].wait() is True


async def test_a_company_directory_is_read_matched_and_kept_beside_the_accounts(
    tmp_path: Path,
) -> None:
    """COMPANY_DIRECTORY's companies are matched beside the team's accounts, and what reading
    each file gave is kept in DATA_DIR for the next start."""
    accounts = tmp_path / "accounts.csv"
    accounts.write_text(MESSY_ACCOUNTS, encoding="utf-8")
    directory = tmp_path / "directory.csv"
    directory.write_text(
        "account_id,name,domain\nD-1,Marrowfield Instruments,marrowfield.io\n", encoding="utf-8"
    )
    settings = make_settings(tmp_path, ACCOUNTS_CSV=accounts, COMPANY_DIRECTORY=directory)

    async with open_services(settings, Overrides()) as services:
        found = services.context.matcher.match(company_name="Marrowfield Instruments")

    assert found is not None and found.account_id == "D-1"
    for path in (accounts, directory):
        assert kept_path(settings.data_dir, path).is_file()
