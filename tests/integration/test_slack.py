"""Slack notifications and interactions, with the real `slack-sdk` against a local Web API.

The notifier's `AsyncWebClient` talks HTTP to `tests/fakes/slack_server.py`, which speaks
`auth.test`, `conversations.open`, `chat.postMessage` and `chat.update`, and serves 429 with
Retry-After, 5xx pages and slow answers on demand. Timing assertions use the arrival times the
server records, never sleeps in the test.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from pydantic import SecretStr

from domain.rep_message import RepMessage, closed
from tests.fakes.slack_server import FakeSlack, running_slack
from tools.slack import MemoryReceipts, SlackError, SlackNotifier, block_kit
from tools.slack_signature import InvalidInteraction, parse_interaction, verify_slack_request

TOKEN = "xoxb-test-token"
SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
NOW = 1_767_326_130.0
LEAD_ID = "5b0c1a7e-3f1d-5e7a-9c2b-6d8e4f1a2b3c"


@pytest.fixture
def slack() -> Iterator[tuple[str, FakeSlack]]:
    """A local Slack Web API on a free port."""
    with running_slack(token=TOKEN) as served:
        yield served


def notifier(base_url: str, **options: Any) -> SlackNotifier:
    """A notifier on the local Slack with fast retries and in-memory receipts."""
    settings: dict[str, Any] = {
        "receipts": MemoryReceipts(),
        "min_interval_s": 0.0,
        "backoff_s": 0.01,
        "max_backoff_s": 0.05,
        "timeout_s": 5,
    }
    settings.update(options)
    token = settings.pop("token", TOKEN)
    return SlackNotifier(SecretStr(token), base_url=base_url, **settings)


def lead_message(channel: str, recipient: str = "ana", lead_id: str = LEAD_ID) -> RepMessage:
    """A rep message shaped as the notify node builds it."""
    return {
        "kind": "lead",
        "lead_id": lead_id,
        "channel": channel,
        "recipient": recipient,
        "text": "New book lead: Maria Costa at Acme GmbH — score 87 (A)",
        "facts": [{"label": "Email", "value": "maria.costa@acme.de"}],
        "reasons": ["+30 ICP: enterprise EMEA"],
        "message": None,
        "draft": None,
        "meeting": None,
        "decisions": ["accept", "reassign", "not_a_fit"],
    }


def sign(body: bytes, timestamp: str, secret: str = SIGNING_SECRET) -> str:
    """The v0 signature Slack sends in X-Slack-Signature."""
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def block_actions_body(action_id: str = "accept") -> bytes:
    """A form-encoded block_actions interaction as Slack posts it for a button click."""
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": {"id": "U012ANA", "username": "ana", "name": "ana", "team_id": "T0LEADRTR"},
        "api_app_id": "A0LEADAPP",
        "token": "legacy-verification-token",
        "container": {
            "type": "message",
            "message_ts": "1767326126.000042",
            "channel_id": "D0ANADM01",
            "is_ephemeral": False,
        },
        "trigger_id": "10215325802133.3901254001572.2e2548aa918b35fd85829545c2d4ae2b",
        "team": {"id": "T0LEADRTR", "domain": "lead-router-test"},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": "D0ANADM01", "name": "directmessage"},
        "message": {
            "type": "message",
            "user": "U0LEADBOT",
            "ts": "1767326126.000042",
            "bot_id": "B0LEADBOT",
            "text": "New book lead: Maria Costa at Acme GmbH — score 87 (A)",
            "blocks": block_kit(lead_message("U012ANA")),
        },
        "state": {"values": {}},
        "response_url": "https://hooks.slack.com/actions/T0LEADRTR/1234567890/abcDEF123",
        "actions": [
            {
                "type": "button",
                "block_id": f"lead:{LEAD_ID}",
                "action_id": action_id,
                "value": LEAD_ID,
                "style": "primary",
                "text": {"type": "plain_text", "text": "Accept", "emoji": True},
                "action_ts": "1767326130.289415",
            }
        ],
    }
    return urlencode({"payload": json.dumps(payload)}).encode()


# Posting


async def test_user_id_gets_a_dm_opened_with_conversations_open(
    slack: tuple[str, FakeSlack],
) -> None:
    """A Slack user id is messaged in the DM channel conversations.open returns."""
    base_url, fake = slack
    receipt = await notifier(base_url).send(f"{LEAD_ID}:rep", lead_message("U012ANA"))
    dm = fake.dm_channel("U012ANA")
    assert dm is not None and dm.startswith("D")
    assert fake.count("conversations.open") == 1
    [posted] = fake.messages(dm)
    assert posted["blocks"][-1]["elements"][0]["action_id"] == "accept"
    assert receipt["channel"] == dm
    assert receipt["ts"] == receipt["id"] == posted["ts"]
    assert receipt["created"] is True
    assert receipt["provider"] == "slack"


async def test_named_channel_is_posted_to_by_name(slack: tuple[str, FakeSlack]) -> None:
    """A #channel is posted to directly and the receipt holds its channel id."""
    base_url, fake = slack
    receipt = await notifier(base_url).send("q1", lead_message("#support", recipient="support"))
    assert fake.count("conversations.open") == 0
    assert receipt["channel"] == fake.channel_id("#support")
    assert [m["ts"] for m in fake.messages("#support")] == [receipt["ts"]]


