"""Structured logs: JSON lines when not on a terminal, readable lines when on one."""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

import structlog


class _StderrLogger:
    """Writes each line to whatever `sys.stderr` is at that moment (it may be swapped)."""

    def msg(self, message: str) -> None:
        sys.stderr.write(message + "\n")
        sys.stderr.flush()

    log = debug = info = warn = warning = error = critical = exception = fatal = msg


def _fallback(value: Any) -> Any:
    """A value JSON has no type for, as structlog's JSON renderer writes it by default."""
    try:
        return value.__structlog__()
    except AttributeError:
        return repr(value)


# One encoder for every line: `json.dumps(..., default=...)`, the renderer's default, builds
# a new one per call.
_ENCODER = json.JSONEncoder(default=_fallback)


def _encode(event: Any, **_: Any) -> str:
    """A log event as the JSON renderer's default `json.dumps` writes it."""
    return _ENCODER.encode(event)


def configure_logging(level: str = "INFO") -> None:
    """Configure structlog and the standard logging it renders through, once per process."""
    renderer: structlog.types.Processor = (
        structlog.dev.ConsoleRenderer()
        if sys.stderr.isatty()
        else structlog.processors.JSONRenderer(serializer=_encode)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=lambda *_: _StderrLogger(),
        cache_logger_on_first_use=True,
    )
    logging.basicConfig(
        level=level.upper(), stream=sys.stderr, format="%(name)s %(levelname)s %(message)s"
    )
    # LangGraph logs each node retry with its traceback; the runner says what matters once.
    for noisy in ("httpx", "aiosqlite", "taskiq", "langgraph"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # The pool warns at every failed connection attempt; `Outages` says it once.
    logging.getLogger("psycopg.pool").setLevel(logging.ERROR)
