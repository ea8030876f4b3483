"""Rep notifications in Slack: the production backend of the `Notifier` port (DESIGN §4).

Speaks the Slack Web API through the official `slack-sdk` (`AsyncWebClient`), against
`https://slack.com/api/` or `SLACK_API_URL` for a local endpoint, with a bot token sent as
`Authorization: Bearer`:

- `auth.test` — `ping()`: the token is valid and the workspace answers.
- `conversations.open` `users=<U…>` → `{"channel": {"id": "D…"}}` — the DM channel of a rep
  addressed by Slack user id (cached per user).
- `chat.postMessage` `{channel, text, blocks}` → `{"channel", "ts", "message"}` — the Block Kit
  message, posted once per key.
- `chat.update` `{channel, ts, text, blocks}` — edits that same message later (after Accept,
  Reassign or Not a fit), so a lead never has two messages.

Destinations (`message["channel"]`): a user id (`U…`/`W…`) is a DM; `#name` or a channel id is
posted to as given; the pseudo channels `dm:<rep_id>` and `queue:<id>` (a rep or queue with no
Slack destination) go to `fallback_channel`, or fail with `SlackError` code `no_destination`.

Exactly once per key: a receipt is looked up in `receipts` before posting and stored right after
(`ReceiptStore`: first stored wins), and sends of one key in this process are serialized. A crash
between the post and storing its receipt, or a timeout after Slack accepted the post, can still
repeat one message: Slack has no idempotency key for `chat.postMessage`.

Pacing and retries: writes to one channel (posts and updates, from any coroutine) are spaced at
least `min_interval_s` apart, Slack's "one message per second per channel". HTTP 429 is retried
by the SDK's `AsyncRateLimitErrorRetryHandler`, which waits what `Retry-After` asks (a wait
longer than `max_retry_after_s` is not retried). 5xx, timeouts and connection errors are retried
with tenacity (bounded attempts, exponential backoff with jitter). Any other Slack error
(`invalid_auth`, `channel_not_found`, …) fails at once as `SlackError` carrying Slack's code.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

import aiohttp
import structlog
from pydantic import SecretStr
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.async_handler import HttpRequest, HttpResponse, RetryState
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse
from tenacity import (
    AsyncRetrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from domain.rep_message import MeetingPreview, RepMessage
from tools.retry import give_up, log_retry

if TYPE_CHECKING:
    from tools.ports import Notifier, Receipts

log = structlog.get_logger("lead_router.slack")

PSEUDO_PREFIXES = ("dm:", "queue:")
_SAFE_LINK = re.compile(r"https?://[^\s<>|&]+")
_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")


class SlackError(RuntimeError):
    """A Slack Web API call failed; `code` is Slack's error string (e.g. `channel_not_found`)."""

    def __init__(self, method: str, code: str, detail: str = "") -> None:
        self.method = method
        self.code = code
        super().__init__(f"Slack {method} failed: {code}" + (f" ({detail})" if detail else ""))


class ReceiptStore(Protocol):
    """Receipts of posted messages by key; `put` keeps the first receipt and returns it."""

    async def get(self, key: str) -> dict[str, Any] | None: ...

    async def put(self, key: str, receipt: dict[str, Any]) -> dict[str, Any]: ...


class MemoryReceipts:
    """Receipts in a dict: one process, gone on restart (tests, one-off scripts)."""

    def __init__(self) -> None:
        self._receipts: dict[str, dict[str, Any]] = {}

    async def get(self, key: str) -> dict[str, Any] | None:
        receipt = self._receipts.get(key)
        return dict(receipt) if receipt is not None else None

    async def put(self, key: str, receipt: dict[str, Any]) -> dict[str, Any]:
        return dict(self._receipts.setdefault(key, dict(receipt)))


class StoreReceipts:
    """Receipts in the shared store's `Receipts` role (SQLite or Redis), under `(key, effect)`."""

    def __init__(self, store: Receipts, effect: str = "slack.message") -> None:
        self._store = store
        self._effect = effect

    async def get(self, key: str) -> dict[str, Any] | None:
        return await self._store.get_receipt(key, self._effect)

    async def put(self, key: str, receipt: dict[str, Any]) -> dict[str, Any]:
        return await self._store.put_receipt(key, self._effect, receipt)


def _header(headers: Mapping[str, Any] | None, name: str) -> str | None:
    for key, value in (headers or {}).items():
        if key.lower() == name.lower():
            first = value[0] if isinstance(value, list) else value
            return str(first)
    return None