async def test_same_key_posts_once(slack: tuple[str, FakeSlack]) -> None:
    """Sending one key twice posts one message and returns the first receipt again."""
    base_url, fake = slack
    slack_notifier = notifier(base_url)
    first = await slack_notifier.send("k1", lead_message("#sales-emea"))
    again = await slack_notifier.send("k1", lead_message("#sales-emea"))
    assert fake.count("chat.postMessage") == 1
    assert len(fake.messages("#sales-emea")) == 1
    assert again["ts"] == first["ts"]
    assert again["created"] is False


async def test_concurrent_sends_of_one_key_post_once(slack: tuple[str, FakeSlack]) -> None:
    """Concurrent sends of one key post one message and share its receipt."""
    base_url, fake = slack
    slack_notifier = notifier(base_url)
    receipts = await asyncio.gather(
        *(slack_notifier.send("k1", lead_message("#sales-emea")) for _ in range(3))
    )
    assert fake.count("chat.postMessage") == 1
    assert {r["ts"] for r in receipts} == {receipts[0]["ts"]}


async def test_pseudo_channel_goes_to_the_fallback_channel(slack: tuple[str, FakeSlack]) -> None:
    """A rep without Slack (dm:<rep_id>) is messaged in the fallback channel."""
    base_url, fake = slack
    slack_notifier = notifier(base_url, fallback_channel="#sales-na")
    receipt = await slack_notifier.send("k1", lead_message("dm:ben", recipient="ben"))
    assert receipt["channel"] == fake.channel_id("#sales-na")
    assert receipt["recipient"] == "ben"
    assert len(fake.messages("#sales-na")) == 1


async def test_pseudo_channel_without_fallback_is_a_clear_error(
    slack: tuple[str, FakeSlack],
) -> None:
    """A queue without a Slack channel and no fallback fails naming the destination."""
    base_url, fake = slack
    with pytest.raises(SlackError, match=r"no_destination.*'queue:nurture'") as caught:
        await notifier(base_url).send("k1", lead_message("queue:nurture", recipient="nurture"))
    assert caught.value.code == "no_destination"
    assert fake.count() == 0


# Errors and retries


async def test_rate_limited_post_waits_retry_after_then_succeeds(
    slack: tuple[str, FakeSlack],
) -> None:
    """A 429 is retried no sooner than its Retry-After and the message is posted once."""
    base_url, fake = slack
    fake.rate_limit_next(times=1, retry_after=1, method="chat.postMessage")
    receipt = await notifier(base_url).send("k1", lead_message("#sales-emea"))
    [limited_at] = fake.rate_limited_at("chat.postMessage")
    [posted_at] = fake.post_times("#sales-emea")
    assert posted_at - limited_at >= 1.0
    assert [m["ts"] for m in fake.messages("#sales-emea")] == [receipt["ts"]]


