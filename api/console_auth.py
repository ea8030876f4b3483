"""Who may use the console: a session signed with a key derived from `ADMIN_TOKEN`.

Signing in with the admin token sets an HttpOnly, SameSite=Strict cookie holding a signed,
dated session id (itsdangerous); it expires after `SESSION_MAX_AGE_S`, and changing
`ADMIN_TOKEN` ends every session, because the signing key is derived from it. Every form that
changes something carries a CSRF token, an HMAC of the session id, checked on the server.
`access` is the one place that decides whether a request may see the console.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Final

from fastapi import Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

from service.settings import Settings

COOKIE: Final = "lead_router_console"
COOKIE_PATH: Final = "/console"
SESSION_MAX_AGE_S: Final = 8 * 3600
NO_TOKEN: Final = (
    "The console is closed because ADMIN_TOKEN is not set. Set it in the environment or in "
    ".env (for example ADMIN_TOKEN=$(openssl rand -hex 32)), restart the service, and sign "
    "in here with that token."
)


@dataclass(frozen=True)
class Session:
    """A signed-in admin: the session id and the CSRF token its forms carry."""

    sid: str
    csrf: str


@dataclass(frozen=True)
class Access:
    """What a request may do: `session` when signed in; `closed` says why nobody can sign in."""

    session: Session | None
    closed: str | None = None


# Signs sessions when the console is open without a token (ADMIN_OPEN): new at each start.
_OPEN_KEY = secrets.token_bytes(32)


def _key(settings: Settings) -> bytes | None:
    token = settings.admin_token
    if token is None:
        return _OPEN_KEY if settings.admin_open else None
    secret = token.get_secret_value().encode()
    return hmac.new(secret, b"lead-router console session v1", hashlib.sha256).digest()


def _signer(key: bytes) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(key, salt="console-session")


def _session(key: bytes, sid: str) -> Session:
    csrf = hmac.new(key, f"csrf:{sid}".encode(), hashlib.sha256).hexdigest()
    return Session(sid=sid, csrf=csrf)


def access(settings: Settings, request: Request) -> Access:
    """Whether this request may see the console: closed without `ADMIN_TOKEN`; otherwise open
    to a request carrying a valid, unexpired session cookie signed with the token's key."""
    key = _key(settings)
    if key is None:
        return Access(session=None, closed=NO_TOKEN)
    cookie = request.cookies.get(COOKIE)
    if not cookie:
        return Access(session=None)
    try:
        sid = _signer(key).loads(cookie, max_age=SESSION_MAX_AGE_S)
    except BadSignature:
        return Access(session=None)
    if not isinstance(sid, str) or not sid:
        return Access(session=None)
    return Access(session=_session(key, sid))


def token_matches(settings: Settings, given: str) -> bool:
    """Whether `given` is the admin token (compared in constant time)."""
    token = settings.admin_token
    if token is None:
        return False
    return hmac.compare_digest(given.strip().encode(), token.get_secret_value().encode())


def _secure(request: Request) -> bool:
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip()
    return (forwarded or request.url.scheme) == "https"


def sign_in(settings: Settings, request: Request, response: Response) -> None:
    """Start a new session: set its signed cookie on `response`."""
    key = _key(settings)
    if key is None:
        raise ValueError("no ADMIN_TOKEN: the console cannot be signed in to")
    value = _signer(key).dumps(secrets.token_urlsafe(24))
    response.set_cookie(
        COOKIE,
        value,
        max_age=SESSION_MAX_AGE_S,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
    )


def sign_out(response: Response) -> None:
    """End the session: clear its cookie."""
    response.delete_cookie(COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict")


def csrf_ok(session: Session, given: str | None) -> bool:
    """Whether a form's CSRF token is this session's."""
    return bool(given) and hmac.compare_digest(session.csrf, given or "")
