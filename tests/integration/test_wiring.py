"""What the settings open: the Slack pacing setting reaches the notifier."""

from __future__ import annotations

from pathlib import Path

from service.wiring import open_services
from tests.helpers import make_settings
from tools.slack import SlackNotifier


async def test_slack_pacing_comes_from_its_setting(tmp_path: Path) -> None:
    """SLACK_MIN_POST_INTERVAL_S sets the Slack notifier's per-channel pacing (default 1 s)."""
    slack = {"SLACK_BOT_TOKEN": "xoxb-test", "SLACK_API_URL": "http://127.0.0.1:9/api/"}
    assert make_settings(tmp_path, **slack).slack_min_post_interval_s == 1.0
    settings = make_settings(tmp_path, SLACK_MIN_POST_INTERVAL_S=0.25, **slack)
    async with open_services(settings) as services:
        notifier = services.context.notifier
        assert isinstance(notifier, SlackNotifier)
        assert notifier.min_interval_s == 0.25
