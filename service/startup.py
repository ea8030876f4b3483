"""Why a process could not start, in one line: what failed, where, and how to fix it.

`serve`, `worker` and `demo` print this line and exit non-zero; the traceback goes to the
debug log (LOG_LEVEL=DEBUG).
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from pydantic import ValidationError

from domain.config import ConfigError
from service.faults import backend_of
from service.settings import Settings, UnsupportedSetting


def settings_problem(exc: ValidationError) -> str:
    """The invalid settings, each as `NAME=value: what is wrong`, from .env or the environment."""
    problems = []
    for error in exc.errors():
        name = ".".join(str(part) for part in error["loc"]) or "(settings)"
        given = error.get("input")
        shown = f"={given}" if isinstance(given, str | int | float) and "SECRET" not in name else ""
        problems.append(f"{name}{shown}: {error['msg'].lower()}")
    return "invalid setting (in .env or the environment): " + "; ".join(problems)


def redacted(url: str | None) -> str:
    """A backend URL without its password."""
    if not url:
        return "(unset)"
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _cause(exc: BaseException) -> BaseException:
    """The error that says most: the first of a group, the cause of a wrapper."""
    seen = 0
    while seen < 10:
        seen += 1
        if isinstance(exc, BaseExceptionGroup) and exc.exceptions:
            exc = exc.exceptions[0]
        elif backend_of(exc) is None and exc.__cause__ is not None:
            exc = exc.__cause__
        else:
            break
    return exc


def start_problem(exc: BaseException, settings: Settings) -> str:
    """What stopped the service from starting, in one line with the fix."""
    exc = _cause(exc)
    if isinstance(exc, ConfigError):
        return f"{exc} (fix the file; `python cli.py check` reads it as the service does)"
    if isinstance(exc, ValidationError):
        return settings_problem(exc)
    if isinstance(exc, UnsupportedSetting):
        return str(exc)
    backend = backend_of(exc)
    if backend == "redis":
        url = settings.redis_url or settings.queue_url
        return (
            f"cannot reach Redis at {redacted(url)} ({_first_line(exc)}): start it, or unset "
            "REDIS_URL and QUEUE_URL to use the embedded defaults"
        )
    if backend == "postgresql":
        return (
            f"cannot reach PostgreSQL at {redacted(settings.database_url)} "
            f"({_first_line(exc)}): start it, or unset DATABASE_URL to keep checkpoints in SQLite"
        )
    if isinstance(exc, OSError):
        return f"{_first_line(exc)} (check DATA_DIR and the paths in .env)"
    return f"{type(exc).__name__}: {_first_line(exc)} (LOG_LEVEL=DEBUG shows the traceback)"