async def test_rate_limit_beyond_the_retries_is_a_clear_error(
    slack: tuple[str, FakeSlack],
) -> None:
    """A 429 whose Retry-After exceeds the allowed wait fails at once with `ratelimited`."""
    base_url, fake = slack
    fake.rate_limit_next(times=1, retry_after=120, method="chat.postMessage")
    with pytest.raises(SlackError, match="ratelimited") as caught:
        await notifier(base_url, max_retry_after_s=30).send("k1", lead_message("#sales-emea"))
    assert caught.value.code == "ratelimited"
    assert fake.count("chat.postMessage") == 1


async def test_server_error_is_retried(slack: tuple[str, FakeSlack]) -> None:
    """A 500 is retried and the message is then posted once."""
    base_url, fake = slack
    fake.fail_next(status=500, times=1, method="chat.postMessage")
    receipt = await notifier(base_url).send("k1", lead_message("#sales-emea"))
    assert fake.count("chat.postMessage") == 2
    assert [m["ts"] for m in fake.messages("#sales-emea")] == [receipt["ts"]]


async def test_server_errors_past_the_attempts_fail(slack: tuple[str, FakeSlack]) -> None:
    """Persistent 503s stop after max_attempts with the status in the error."""
    base_url, fake = slack
    fake.fail_next(status=503, times=10, method="chat.postMessage")
    with pytest.raises(SlackError, match="http_503"):
        await notifier(base_url, max_attempts=3).send("k1", lead_message("#sales-emea"))
    assert fake.count("chat.postMessage") == 3


async def test_timeout_is_retried(slack: tuple[str, FakeSlack]) -> None:
    """A call that times out is tried again and the message is posted."""
    base_url, fake = slack
    fake.delay_next(2.0, method="conversations.open")
    receipt = await notifier(base_url, timeout_s=1).send("k1", lead_message("U012ANA"))
    assert fake.count("conversations.open") == 2
    assert receipt["channel"] == fake.dm_channel("U012ANA")


async def test_invalid_token_is_a_clear_error(slack: tuple[str, FakeSlack]) -> None:
    """A wrong token fails at once with invalid_auth, without retries."""
    base_url, fake = slack
    with pytest.raises(SlackError, match="invalid_auth") as caught:
        await notifier(base_url, token="xoxb-wrong").send("k1", lead_message("#sales-emea"))
    assert caught.value.code == "invalid_auth"
    assert fake.count("chat.postMessage") == 1


async def test_unknown_channel_is_a_clear_error(slack: tuple[str, FakeSlack]) -> None:
    """A channel Slack does not know fails at once with channel_not_found."""
    base_url, fake = slack
    with pytest.raises(SlackError, match=r"chat\.postMessage failed: channel_not_found"):
        await notifier(base_url).send("k1", lead_message("#no-such-channel"))
    assert fake.count("chat.postMessage") == 1


async def test_ping_checks_the_token_with_auth_test(slack: tuple[str, FakeSlack]) -> None:
    """ping() passes with the right token and fails with invalid_auth on a wrong one."""
    base_url, fake = slack
    await notifier(base_url).ping()
    with pytest.raises(SlackError, match=r"auth\.test failed: invalid_auth"):
        await notifier(base_url, token="xoxb-wrong").ping()
    assert fake.count("auth.test") == 2


# Updates and pacing


async def test_update_edits_the_posted_message(slack: tuple[str, FakeSlack]) -> None:
    """chat.update replaces the text and blocks of the message a receipt points at."""
    base_url, fake = slack
    slack_notifier = notifier(base_url)
    original = lead_message("U012ANA")
    receipt = await slack_notifier.send("k1", original)
    updated = await slack_notifier.update(receipt, closed(original, "Accepted by <@U012ANA>"))
    [message] = fake.messages(receipt["channel"])
    assert message["ts"] == receipt["ts"] == updated["ts"]
    assert message["text"] == f"{original['text']} — Accepted by <@U012ANA>"
    assert [block["type"] for block in message["blocks"]] == [
        "header",
        "section",
        "section",
        "context",
    ]
    assert message["blocks"][-1]["elements"][0]["text"] == "Accepted by <@U012ANA>"
    assert "edited" in message
    assert fake.count("chat.postMessage") == 1


