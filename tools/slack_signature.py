"""Requests from Slack's interactivity endpoint: verify their signature, read their payload.

Slack signs each request with the app's signing secret (the v0 scheme): header
`X-Slack-Signature: v0=<hex HMAC-SHA256 of "v0:{X-Slack-Request-Timestamp}:{raw body}">`, and
the timestamp must be within five minutes of now (replays are refused). Verification uses the
SDK's `slack_sdk.signature.SignatureVerifier`; this module adds the reason a request is refused.

Button clicks arrive as `application/x-www-form-urlencoded` with one field, `payload`, a JSON
`block_actions` interaction. `parse_interaction` turns it into an `Interaction`: which button
(`action_id`), its `value` (the lead id), who clicked, and the message to update (channel id and
ts) or answer (`response_url`). A delivery Slack is retrying carries `X-Slack-Retry-Num`.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from slack_sdk.signature import Clock, SignatureVerifier

MAX_AGE_S = 300


class InvalidInteraction(ValueError):
    """The body is not a block_actions interaction this app can act on."""


@dataclass(frozen=True)
class Interaction:
    """One button click from a Slack message."""

    action_id: str  # accept | reassign | not_a_fit
    value: str  # the lead id the button carries
    block_id: str
    user_id: str
    user_name: str
    team_id: str
    channel_id: str
    message_ts: str
    response_url: str
    trigger_id: str
    action_ts: str
    retry_num: int | None = None
    is_retry: bool = False
    payload: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def lead_id(self) -> str:
        """The lead the clicked button belongs to."""
        return self.value


class _At(Clock):
    def __init__(self, now: float) -> None:
        self._now = now

    def now(self) -> float:
        return self._now


def verify_slack_request(
    signing_secret: str,
    body: bytes,
    timestamp: str | None,
    signature: str | None,
    now: float | None = None,
) -> str | None:
    """None when `body` carries a valid, fresh v0 signature; else why it is refused.

    `timestamp` and `signature` are the `X-Slack-Request-Timestamp` and `X-Slack-Signature`
    headers; `body` is the raw request body, unparsed. `now` (Unix seconds) defaults to the
    clock. An empty `signing_secret` is a configuration error and raises `ValueError`.
    """
    if not signing_secret or not signing_secret.strip():
        raise ValueError("SLACK_SIGNING_SECRET is empty: set it to the app's signing secret")
    if not timestamp:
        return "missing X-Slack-Request-Timestamp header"
    if not signature:
        return "missing X-Slack-Signature header"
    if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
        return f"X-Slack-Request-Timestamp is not Unix seconds: {timestamp[:40]!r}"
    sent = int(timestamp)
    current = time.time() if now is None else now
    skew = current - sent
    if abs(skew) > MAX_AGE_S:
        return f"request timestamp is {skew:+.0f} s from now, outside the {MAX_AGE_S} s window"
    if not signature.startswith("v0="):
        return "X-Slack-Signature is not a v0 signature"
    verifier = SignatureVerifier(signing_secret, clock=_At(current))
    try:
        valid = verifier.is_valid(body=body, timestamp=timestamp, signature=signature)
    except UnicodeDecodeError:
        return "request body is not UTF-8"
    return None if valid else "signature mismatch"


def _text(obj: Any, *path: str) -> str:
    for name in path:
        if not isinstance(obj, dict):
            return ""
        obj = obj.get(name)
    return obj if isinstance(obj, str) else ""


def parse_interaction(body: bytes, retry_num: str | None = None) -> Interaction:
    """Read a form-encoded `payload=` block_actions interaction; `retry_num` is X-Slack-Retry-Num.

    Raises `InvalidInteraction` naming what is missing or malformed.
    """
    try:
        form = parse_qs(body.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError as exc:
        raise InvalidInteraction("interaction body is not UTF-8") from exc
    raw = form.get("payload")
    if not raw:
        raise InvalidInteraction("interaction body has no payload field")
    try:
        payload = json.loads(raw[0])
    except (json.JSONDecodeError, RecursionError) as exc:
        raise InvalidInteraction(f"interaction payload is not JSON: {exc}") from exc
    if not isinstance(payload, dict):
        raise InvalidInteraction("interaction payload is not a JSON object")
    kind = payload.get("type")
    if kind != "block_actions":
        raise InvalidInteraction(f"unsupported interaction type {kind!r}, expected block_actions")
    actions = payload.get("actions")
    if not isinstance(actions, list) or not actions or not isinstance(actions[0], dict):
        raise InvalidInteraction("block_actions payload has no actions")
    action = actions[0]
    interaction = Interaction(
        action_id=_text(action, "action_id"),
        value=_text(action, "value"),
        block_id=_text(action, "block_id"),
        user_id=_text(payload, "user", "id"),
        user_name=_text(payload, "user", "username") or _text(payload, "user", "name"),
        team_id=_text(payload, "team", "id") or _text(payload, "user", "team_id"),
        channel_id=_text(payload, "channel", "id") or _text(payload, "container", "channel_id"),
        message_ts=_text(payload, "container", "message_ts") or _text(payload, "message", "ts"),
        response_url=_text(payload, "response_url"),
        trigger_id=_text(payload, "trigger_id"),
        action_ts=_text(action, "action_ts"),
        retry_num=int(retry_num) if retry_num and retry_num.strip().isdigit() else None,
        is_retry=bool(retry_num and retry_num.strip()),
        payload=payload,
    )
    missing = [
        name
        for name in ("action_id", "value", "user_id", "channel_id", "message_ts")
        if not getattr(interaction, name)
    ]
    if missing:
        raise InvalidInteraction(f"block_actions payload has no {', '.join(missing)}")
    return interaction