class _RateLimitRetry(AsyncRateLimitErrorRetryHandler):
    """The SDK's 429 handler (sleeps `Retry-After`), refusing waits over `max_wait_s`."""

    def __init__(self, max_retry_count: int, max_wait_s: float) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.max_wait_s = max_wait_s

    async def _can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if response is None or response.status_code != 429:
            return False
        raw = _header(response.headers, "Retry-After")
        if raw is None:
            return True  # the SDK then waits about a second
        try:
            return int(raw) <= self.max_wait_s
        except ValueError:
            return False  # an HTTP date, which the SDK cannot wait for

    async def prepare_for_next_attempt_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        log.warning(
            "slack rate limited; waiting as asked",
            url=request.url,
            retry_after=_header(response.headers if response else None, "Retry-After"),
            retry=state.current_attempt + 1,
        )
        await super().prepare_for_next_attempt_async(
            state=state, request=request, response=response, error=error
        )


def _describe(exc: BaseException | None) -> str:
    return f"{type(exc).__name__}: {exc}"[:300]


def _is_transient(exc: BaseException) -> bool:
    if isinstance(exc, SlackApiError):
        status = getattr(exc.response, "status_code", None)
        return isinstance(status, int) and (status >= 500 or status == 408)
    return isinstance(exc, TimeoutError | aiohttp.ClientConnectionError)


def _slack_error(method: str, exc: BaseException, attempts: int) -> SlackError:
    if isinstance(exc, SlackApiError):
        response = exc.response
        status = getattr(response, "status_code", None)
        data = getattr(response, "data", None)
        code = data.get("error") if isinstance(data, dict) else None
        if status == 429:
            retry_after = _header(getattr(response, "headers", None), "Retry-After")
            return SlackError(
                method,
                code or "ratelimited",
                f"HTTP 429 with Retry-After {retry_after} s after the allowed rate-limit retries",
            )
        if isinstance(status, int) and status != 200:
            return SlackError(method, code or f"http_{status}", f"HTTP {status}, {attempts} tries")
        return SlackError(method, code or "unexpected_response")
    if isinstance(exc, TimeoutError):
        return SlackError(method, "timeout", f"no answer in time, {attempts} tries")
    return SlackError(method, "connection_error", f"{type(exc).__name__}: {exc}, {attempts} tries")


@dataclass
class _Pace:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    last: float = float("-inf")


