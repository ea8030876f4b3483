"""Why the service refuses a request, by kind; the API answers each kind with one HTTP status.

`detail` is the sentence a caller reads; `extra` names what the refusal concerns (`lead_id`).
"""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    """The service cannot do what it was asked; `detail` says why."""

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class Malformed(ServiceError):
    """The request is not the kind of message this entry point takes."""


class Unauthenticated(ServiceError):
    """The request's signature does not prove who sent it."""


class NotFound(ServiceError):
    """The lead, or the integration, the request names does not exist here."""


class Conflict(ServiceError):
    """The lead is not in a state that allows this."""


class Rejected(ServiceError):
    """The request is well-formed but cannot be accepted as it is (a key reused, for one)."""


class Unavailable(ServiceError):
    """A backend this needs is down; the caller should retry later."""