async def test_posts_to_one_channel_are_paced() -> None:
    """Five messages to one channel arrive at least min_interval_s apart, none refused."""
    with running_slack(token=TOKEN, min_post_interval_s=0.2) as (base_url, fake):
        slack_notifier = notifier(base_url, min_interval_s=0.2)
        await asyncio.gather(
            *(slack_notifier.send(f"k{i}", lead_message("#sales-emea")) for i in range(5))
        )
        times = fake.post_times("#sales-emea")
        assert len(times) == 5
        assert min(b - a for a, b in itertools.pairwise(times)) >= 0.2
        assert fake.rate_limited_at() == []


# Interactions

BODY = block_actions_body()
FRESH = str(int(NOW) - 30)
STALE = str(int(NOW) - 301)


def test_valid_v0_signature_is_accepted() -> None:
    """A body signed with the signing secret within the window verifies."""
    assert verify_slack_request(SIGNING_SECRET, BODY, FRESH, sign(BODY, FRESH), NOW) is None


@pytest.mark.parametrize(
    ("timestamp", "signature", "reason"),
    [
        pytest.param(None, sign(BODY, FRESH), "missing X-Slack-Request-Timestamp", id="no-ts"),
        pytest.param(FRESH, None, "missing X-Slack-Signature", id="no-signature"),
        pytest.param(STALE, sign(BODY, STALE), "outside the 300 s window", id="stale"),
        pytest.param(FRESH, sign(BODY, FRESH, "other"), "signature mismatch", id="other-secret"),
        pytest.param(FRESH, sign(BODY + b"&x=1", FRESH), "signature mismatch", id="other-body"),
        pytest.param("tomorrow", "v0=00", "not Unix seconds", id="bad-ts"),
    ],
)
def test_bad_signatures_are_refused_with_the_reason(
    timestamp: str | None, signature: str | None, reason: str
) -> None:
    """Missing headers, stale timestamps and mismatched signatures are refused, each saying why."""
    result = verify_slack_request(SIGNING_SECRET, BODY, timestamp, signature, NOW)
    assert result is not None and reason in result


def test_block_actions_payload_is_parsed() -> None:
    """A button click yields the action, the lead id, the clicker and the message to update."""
    interaction = parse_interaction(block_actions_body("reassign"))
    assert interaction.action_id == "reassign"
    assert interaction.lead_id == LEAD_ID
    assert interaction.block_id == f"lead:{LEAD_ID}"
    assert interaction.user_id == "U012ANA"
    assert interaction.team_id == "T0LEADRTR"
    assert interaction.channel_id == "D0ANADM01"
    assert interaction.message_ts == "1767326126.000042"
    assert interaction.response_url.startswith("https://hooks.slack.com/actions/")
    assert interaction.is_retry is False


def test_retried_delivery_is_marked() -> None:
    """X-Slack-Retry-Num marks the interaction as a retry."""
    interaction = parse_interaction(block_actions_body(), retry_num="1")
    assert interaction.is_retry is True
    assert interaction.retry_num == 1


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "no payload"),
        (b"payload=%7Bnot-json", "not JSON"),
        (urlencode({"payload": json.dumps({"type": "view_submission"})}).encode(), "view_sub"),
        (urlencode({"payload": json.dumps({"type": "block_actions"})}).encode(), "no actions"),
    ],
)
def test_malformed_interactions_are_refused(body: bytes, reason: str) -> None:
    """A body that is not a usable block_actions interaction raises, saying what is wrong."""
    with pytest.raises(InvalidInteraction, match=reason):
        parse_interaction(body)