class SlackNotifier:
    """`Notifier` that posts Block Kit messages to Slack once per key, paced per channel.

    `token` is the bot token (`xoxb-…`); `base_url` the Web API root (default Slack's, a local
    endpoint ends in `/api/`). `receipts` remembers what was posted per key. `min_interval_s`
    spaces writes to one channel; `fallback_channel` receives messages for reps and queues with
    no Slack destination. `timeout_s` bounds each HTTP attempt; `max_attempts`, `backoff_s` and
    `max_backoff_s` shape retries of 5xx and timeouts; `rate_limit_retries` and
    `max_retry_after_s` bound the waits on 429.
    """

    def __init__(
        self,
        token: SecretStr,
        *,
        base_url: str | None = None,
        receipts: ReceiptStore,
        min_interval_s: float = 1.0,
        fallback_channel: str | None = None,
        timeout_s: int = 10,
        max_attempts: int = 4,
        backoff_s: float = 0.5,
        max_backoff_s: float = 8.0,
        rate_limit_retries: int = 3,
        max_retry_after_s: float = 60.0,
    ) -> None:
        secret = token.get_secret_value().strip()
        if not secret:
            raise ValueError("SLACK_BOT_TOKEN is empty: set it to the app's bot token (xoxb-…)")
        if min_interval_s < 0:
            raise ValueError(f"min_interval_s must be >= 0, got {min_interval_s}")
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {max_attempts}")
        if fallback_channel is not None and fallback_channel.startswith(PSEUDO_PREFIXES):
            raise ValueError(f"fallback_channel must be a Slack channel, got {fallback_channel!r}")
        self.base_url = base_url or AsyncWebClient.BASE_URL
        self.receipts = receipts
        self.min_interval_s = min_interval_s
        self.fallback_channel = fallback_channel or None
        self.max_attempts = max_attempts
        self._client = AsyncWebClient(
            token=secret,
            base_url=self.base_url,
            timeout=timeout_s,
            retry_handlers=[_RateLimitRetry(rate_limit_retries, max_retry_after_s)],
        )
        self._backoff = wait_exponential_jitter(
            multiplier=backoff_s, max=max_backoff_s, jitter=backoff_s
        )
        self._paces: dict[str, _Pace] = {}
        self._channel_ids: dict[str, str] = {}  # "#name" → "C…", learned from posts
        self._dm_channels: dict[str, str] = {}  # "U…" → "D…"
        self._key_locks: weakref.WeakValueDictionary[str, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )

    def __repr__(self) -> str:
        return f"SlackNotifier({self.base_url!r}, fallback_channel={self.fallback_channel!r})"

    # Notifier

    async def ping(self) -> None:
        """Check the token and the workspace with `auth.test`."""
        await self._call("auth.test", self._client.auth_test)

    async def send(self, key: str, message: RepMessage) -> dict[str, Any]:
        """Post `message` once under `key`; a repeat returns the first receipt without posting.

        `message["channel"]` is a Slack user id, `#name`, a channel id, or `dm:`/`queue:` for a
        recipient without Slack; the post carries the message's line (the lead's part escaped)
        as its text and `block_kit(message)` as its blocks. Returns `{"id", "ts", "channel", "key",
        "recipient", "created", "at", "provider"}` where `channel` is the channel id and `id`
        the message ts.
        """
        if not key:
            raise ValueError("a Slack message needs a key")
        target = self._destination(key, message)
        text = _notification(message)
        blocks = block_kit(message)
        if not text:
            raise ValueError(f"Slack message {key!r} has no text")
        lock = self._key_locks.get(key)
        if lock is None:
            lock = self._key_locks[key] = asyncio.Lock()
        async with lock:
            stored = await self.receipts.get(key)
            if stored is not None:
                return {**stored, "created": False}
            channel = await self._open(target)
            response = await self._call(
                "chat.postMessage",
                lambda: self._client.chat_postMessage(channel=channel, text=text, blocks=blocks),
                pace=self._channel_ids.get(channel, channel),
            )
            channel_id = str(response["channel"])
            if channel_id != channel and channel not in self._channel_ids:
                # Later writes (updates by id, posts by name) share this channel's pace.
                self._channel_ids[channel] = channel_id
                if channel in self._paces:
                    self._paces.setdefault(channel_id, self._paces[channel])
            ts = str(response["ts"])
            receipt = {
                "id": ts,
                "ts": ts,
                "channel": channel_id,
                "key": key,
                "recipient": str(message.get("recipient") or ""),
                "created": True,
                "at": datetime.now(UTC).isoformat(timespec="microseconds"),
                "provider": "slack",
            }
            log.info("slack message posted", key=key, channel=channel_id, ts=ts)
            return await self.receipts.put(key, receipt)

    async def update(self, receipt: Mapping[str, Any], message: RepMessage) -> dict[str, Any]:
        """Edit the message a `send` receipt points at with `chat.update`."""
        channel, ts = receipt.get("channel"), receipt.get("ts")
        if not channel or not ts:
            raise ValueError(f"not a Slack message receipt (no channel or ts): {dict(receipt)}")
        text, blocks = _notification(message), block_kit(message)
        response = await self._call(
            "chat.update",
            lambda: self._client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks),
            pace=channel,
        )
        return {
            "id": str(response["ts"]),
            "ts": str(response["ts"]),
            "channel": str(response["channel"]),
            "key": receipt.get("key"),
            "updated": True,
            "at": datetime.now(UTC).isoformat(timespec="microseconds"),
            "provider": "slack",
        }

    # Destinations

    def _destination(self, key: str, message: RepMessage) -> str:
        channel = str(message.get("channel") or "").strip()
        if not channel:
            raise ValueError(f"Slack message {key!r} has no channel")
        if not channel.startswith(PSEUDO_PREFIXES):
            return channel
        if self.fallback_channel:
            return self.fallback_channel
        raise SlackError(
            "chat.postMessage",
            "no_destination",
            f"{channel!r} ({message.get('recipient') or 'no recipient'}) has no Slack user or "
            "channel and no fallback channel is configured",
        )

    async def _open(self, target: str) -> str:
        """The channel to post to: a user's DM channel (opened once), else `target` itself."""
        if not _USER_ID.match(target):
            return target
        if target not in self._dm_channels:
            response = await self._call(
                "conversations.open", lambda: self._client.conversations_open(users=target)
            )
            self._dm_channels[target] = str(response["channel"]["id"])
        return self._dm_channels[target]

    # Pacing and retries

    @contextlib.asynccontextmanager
    async def _paced(self, channel: str) -> AsyncIterator[None]:
        """Hold the channel's turn: start no sooner than `min_interval_s` after its last write."""
        pace = self._paces.setdefault(channel, _Pace())
        async with pace.lock:
            wait = pace.last + self.min_interval_s - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            try:
                yield
            finally:
                pace.last = time.monotonic()

    async def _call(
        self,
        method: str,
        call: Callable[[], Awaitable[AsyncSlackResponse]],
        *,
        pace: str | None = None,
    ) -> AsyncSlackResponse:
        """Run one Web API call, paced on `pace` when given, retrying transient failures."""
        retrying = AsyncRetrying(
            retry=retry_if_exception(_is_transient),
            stop=give_up(stop_after_attempt(self.max_attempts), backend="slack"),
            wait=self._backoff,
            before_sleep=log_retry(
                log, "slack call failed; retrying", _describe, backend="slack", method=method
            ),
            reraise=True,
        )
        attempts = 0
        try:
            async for attempt in retrying:
                with attempt:
                    attempts = attempt.retry_state.attempt_number
                    if pace is None:
                        return await call()
                    async with self._paced(pace):
                        return await call()
        except (SlackApiError, TimeoutError, aiohttp.ClientError) as exc:
            raise _slack_error(method, exc, attempts) from exc
        raise AssertionError("tenacity ended without a result or an error")


if TYPE_CHECKING:

    def _is_notifier(notifier: SlackNotifier) -> Notifier:
        """mypy checks that SlackNotifier satisfies the `Notifier` port."""
        return notifier

    def _is_receipt_store(memory: MemoryReceipts, store: StoreReceipts) -> list[ReceiptStore]:
        """mypy checks that both receipt stores satisfy `ReceiptStore`."""
        return [memory, store]


# Block Kit: how a `RepMessage` looks in Slack (the outbox stores the same blocks).

_BUTTONS: dict[str, tuple[str, str | None]] = {
    "accept": ("Accept", "primary"),
    "reassign": ("Reassign", None),
    "not_a_fit": ("Not a fit", "danger"),
}


def _mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def escape(text: str) -> str:
    """Text that Slack shows as written: `&`, `<` and `>` escaped, so no `<!channel>`, user
    mention or `<url|label>` link can come from a lead's words or a company's name."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _notification(message: RepMessage) -> str:
    """The post's text (what a notification shows), which Slack reads as mrkdwn: the lead's
    part escaped, the status as written (it may mention the rep who acted)."""
    headline = escape(message["text"])
    status = message.get("status")
    return f"{headline} — {status}" if status and status != message["text"] else headline


def _cut(text: str, longest: int) -> str:
    """`text` within `longest` characters, ending in an ellipsis when it was cut."""
    return text if len(text) <= longest else text[: longest - 1].rstrip() + "…"


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


def _meeting_line(meeting: MeetingPreview) -> str:
    """The meeting as it stands: booked, moved to a new time, or cancelled (struck through);
    its time in the host's timezone, its link as a link."""
    status = meeting.get("status")
    when = escape(str(meeting.get("when") or meeting["start"] or "time not known"))
    link = meeting["link"]
    # A link the service made (Cal.com's, or the built-in calendar's page) is absolute and
    # carries no `|` or `>`, so it can be Slack's <url|label> form.
    opens = f" — <{link}|open the booking>" if link and _SAFE_LINK.fullmatch(link) else ""
    if status == "cancelled":
        return f"*Meeting cancelled:* ~{when}~"
    if status == "rescheduled":
        return f"*Meeting moved to:* {when}{opens}"
    return f"*Meeting booked:* {when}{opens}"


def block_kit(message: RepMessage) -> list[dict[str, Any]]:
    """The Block Kit blocks of a rep message: headline, facts, reasons, the lead's words, the
    draft, the meeting, then the decision buttons, or what was decided."""
    if message["kind"] == "notice":
        return [_context(escape(message["text"]))]
    facts = (f"*{fact['label']}:* {escape(str(fact['value']))}" for fact in message["facts"])
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _cut(message["text"], 150)}},
        _mrkdwn("\n".join(facts)),
        _mrkdwn("*Why this score*\n" + "\n".join(map(escape, message["reasons"]))),
    ]
    if message.get("model"):
        lines = map(escape, message["model"])
        blocks.append(_mrkdwn("*The model's reading*\n" + "\n".join(lines)))
    if message["message"]:
        # The lead's own words as plain text: nothing in them is read as formatting.
        blocks.append(_context("*Message*"))
        words = message["message"][:500]
        blocks.append({"type": "section", "text": {"type": "plain_text", "text": words}})
    draft = message["draft"]
    if draft:
        subject, body = escape(draft["subject"]), escape(draft["body"][:1500])
        blocks.append(_mrkdwn(f"*Draft: {subject}*\n{body}"))
    meeting = message["meeting"]
    if meeting:
        blocks.append(_mrkdwn(_meeting_line(meeting)))
    lead_id = message["lead_id"]
    if message["decisions"]:
        buttons = []
        for decision in message["decisions"]:
            label, style = _BUTTONS[decision]
            button: dict[str, Any] = {"type": "button", "action_id": decision}
            if style:
                button["style"] = style
            button.update(value=lead_id, text={"type": "plain_text", "text": label})
            buttons.append(button)
        blocks.append({"type": "actions", "block_id": f"lead:{lead_id}", "elements": buttons})
    if message.get("status"):
        blocks.append(_context(message["status"]))
    return blocks
